// Package sqltest gives tests of any package a fresh metadata database on
// each backend: a temporary SQLite file always, and a new PostgreSQL
// database when TANDEM_TEST_POSTGRES_URL names a server (scripts/with-postgres
// starts a throw-away one). It is for tests only.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// Environment variables read by this package.
const (
	// EnvPostgresURL is a PostgreSQL server where tests may create and
	// drop databases, e.g. postgres://postgres@127.0.0.1:5432/postgres.
	EnvPostgresURL = "TANDEM_TEST_POSTGRES_URL"
	// EnvRequireServices, set to 1, turns a skip for a missing service
	// into a failure, so that CI cannot pass by testing less.
	EnvRequireServices = "TANDEM_TEST_REQUIRE_SERVICES"
)

// Backend names.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Backends returns the backends tests should run on: SQLite always, and
// PostgreSQL when EnvPostgresURL is set or services are required.
func Backends() []string {
	if os.Getenv(EnvPostgresURL) != "" || servicesRequired() {
		return []string{SQLite, Postgres}
	}
	return []string{SQLite}
}

func servicesRequired() bool { return os.Getenv(EnvRequireServices) == "1" }

// Require skips t, or fails it when services are required, unless backend
// can run here.
func Require(t testing.TB, backend string) {
	t.Helper()
	switch backend {
	case SQLite:
	case Postgres:
		if os.Getenv(EnvPostgresURL) != "" {
			return
		}
		if servicesRequired() {
			t.Fatal(EnvPostgresURL + " not set and " + EnvRequireServices + "=1: run the tests under scripts/with-postgres")
		}
		t.Skip(EnvPostgresURL + " not set")
	default:
		t.Fatalf("unknown backend %q: want %q or %q", backend, SQLite, Postgres)
	}
}

// DSN returns the DSN of a fresh, empty database on backend, removed when
// t ends.
func DSN(t testing.TB, backend string) string {
	t.Helper()
	Require(t, backend)
	if backend == SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "metadata.db")
	}
	return postgresDSN(t)
}

// Open returns a fresh store on backend, closed when t ends.
func Open(t testing.TB, backend string) tandem.Store {
	t.Helper()
	return OpenDB(t, backend)
}

// OpenDB is Open for tests that need the *sqlstore.DB.
func OpenDB(t testing.TB, backend string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), DSN(t, backend))
	if err != nil {
		t.Fatalf("open %s store: %v", backend, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresDSN creates a database named tandem_test_<random> on the server
// of EnvPostgresURL and drops it when t ends.
func postgresDSN(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvPostgresURL)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	var b [8]byte
	rand.Read(b[:])
	name := "tandem_test_" + hex.EncodeToString(b[:])
	admin(t, server, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin(t, server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u.Path = "/" + name
	return u.String()
}

// admin runs one statement on the server's maintenance database.
func admin(t testing.TB, server, stmt string) {
	t.Helper()
	db, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgresURL, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), stmt); err != nil {
		t.Fatalf("%s on %s: %v", stmt, EnvPostgresURL, err)
	}
}
