package sqlstore

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/tandemml/tandem"
)

// config is a parsed DSN.
type config struct {
	dialect   dialect
	driverDSN string          // SQLite: what the driver is given
	pgx       *pgx.ConnConfig // PostgreSQL: the parsed DSN
	name      string          // the DSN with any password redacted
	path      string          // SQLite: the absolute path of the file
}

// schemeRE matches a URL scheme followed by "://".
var schemeRE = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*)://`)

// sqliteParams are the connection settings of every SQLite connection:
// WAL so that readers never wait for the writer, a busy timeout for writers
// of other processes, foreign keys on, and BEGIN IMMEDIATE for read-write
// transactions so that a writer takes the lock before it reads.
const sqliteParams = "_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=1&_synchronous=NORMAL&_txlock=immediate"

func parseDSN(dsn string) (config, error) {
	if dsn == "" {
		return config{}, tandem.Errorf(tandem.EInvalid, "open metadata database: no DSN given: use postgres://..., sqlite://PATH or a file path")
	}
	if m := schemeRE.FindStringSubmatch(dsn); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			pgCfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				return config{}, tandem.Errorf(tandem.EInvalid, "open metadata database %s: %s", redact(dsn), cause(err))
			}
			return config{dialect: dialectPostgres, pgx: pgCfg, name: redact(dsn)}, nil
		case "sqlite":
			return sqliteConfig(dsn, dsn[len(m[0]):])
		}
		return config{}, tandem.Errorf(tandem.EInvalid, "open metadata database %s: unsupported scheme %q: use postgres://..., sqlite://PATH or a file path",
			redact(dsn), m[1])
	}
	if rest, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		return sqliteConfig(dsn, rest)
	}
	return sqliteConfig(dsn, dsn)
}

func sqliteConfig(dsn, path string) (config, error) {
	if path == "" {
		return config{}, tandem.Errorf(tandem.EInvalid, "open metadata database %s: no file path given", dsn)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return config{}, tandem.Errorf(tandem.EInvalid, "open metadata database %s: %v", dsn, err)
	}
	// A file: URI, so that '?' and '#' in the path are escaped, not parsed.
	uri := "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + sqliteParams
	return config{dialect: dialectSQLite, driverDSN: uri, name: dsn, path: abs}, nil
}

// redact returns dsn with the password of its user info and of a password
// query parameter replaced by "xxxxx".
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		// Do not echo what cannot be parsed: it may hold a password.
		if m := schemeRE.FindString(dsn); m != "" {
			return m + "..."
		}
		return "(unparsable DSN)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// checkSQLitePath explains up front why SQLite could not create or write
// path, which SQLite itself reports only as "unable to open database file".
func checkSQLitePath(path string) error {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("directory %s: %w", dir, unwrapPath(err))
	case !info.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		return fmt.Errorf("%s is a directory, not a database file", path)
	}
	// SQLite needs to create the -wal and -shm files beside the database.
	probe, err := os.CreateTemp(dir, ".tandem-write-check-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, unwrapPath(err))
	}
	return f.Close()
}

// unwrapPath drops the *fs.PathError wrapper, whose path the caller's
// message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
