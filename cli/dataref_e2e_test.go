package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

// TestE2EDataByReference: a data asset whose path is on a datastore moves
// to another workspace, Azure's way (download, then create -f), by
// reference: the target has a datastore of the same name, so no byte is
// copied and the path stays the datastore's; a target without that
// datastore refuses it, naming the datastore.
func TestE2EDataByReference(t *testing.T) {
	_, endpoint, token := startServer(t)
	dir := t.TempDir()
	env := func(ws string) map[string]string {
		return map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: ws}
	}
	cmdtest.WriteFiles(t, dir, map[string]string{
		"ds.yml":   "name: lake\ntype: azure_blob\naccount_name: acct\ncontainer_name: raw\n",
		"data.yml": "name: clicks\nversion: 4\ntype: uri_folder\npath: azureml://datastores/lake/paths/clicks/2026/\ndescription: raw clicks\n",
	})
	for _, ws := range []string{"ref-src", "ref-dst", "ref-bare"} {
		mustRun(t, dir, env(ws), "workspace", "create", "--name", ws)
	}
	mustRun(t, dir, env("ref-src"), "datastore", "create", "-f", "ds.yml")
	mustRun(t, dir, env("ref-dst"), "datastore", "create", "-f", "ds.yml")
	src := decode[tandem.Asset](t, mustRun(t, dir, env("ref-src"), "data", "create", "-f", "data.yml", "-o", "json"))
	if len(src.Files) != 0 {
		t.Fatalf("a by-reference data asset holds %d files", len(src.Files))
	}
	mustRun(t, dir, env("ref-src"), "data", "download", "--name", "clicks", "--version", "4", "--download-path", "dl")
	yml := filepath.Join(dir, "dl", "clicks", "data.yml")
	b, err := os.ReadFile(yml)
	if err != nil || !strings.Contains(string(b), "azureml://datastores/lake/paths/clicks/2026/") {
		t.Fatalf("downloaded document %q, %v", b, err)
	}
	dst := decode[tandem.Asset](t, mustRun(t, dir, env("ref-dst"), "data", "create", "-f", yml, "-o", "json"))
	if dst.Version != "4" || len(dst.Files) != 0 || dst.Spec["path"] != "azureml://datastores/lake/paths/clicks/2026/" || dst.Description != "raw clicks" {
		t.Fatalf("re-registered as %+v", dst)
	}
	wantExit(t, dir, env("ref-bare"), 3, `datastore "lake"`, "data", "create", "-f", yml)
}
