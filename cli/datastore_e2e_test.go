package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// TestE2EDatastores registers every datastore of the corpus with a known
// random credential, then checks that the credential reached the vault and
// nowhere else: not in show/list output, not in the data directory.
func TestE2EDatastores(t *testing.T) {
	corpus := corpusDir(t)
	srv, endpoint, token := startServer(t)
	m := dataDirRE.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no data directory in %q", srv.stdout)
	}
	dataDir := m[1]
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-ds"}
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw-ds")

	cases := []struct{ file, name, typ, field string }{
		{"blob.yml", "blob_example", "azure_blob", "account_key"},
		{"blob-sas.yml", "blob_sas_example", "azure_blob", "sas_token"},
		{"file.yml", "file_example", "azure_file", "account_key"},
		{"adls-gen2.yml", "adls_gen2_example", "azure_data_lake_gen2", "client_secret"},
		{"blob-credless.yml", "blob_credless_example", "azure_blob", ""},
	}
	var values [][]byte
	var printed bytes.Buffer
	for _, c := range cases {
		args := []string{"datastore", "create", "-f", filepath.Join(corpus, "resources/datastore", c.file), "-o", "json"}
		var value []byte
		if c.field != "" {
			value = secretValue(t, "tdm-ds-")
			values = append(values, value)
			args = append(args, "--set", "credentials."+c.field+"="+string(value))
		}
		r := mustRun(t, dir, env, args...)
		printed.WriteString(r.stdout + r.stderr)
		ds := decode[tandem.Datastore](t, r)
		if ds.Name != c.name || ds.Type != c.typ {
			t.Fatalf("%s: created %s of type %s, want %s of type %s", c.file, ds.Name, ds.Type, c.name, c.typ)
		}
		if c.field == "" {
			continue
		}
		secret := ds.Credentials[c.field]
		if secret == "" {
			t.Fatalf("%s: credential %s not moved to the vault: %+v", c.file, c.field, ds)
		}
		if got := runCLI(t, dir, env, "", "secret", "get", "--name", secret); got.code != 0 || got.stdout != string(value) {
			t.Fatalf("%s: vault secret %s holds %q (exit %d), want the credential", c.file, secret, got.stdout, got.code)
		}
	}
	for _, args := range [][]string{
		{"datastore", "list"}, {"datastore", "list", "-o", "json"}, {"datastore", "list", "-o", "yaml"},
		{"datastore", "show", "--name", "blob_example"}, {"datastore", "show", "--name", "blob_example", "-o", "json"},
	} {
		r := mustRun(t, dir, env, args...)
		printed.WriteString(r.stdout + r.stderr)
	}
	list := decode[[]tandem.Datastore](t, mustRun(t, dir, env, "datastore", "list", "-o", "json"))
	if len(list) != len(cases)+1 || list[0].Name != "workspaceblobstore" || !list[0].Default {
		t.Fatalf("got %d datastores starting with %q, want the default then the %d created", len(list), list[0].Name, len(cases))
	}
	if leak := findLeak(printed.Bytes(), values); leak != "" {
		t.Fatalf("a credential (%s) appears in CLI output", leak)
	}
	if leak := findLeak(dumpDir(t, dataDir), values); leak != "" {
		t.Fatalf("a credential (%s) appears in plaintext in the data directory", leak)
	}

	wantExit(t, dir, env, 4, "already exists", "datastore", "create", "-f", filepath.Join(corpus, "resources/datastore/blob-credless.yml"))

	// show -o yaml is a document create -f accepts (without its credentials).
	shown := mustRun(t, dir, env, "datastore", "show", "--name", "adls_gen2_example", "-o", "yaml")
	if leak := findLeak([]byte(shown.stdout), values); leak != "" || !strings.Contains(shown.stdout, "$schema:") {
		t.Fatalf("show -o yaml: %q (leak: %s), want the Azure document without credentials", shown.stdout, leak)
	}
	yml := filepath.Join(dir, "shown.yml")
	os.WriteFile(yml, []byte(shown.stdout), 0o644)
	copied := decode[tandem.Datastore](t, mustRun(t, dir, env, "datastore", "create", "-f", yml, "--set", "name=adls_copy", "-o", "json"))
	if copied.Type != "azure_data_lake_gen2" || copied.Spec["filesystem"] != "my-gen2-container" {
		t.Fatalf("re-created from show: got %+v", copied)
	}
	wantExit(t, dir, env, 4, "default datastore", "datastore", "delete", "--name", "workspaceblobstore", "--yes")
	mustRun(t, dir, env, "datastore", "delete", "--name", "blob_example", "--yes")
	wantExit(t, dir, env, 3, "not found", "datastore", "show", "--name", "blob_example")
	if r := mustRun(t, dir, env, "secret", "list"); strings.Contains(r.stdout, "datastore-blob-example-account-key") {
		t.Fatalf("the deleted datastore's credential is still in the vault:\n%s", r.stdout)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("name: x\ntype: azure_blob\naccount_name: a\ncontainer_name: c\ncolor: blue\n"), 0o644)
	wantExit(t, dir, env, 2, bad+":5:", "datastore", "create", "-f", bad)
}
