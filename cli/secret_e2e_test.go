package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to dump the database

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// secretValue returns a random value that cannot appear anywhere by chance.
func secretValue(t *testing.T, prefix string) []byte {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(prefix + hex.EncodeToString(b))
}

// leakForms are the ways a value could end up stored: as it is, and in
// base64 (how encoding/json writes []byte).
func leakForms(v []byte) [][]byte {
	return [][]byte{v, []byte(base64.StdEncoding.EncodeToString(v)), []byte(base64.RawURLEncoding.EncodeToString(v))}
}

// findLeak returns a description of the first value found in data, or "".
func findLeak(data []byte, values [][]byte) string {
	for i, v := range values {
		for j, form := range leakForms(v) {
			if bytes.Contains(data, form) {
				return []string{"value", "base64 of value", "base64url of value"}[j] + " #" + string(rune('0'+i))
			}
		}
	}
	return ""
}

var dataDirRE = regexp.MustCompile(`(?m)^region \S+, data in (\S+)$`)

func TestE2ESecrets(t *testing.T) {
	for name, flags := range stacks(t) {
		t.Run(name, func(t *testing.T) { testE2ESecrets(t, flags) })
	}
}

func testE2ESecrets(t *testing.T, flags []string) {
	srv, endpoint, token := startServer(t, flags...)
	m := dataDirRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no data directory in %q", srv.stdout)
	}
	dataDir := m[1]
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-vault"}
	dir := t.TempDir()
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw-vault")

	keyFile := filepath.Join(dataDir, "vault.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v, %v; want it created with mode 0600", keyFile, fi, err)
	}

	fromValue := secretValue(t, "tdm-e2e-value-")
	fromFile := append([]byte{0, 0xff, '\n'}, secretValue(t, "tdm-e2e-file-")...)
	fromStdin := append(secretValue(t, "tdm-e2e-stdin-"), '\n')
	replaced := secretValue(t, "tdm-e2e-replaced-")
	values := [][]byte{fromValue, fromFile, fromStdin, replaced}

	// Everything the CLI prints, except what `secret get` writes to stdout.
	var printed bytes.Buffer
	run := func(env map[string]string, stdin string, args ...string) result {
		t.Helper()
		r := runCLI(t, dir, env, stdin, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		printed.WriteString(r.stdout + r.stderr)
		return r
	}
	get := func(env map[string]string, name string) []byte {
		t.Helper()
		r := runCLI(t, dir, env, "", "secret", "get", "--name", name)
		if r.code != 0 {
			t.Fatalf("secret get %s: exit %d, stderr %s", name, r.code, r.stderr)
		}
		printed.WriteString(r.stderr)
		return []byte(r.stdout)
	}

	t.Run("SetGet", func(t *testing.T) {
		r := run(env, "", "secret", "set", "--name", "storage-key", "--value", string(fromValue), "-o", "json")
		if s := decode[tandem.Secret](t, r); s.Name != "storage-key" || s.Version != 1 || s.KeyID == "" {
			t.Fatalf("set printed %s, want version 1 metadata", r.stdout)
		}
		file := filepath.Join(dir, "value.bin")
		os.WriteFile(file, fromFile, 0o600)
		run(env, "", "secret", "set", "--name", "from-file", "--file", "value.bin")
		run(env, string(fromStdin), "secret", "set", "--name", "from-stdin", "--file", "-")
		for name, want := range map[string][]byte{"storage-key": fromValue, "from-file": fromFile, "from-stdin": fromStdin} {
			if got := get(env, name); !bytes.Equal(got, want) {
				t.Fatalf("secret get %s: got %q, want %q byte for byte", name, got, want)
			}
		}
		r = run(env, "", "secret", "set", "--name", "storage-key", "--value", string(replaced), "-o", "json")
		if s := decode[tandem.Secret](t, r); s.Version != 2 {
			t.Fatalf("second set printed %s, want version 2", r.stdout)
		}
		if got := get(env, "storage-key"); !bytes.Equal(got, replaced) {
			t.Fatalf("secret get after replace: got %q, want %q", got, replaced)
		}
	})

	t.Run("ListShow", func(t *testing.T) {
		for _, format := range []string{"table", "json", "yaml"} {
			r := run(env, "", "secret", "list", "-o", format)
			for _, name := range []string{"from-file", "from-stdin", "storage-key"} {
				if !strings.Contains(r.stdout, name) {
					t.Fatalf("list -o %s printed %s, want %s in it", format, r.stdout, name)
				}
			}
			if leak := findLeak([]byte(r.stdout), values); leak != "" {
				t.Fatalf("list -o %s printed a secret (%s)", format, leak)
			}
			r = run(env, "", "secret", "show", "--name", "storage-key", "-o", format)
			if !strings.Contains(r.stdout, "storage-key") {
				t.Fatalf("show -o %s printed %s", format, r.stdout)
			}
			if leak := findLeak([]byte(r.stdout), values); leak != "" {
				t.Fatalf("show -o %s printed a secret (%s)", format, leak)
			}
		}
		list := decode[[]tandem.Secret](t, run(env, "", "secret", "list", "-o", "json"))
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		if !slices.Equal(names, []string{"from-file", "from-stdin", "storage-key"}) {
			t.Fatalf("list = %v", names)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		wantExit(t, dir, env, 2, "invalid secret name", "secret", "set", "--name", "bad_name", "--value", "x")
		wantExit(t, dir, env, 2, "none of the others can be", "secret", "set", "--name", "a", "--value", "x", "--file", "y")
		wantExit(t, dir, env, 2, "at least one of the flags", "secret", "set", "--name", "a")
		wantExit(t, dir, env, 2, "empty", "secret", "set", "--name", "a", "--value", "")
		os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, tandem.MaxSecretValue+1), 0o600)
		wantExit(t, dir, env, 2, "64 KiB", "secret", "set", "--name", "a", "--file", "big.bin")
		wantExit(t, dir, env, 3, "", "secret", "set", "--name", "a", "--file", "missing.bin")
		wantExit(t, dir, env, 3, `secret "nope" not found`, "secret", "get", "--name", "nope")
		wantExit(t, dir, env, 3, `secret "nope" not found`, "secret", "show", "--name", "nope")
		noWS := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
		wantExit(t, dir, noWS, 2, "no workspace given", "secret", "list")
	})

	t.Run("Access", func(t *testing.T) {
		got := decode[map[string]string](t, run(env, "", "token", "create", "--name", "vault-ci", "--workspace", "mlw-vault", "-o", "json"))
		scoped := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: got["token"], cmdutil.EnvWorkspace: "mlw-vault"}
		if v := get(scoped, "from-file"); !bytes.Equal(v, fromFile) {
			t.Fatalf("scoped get: got %q", v)
		}
		wantExit(t, dir, scoped, 5, "region admin", "vault", "rotate-key")
		run(env, "", "workspace", "create", "--name", "mlw-other")
		other := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: got["token"], cmdutil.EnvWorkspace: "mlw-other"}
		wantExit(t, dir, other, 3, "", "secret", "list")
	})

	t.Run("RotateKey", func(t *testing.T) {
		before := decode[tandem.Secret](t, run(env, "", "secret", "show", "--name", "storage-key", "-o", "json"))
		rot := decode[tandem.KeyRotation](t, run(env, "", "vault", "rotate-key", "-o", "json"))
		if rot.Secrets != 3 || rot.Workspaces != 1 || !slices.Equal(rot.RetiredKeys, []string{before.KeyID}) || rot.KeyID == before.KeyID {
			t.Fatalf("rotate-key = %+v, want 3 secrets rewrapped and %s retired", rot, before.KeyID)
		}
		if r := run(env, "", "vault", "rotate-key"); !strings.Contains(r.stdout, "Secrets rewrapped:") {
			t.Fatalf("rotate-key printed %s", r.stdout)
		}
		after := decode[tandem.Secret](t, run(env, "", "secret", "show", "--name", "storage-key", "-o", "json"))
		if after.KeyID == before.KeyID || after.Version != before.Version {
			t.Fatalf("after rotation: %+v, want a new key and the same version as %+v", after, before)
		}
		if got := get(env, "storage-key"); !bytes.Equal(got, replaced) {
			t.Fatalf("secret get after rotation: got %q, want %q", got, replaced)
		}
		if data, _ := os.ReadFile(keyFile); strings.Contains(string(data), before.KeyID) {
			t.Fatalf("key file still holds the retired key %s", before.KeyID)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		wantExit(t, dir, env, 2, "pass --yes", "secret", "delete", "--name", "from-stdin")
		run(env, "", "secret", "delete", "--name", "from-stdin", "--yes")
		wantExit(t, dir, env, 3, "", "secret", "get", "--name", "from-stdin")
	})

	// Nothing at rest holds a value: not the data directory (database, WAL,
	// storage, key file), not the PostgreSQL database, not Azure storage.
	checkAtRest := func(t *testing.T, when string) {
		corpus := dumpDir(t, dataDir)
		if leak := findLeak(corpus, values); leak != "" {
			t.Fatalf("%s: the data directory %s holds a secret (%s)", when, dataDir, leak)
		}
		for i := 0; i+1 < len(flags); i += 2 {
			switch flags[i] {
			case "--db":
				db := dumpPostgres(t, flags[i+1])
				if leak := findLeak(db, values); leak != "" {
					t.Fatalf("%s: the PostgreSQL database holds a secret (%s)", when, leak)
				}
				corpus = append(corpus, db...)
			case "--storage":
				blobs := dumpBlobs(t, flags[i+1])
				if leak := findLeak(blobs, values); leak != "" {
					t.Fatalf("%s: the blob storage holds a secret (%s)", when, leak)
				}
			}
		}
		// The check is not vacuous: the sealed values were read.
		if !bytes.Contains(corpus, []byte(`"ciphertext"`)) {
			t.Fatalf("%s: no sealed value found in what was searched; the search missed the database", when)
		}
	}
	t.Run("AtRest", func(t *testing.T) { checkAtRest(t, "while running") })

	if code := srv.stop(t); code != 0 {
		t.Fatalf("server exited with %d, stderr: %s", code, srv.stderr)
	}
	t.Run("AtRestAfterStop", func(t *testing.T) { checkAtRest(t, "after stop") })
	t.Run("Logs", func(t *testing.T) {
		logs := srv.stdout.String() + srv.stderr.String()
		if !strings.Contains(logs, "secret read") {
			t.Fatalf("server logs hold no audit entry for secret reads:\n%s", logs)
		}
		if leak := findLeak([]byte(logs), values); leak != "" {
			t.Fatalf("the server's output holds a secret (%s)", leak)
		}
		if leak := findLeak(printed.Bytes(), values); leak != "" {
			t.Fatalf("the CLI printed a secret outside 'secret get' (%s)", leak)
		}
	})
}

// dumpDir returns the contents of every regular file under dir.
func dumpDir(t *testing.T, dir string) []byte {
	t.Helper()
	var out []byte
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		out = append(out, data...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Fatalf("found %d files under %s, want at least the key file and the admin token", n, dir)
	}
	return out
}

// dumpPostgres returns every row of every table of the database at dsn, as
// text.
func dumpPostgres(t *testing.T, dsn string) []byte {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var schema, name string
		if err := rows.Scan(&schema, &name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, `"`+schema+`"."`+name+`"`)
	}
	rows.Close()
	if !slices.Contains(tables, `"public"."resources"`) || !slices.Contains(tables, `"public"."changes"`) {
		t.Fatalf("database tables %v lack resources and changes", tables)
	}
	var out []byte
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, "SELECT t::text FROM "+table+" t")
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			out = append(out, row...)
			out = append(out, '\n')
		}
		rows.Close()
	}
	return out
}

// dumpBlobs returns the bytes of every blob in the store at url.
func dumpBlobs(t *testing.T, url string) []byte {
	t.Helper()
	ctx := context.Background()
	s, err := blobstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []byte
	err = s.List(ctx, "", func(ref tandem.BlobRef) error {
		rc, err := s.Open(ctx, ref.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		out = append(out, data...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestE2EServerKeyFile(t *testing.T) {
	t.Run("Flag", func(t *testing.T) {
		keys := filepath.Join(t.TempDir(), "keys", "region.key")
		srv, endpoint, token := startServer(t, "--key-file", keys)
		if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("--key-file %s: %v, %v; want it created with mode 0600", keys, fi, err)
		}
		m := dataDirRE.FindStringSubmatch(srv.stdout.String())
		if _, err := os.Stat(filepath.Join(m[1], "vault.key")); err == nil {
			t.Fatal("a key file was created in the data directory despite --key-file")
		}
		env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "w-keys"}
		dir := t.TempDir()
		mustRun(t, dir, env, "workspace", "create", "--name", "w-keys")
		mustRun(t, dir, env, "secret", "set", "--name", "a", "--value", "v")
		if r := mustRun(t, dir, env, "secret", "get", "--name", "a"); r.stdout != "v" {
			t.Fatalf("get printed %q, want v", r.stdout)
		}
	})
	t.Run("ErrReadableByOthers", func(t *testing.T) {
		dir := t.TempDir()
		keys := filepath.Join(dir, "open.key")
		srv, _, _ := startServer(t, "--key-file", keys)
		srv.stop(t)
		os.Chmod(keys, 0o644)
		r := runCLI(t, dir, nil, "", "server", "--listen", "127.0.0.1:0", "--data", "d", "--key-file", keys)
		if r.code != 2 || !strings.Contains(r.stderr, "chmod 600") || !strings.Contains(r.stderr, keys) {
			t.Fatalf("exit %d, stderr %q; want 2 and a message naming the file and chmod 600", r.code, r.stderr)
		}
	})
}
