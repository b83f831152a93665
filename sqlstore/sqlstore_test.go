package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/conformance"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// allBackends lists both backends, so that a skipped PostgreSQL run shows.
var allBackends = []string{sqltest.SQLite, sqltest.Postgres}

func TestConformance(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			sqltest.Require(t, backend)
			conformance.Store(t, func(t *testing.T) tandem.Store { return sqltest.Open(t, backend) })
		})
	}
}

func TestOpen_ErrUnsupportedScheme(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), "mysql://root:hunter2@db.example.com/tandem")
	if got := tandem.ErrorCode(err); got != tandem.EInvalid {
		t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EInvalid)
	}
	msg := err.Error()
	for _, want := range []string{`unsupported scheme "mysql"`, "root:xxxxx@db.example.com"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message: got %q, want it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("message: got %q, want the password redacted", msg)
	}
}

func TestOpen_ErrEmpty(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), "")
	if got := tandem.ErrorCode(err); got != tandem.EInvalid {
		t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EInvalid)
	}
}

func TestOpen_ErrBadPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dsn, want string }{
		{"MissingDirectory", filepath.Join(dir, "nope", "metadata.db"), "directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"MissingDirectoryURL", "sqlite://" + filepath.Join(dir, "nope", "metadata.db"), "does not exist"},
		{"ParentIsFile", "sqlite:" + filepath.Join(file, "metadata.db"), file + " is not a directory"},
		{"PathIsDirectory", dir, "is a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sqlstore.Open(t.Context(), c.dsn)
			if got := tandem.ErrorCode(err); got != tandem.EInvalid {
				t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EInvalid)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("message: got %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestOpen_ErrUnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only directories")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	_, err := sqlstore.Open(t.Context(), filepath.Join(dir, "metadata.db"))
	if got := tandem.ErrorCode(err); got != tandem.EInvalid {
		t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EInvalid)
	}
	if want := "is not writable"; !strings.Contains(err.Error(), want) {
		t.Fatalf("message: got %q, want it to contain %q", err, want)
	}
}

func TestOpen_ErrPostgresUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dsn := fmt.Sprintf("postgres://tandem:s3cret@127.0.0.1:%d/tandem?sslmode=disable&connect_timeout=5", port)
	_, err = sqlstore.Open(t.Context(), dsn)
	if got := tandem.ErrorCode(err); got != tandem.EUnavailable {
		t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EUnavailable)
	}
	want := fmt.Sprintf("open metadata database postgres://tandem:xxxxx@127.0.0.1:%d/tandem?", port)
	if msg := err.Error(); !strings.Contains(msg, want) || !strings.HasSuffix(msg, ": connection refused") {
		t.Fatalf("message: got %q, want %q...: connection refused", msg, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("message: got %q, want the password redacted", err)
	}
}

func TestOpen_Reopen(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			dsn := sqltest.DSN(t, backend)
			for i := range 3 {
				db, err := sqlstore.Open(t.Context(), dsn)
				if err != nil {
					t.Fatalf("open #%d: got error %v, want nil", i+1, err)
				}
				checkSchemaVersion(t, db)
				w := &tandem.Workspace{ID: fmt.Sprint("id-", i), Name: fmt.Sprint("ws-", i)}
				err = db.Update(t.Context(), func(tx tandem.Tx) error {
					if err := tx.CreateWorkspace(t.Context(), w); err != nil {
						return err
					}
					return tx.AppendChange(t.Context(), &tandem.Change{WorkspaceID: w.ID, Kind: tandem.KindWorkspace, Name: w.Name, Op: tandem.OpCreate})
				})
				if err != nil {
					t.Fatalf("Update after open #%d: %v", i+1, err)
				}
				var n int
				db.View(t.Context(), func(tx tandem.Tx) error {
					list, err := tx.ListWorkspaces(t.Context(), tandem.WorkspaceFilter{})
					n = len(list)
					return err
				})
				if n != i+1 {
					t.Fatalf("workspaces after open #%d: got %d, want %d", i+1, n, i+1)
				}
				db.Close()
			}
		})
	}
}

// TestOpen_Concurrent opens one new database from several goroutines at
// once, as servers of a region starting together do: the migrations must
// run once and every Open succeed.
func TestOpen_Concurrent(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			dsn := sqltest.DSN(t, backend)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					db, err := sqlstore.Open(t.Context(), dsn)
					if err != nil {
						t.Errorf("Open: got error %v, want nil", err)
						return
					}
					defer db.Close()
					checkSchemaVersion(t, db)
				})
			}
			wg.Wait()
		})
	}
}

func checkSchemaVersion(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	got, err := db.SchemaVersion(t.Context())
	if err != nil || got != sqlstore.LatestSchemaVersion {
		t.Errorf("SchemaVersion: got %d, %v; want %d, nil", got, err, sqlstore.LatestSchemaVersion)
	}
}

func TestOpen_ErrNewerSchema(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			dsn := sqltest.DSN(t, backend)
			db, err := sqlstore.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			raw := rawDB(t, backend, dsn)
			if _, err := raw.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'x')"); err != nil {
				t.Fatal(err)
			}
			_, err = sqlstore.Open(t.Context(), dsn)
			if got := tandem.ErrorCode(err); got != tandem.EInvalid {
				t.Fatalf("code: got %q (%v), want %q", got, err, tandem.EInvalid)
			}
			if want := "schema version 9999 is newer"; !strings.Contains(err.Error(), want) {
				t.Fatalf("message: got %q, want it to contain %q", err, want)
			}
		})
	}
}

// rawDB opens the database of dsn with its driver alone, to tamper with it.
func rawDB(t *testing.T, backend, dsn string) *sql.DB {
	driver, name := "pgx", dsn
	if backend == sqltest.SQLite {
		driver, name = "sqlite", strings.TrimPrefix(dsn, "sqlite://")
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPing(t *testing.T) {
	for _, backend := range allBackends {
		t.Run(backend, func(t *testing.T) {
			db := sqltest.OpenDB(t, backend)
			if err := db.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: got error %v, want nil", err)
			}
			if got := db.Dialect(); got != backend {
				t.Fatalf("Dialect: got %q, want %q", got, backend)
			}
			db.Close()
			if err := db.Ping(context.Background()); err == nil {
				t.Fatal("Ping after Close: got nil, want an error")
			}
		})
	}
}

func BenchmarkUpdateAppend(b *testing.B) {
	for _, backend := range allBackends {
		b.Run(backend, func(b *testing.B) {
			db := sqltest.OpenDB(b, backend)
			ctx := context.Background()
			w := &tandem.Workspace{ID: "id-bench", Name: "bench"}
			err := db.Update(ctx, func(tx tandem.Tx) error {
				if err := tx.CreateWorkspace(ctx, w); err != nil {
					return err
				}
				return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: w.ID, Kind: tandem.KindWorkspace, Name: w.Name, Op: tandem.OpCreate})
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r := &tandem.Resource{WorkspaceID: w.ID, Kind: "model", Name: "m", Version: fmt.Sprint(i),
					Spec: []byte(`{"name":"m","path":"azureml://datastores/workspaceblobstore/paths/m"}`)}
				err := db.Update(ctx, func(tx tandem.Tx) error {
					if err := tx.PutResource(ctx, r); err != nil {
						return err
					}
					return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: w.ID, Kind: r.Kind, Name: r.Name, Version: r.Version, Op: tandem.OpCreate, Body: r.Spec})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
