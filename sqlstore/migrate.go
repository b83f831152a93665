package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/tandemml/tandem"
)

// Migrations are files migrations/NNNN_name.sql, shared by both dialects,
// or a pair NNNN_name.sqlite.sql and NNNN_name.postgres.sql where the two
// need different SQL. Versions only ever grow; a released file never
// changes.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// LatestSchemaVersion is the version of the newest migration, the schema
// version of a database this program has opened.
const LatestSchemaVersion = 3

// SchemaVersion returns the version of the database's newest migration.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := db.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

type migration struct {
	version int64
	name    string // file name
	sql     string
}

var migrationNameRE = regexp.MustCompile(`^(\d+)_[a-z0-9_]+(?:\.(sqlite|postgres))?\.sql$`)

// loadMigrations returns the migrations of dialect d in fsys, by version.
// It is an error for a version to have two files for one dialect, or to
// have a file for the other dialect only.
func loadMigrations(fsys fs.FS, d dialect) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	byVersion := map[int64]migration{}
	other := map[int64]string{} // versions seen for the other dialect
	for _, e := range entries {
		m := migrationNameRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_name[.sqlite|.postgres].sql", e.Name())
		}
		version, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: bad version", e.Name())
		}
		if m[2] != "" && dialect(m[2]) != d {
			other[version] = e.Name()
			continue
		}
		if prev, ok := byVersion[version]; ok {
			return nil, fmt.Errorf("migrations %s and %s have the same version for %s", prev.name, e.Name(), d)
		}
		text, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		byVersion[version] = migration{version: version, name: e.Name(), sql: string(text)}
	}
	for version, name := range other {
		if _, ok := byVersion[version]; !ok {
			return nil, fmt.Errorf("migration %s has no %s counterpart", name, d)
		}
	}
	list := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].version < list[j].version })
	return list, nil
}

// migrate applies the migrations the database lacks, each in its own
// transaction that also records its version in schema_migrations. It is
// safe to run concurrently from several processes: each transaction holds
// the writer lock and re-reads the applied versions.
func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	list, err := loadMigrations(sub, db.dialect)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT NOT NULL PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range list {
		if err := db.write(ctx, func(tx *sql.Tx) error { return db.apply(ctx, tx, m, list) }); err != nil {
			return err
		}
	}
	return nil
}

// apply runs m unless it was applied already. It refuses a database whose
// schema is newer than every migration this program knows.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, m migration, known []migration) error {
	var latest int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&latest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if newest := known[len(known)-1].version; latest > newest {
		return tandem.Errorf(tandem.EInvalid, "schema version %d is newer than this program's %d: upgrade Tandem", latest, newest)
	}
	var n int
	q := db.dialect.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?")
	if err := tx.QueryRowContext(ctx, q, m.version).Scan(&n); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	q = db.dialect.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
	if _, err := tx.ExecContext(ctx, q, m.version, m.name, formatTime(time.Now())); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	return nil
}
