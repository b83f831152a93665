package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/tandemml/tandem"
)

// DB is a region's metadata database. It implements tandem.Store.
type DB struct {
	// Now returns the current time. AppendChange uses it for entries
	// without a time. Tests may replace it before the first Update.
	Now func() time.Time

	db      *sql.DB
	dialect dialect
	name    string // the DSN with any password redacted, for messages

	// writer admits one SQLite writer of this process at a time, so that
	// concurrent Updates queue here instead of failing with SQLITE_BUSY.
	// (BEGIN IMMEDIATE and busy_timeout cover writers in other processes.)
	writer chan struct{}

	signals signals // see ChangeSignal
}

var (
	_ tandem.Store          = (*DB)(nil)
	_ tandem.ChangeNotifier = (*DB)(nil)
)

// Open opens the metadata database named by dsn, checks that it can be
// reached and brings its schema up to date. dsn is postgres://... or
// postgresql://... for PostgreSQL, and sqlite://PATH, sqlite:PATH or a
// plain file path for SQLite; the SQLite file's directory must exist.
//
// Errors: EInvalid for an unsupported scheme, a malformed PostgreSQL URL, a
// bad SQLite path or a schema newer than this program; EUnavailable when
// the database cannot be reached.
// Messages name the DSN with its password redacted.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.dialect == dialectSQLite {
		if err := checkSQLitePath(cfg.path); err != nil {
			return nil, openError(tandem.EInvalid, cfg.name, err.Error())
		}
	}
	var sqlDB *sql.DB
	if cfg.pgx != nil {
		sqlDB = stdlib.OpenDB(*cfg.pgx)
	} else if sqlDB, err = sql.Open("sqlite", cfg.driverDSN); err != nil {
		return nil, openError(tandem.EInvalid, cfg.name, cause(err))
	}
	db := &DB{
		Now:     time.Now,
		db:      sqlDB,
		dialect: cfg.dialect,
		name:    cfg.name,
		writer:  make(chan struct{}, 1),
	}
	if cfg.dialect == dialectPostgres {
		sqlDB.SetMaxOpenConns(32)
		sqlDB.SetMaxIdleConns(8)
	} else {
		sqlDB.SetMaxIdleConns(8)
	}
	if err := db.ping(ctx); err != nil {
		sqlDB.Close()
		return nil, openError(tandem.EUnavailable, cfg.name, cause(err))
	}
	if err := db.migrate(ctx); err != nil {
		sqlDB.Close()
		var e *tandem.Error
		if errors.As(err, &e) {
			return nil, openError(e.Code, cfg.name, e.Message)
		}
		return nil, openError(tandem.EInternal, cfg.name, "migrate: "+cause(err))
	}
	return db, nil
}

// ping checks the connection. On SQLite it retries for a few seconds while
// the file is busy: a new connection switches the file to WAL, which it
// cannot while another process (or DB) is doing the same.
func (db *DB) ping(ctx context.Context) error {
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		err := db.db.PingContext(ctx)
		if err == nil || !isBusy(err) || wait > 2*time.Second {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

func openError(code, name, msg string) *tandem.Error {
	return tandem.Errorf(code, "open metadata database %s: %s", name, msg)
}

// cause returns the most specific text of err: PostgreSQL's own message, or
// the innermost wrapped error (such as "connection refused"), following the
// first of several joined errors.
func cause(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	for {
		var inner error
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			inner = e.Unwrap()
		case interface{ Unwrap() []error }:
			if list := e.Unwrap(); len(list) > 0 {
				inner = list[0]
			}
		}
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return string(db.dialect) }

// Ping checks that the database is reachable. EUnavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return db.unavailable(err)
	}
	return nil
}

// Close releases the database.
func (db *DB) Close() error { return db.db.Close() }

func (db *DB) unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &tandem.Error{Code: tandem.EUnavailable, Message: fmt.Sprintf("metadata database %s: %s", db.name, cause(err))}
}

// View runs fn in a read-only transaction that sees one consistent state
// of the database throughout: SQLite's read transactions in WAL mode do,
// and on PostgreSQL it runs at REPEATABLE READ (READ COMMITTED would give
// each statement its own snapshot, and a snapshot or digest no single cut).
func (db *DB) View(ctx context.Context, fn func(tandem.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == dialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return db.unavailable(err)
	}
	defer sqlTx.Rollback()
	return fn(&tx{Tx: sqlTx, db: db})
}

// Update runs fn in a read-write transaction and commits it when fn returns
// nil and every workspace fn wrote got exactly one change-log entry
// (invariant 1); otherwise it rolls back. It returns fn's error as is, or
// an EInternal error naming the workspace that broke the invariant.
func (db *DB) Update(ctx context.Context, fn func(tandem.Tx) error) error {
	var t *tx
	return db.write(ctx, func(sqlTx *sql.Tx) error {
		t = &tx{Tx: sqlTx, db: db, writable: true, written: map[string]bool{}, appended: map[string]int{}, applied: map[string]int{}, seen: map[string]bool{}}
		if db.dialect == dialectSQLite {
			t.stmts = map[string]*sql.Stmt{}
		}
		if err := fn(t); err != nil {
			return err
		}
		return t.checkLog()
	}, func() { db.signals.fire(t.appended) })
}

// write runs fn in a transaction that is the only writer of the database,
// and commits it when fn returns nil; then it calls each committed.
func (db *DB) write(ctx context.Context, fn func(*sql.Tx) error, committed ...func()) error {
	if db.dialect == dialectSQLite {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	sqlTx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return db.unavailable(err)
	}
	defer sqlTx.Rollback()
	if err := db.dialect.lockWriters(ctx, sqlTx); err != nil {
		return fmt.Errorf("lock writers: %w", err)
	}
	if err := fn(sqlTx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, fn := range committed {
		fn()
	}
	return nil
}
