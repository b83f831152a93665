package sqlstore

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tandemml/tandem"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct {
		d       dialect
		in, out string
	}{
		{dialectPostgres, "SELECT a FROM t WHERE b = ? AND c > ? LIMIT ?", "SELECT a FROM t WHERE b = $1 AND c > $2 LIMIT $3"},
		{dialectPostgres, "SELECT 1", "SELECT 1"},
		{dialectSQLite, "SELECT a FROM t WHERE b = ?", "SELECT a FROM t WHERE b = ?"},
	} {
		if got := c.d.rebind(c.in); got != c.out {
			t.Errorf("%s rebind(%q): got %q, want %q", c.d, c.in, got, c.out)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:secret@host/db", "postgres://u:xxxxx@host/db"},
		{"postgres://u@host/db?sslmode=disable", "postgres://u@host/db?sslmode=disable"},
		{"postgres://host/db?password=secret&user=u", "postgres://host/db?password=xxxxx&user=u"},
		{"postgres://u:sec%zzret@host/db", "postgres://..."},
	} {
		if got := redact(c.in); got != c.want {
			t.Errorf("redact(%q): got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseDSN(t *testing.T) {
	abs := func(p string) string { return "file:" + p + "?" + sqliteParams }
	for _, c := range []struct {
		dsn       string
		dialect   dialect
		driverDSN string
	}{
		{"postgres://u@h/db", dialectPostgres, ""},
		{"postgresql://u@h/db", dialectPostgres, ""},
		{"sqlite:///var/lib/tandem/m.db", dialectSQLite, abs("/var/lib/tandem/m.db")},
		{"sqlite:/var/lib/tandem/m.db", dialectSQLite, abs("/var/lib/tandem/m.db")},
		{"/var/lib/tandem/m.db", dialectSQLite, abs("/var/lib/tandem/m.db")},
		{"/data/what?#%.db", dialectSQLite, abs("/data/what%3F%23%25.db")},
	} {
		cfg, err := parseDSN(c.dsn)
		if err != nil {
			t.Errorf("parseDSN(%q): got error %v, want nil", c.dsn, err)
			continue
		}
		if cfg.dialect == dialectPostgres && (cfg.pgx == nil || cfg.pgx.Host != "h" || cfg.pgx.Database != "db") {
			t.Errorf("parseDSN(%q): got PostgreSQL config %+v, want host h, database db", c.dsn, cfg.pgx)
		}
		if cfg.dialect != c.dialect || cfg.driverDSN != c.driverDSN {
			t.Errorf("parseDSN(%q): got %s %q, want %s %q", c.dsn, cfg.dialect, cfg.driverDSN, c.dialect, c.driverDSN)
		}
	}
	for _, dsn := range []string{"", "mysql://h/db", "sqlite://", "file://x.db", "postgres://h:port/db", "postgres://h/db?sslmode=maybe"} {
		if _, err := parseDSN(dsn); tandem.ErrorCode(err) != tandem.EInvalid {
			t.Errorf("parseDSN(%q): got %v, want an %s error", dsn, err, tandem.EInvalid)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	fsys := fstest.MapFS{
		"0001_init.sqlite.sql":   file("sqlite 1"),
		"0001_init.postgres.sql": file("postgres 1"),
		"0002_more.sql":          file("both 2"),
		"0010_later.sql":         file("both 10"),
	}
	for d, want := range map[dialect]string{dialectSQLite: "sqlite 1|both 2|both 10", dialectPostgres: "postgres 1|both 2|both 10"} {
		list, err := loadMigrations(fsys, d)
		if err != nil {
			t.Fatalf("loadMigrations(%s): got error %v, want nil", d, err)
		}
		var got []string
		for _, m := range list {
			got = append(got, m.sql)
		}
		if strings.Join(got, "|") != want {
			t.Errorf("loadMigrations(%s): got %q, want %q", d, strings.Join(got, "|"), want)
		}
	}
	for name, bad := range map[string]fstest.MapFS{
		"OnlyOtherDialect": {"0001_init.postgres.sql": file("x")},
		"Duplicate":        {"0001_a.sql": file("x"), "0001_b.sql": file("y")},
		"SharedAndOwn":     {"0001_a.sql": file("x"), "0001_a.sqlite.sql": file("y")},
		"BadName":          {"init.sql": file("x")},
		"UnknownDialect":   {"0001_a.mysql.sql": file("x")},
	} {
		if _, err := loadMigrations(bad, dialectSQLite); err == nil {
			t.Errorf("loadMigrations(%s): got nil error, want one", name)
		}
	}
}

// TestMigrationsInStep checks the embedded migrations: every version has
// SQL for both dialects, LatestSchemaVersion is the newest, and the two
// files of a version differ only in their comments and COLLATE "C".
func TestMigrationsInStep(t *testing.T) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	lite, err := loadMigrations(sub, dialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(sub, dialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("migrations: got %d for sqlite and %d for postgres, want equal", len(lite), len(pg))
	}
	if got := lite[len(lite)-1].version; got != LatestSchemaVersion {
		t.Fatalf("newest migration: got %d, want LatestSchemaVersion %d", got, LatestSchemaVersion)
	}
	comments := regexp.MustCompile(`(?m)^--.*\n`)
	for i := range lite {
		a := comments.ReplaceAllString(lite[i].sql, "")
		b := comments.ReplaceAllString(strings.ReplaceAll(pg[i].sql, ` COLLATE "C"`, ""), "")
		if a != b {
			t.Errorf("migration %d: %s and %s differ in more than COLLATE \"C\"", lite[i].version, lite[i].name, pg[i].name)
		}
	}
}

func TestCheckSQLitePath_ExistingFile(t *testing.T) {
	path := t.TempDir() + "/m.db"
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkSQLitePath(path); err != nil {
		t.Fatalf("checkSQLitePath: got %v, want nil", err)
	}
}
