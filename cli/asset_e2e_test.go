package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// corpusDir is the shared folder of real Azure ML CLI v2 YAML files.
func corpusDir(t *testing.T) string {
	dir, err := filepath.Abs("../../shared/azureml-corpus/cli")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Azure ML corpus not found at %s", dir)
	}
	return dir
}

func fileDigests(files []tandem.AssetFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path+"@"+f.SHA256)
	}
	sort.Strings(out)
	return out
}

// TestE2EAssets takes one model, data, environment and component from the
// corpus through create, list, show, download and re-create from the
// download, in the same workspace (a no-op) and in another one (identical
// sha256s), on every backend stack.
func TestE2EAssets(t *testing.T) {
	corpus := corpusDir(t)
	cases := []struct {
		kind, file, name, typ string
		files                 int
		// dir, when set, is the folder beside file that the asset uploads
		// (its path or code): files is then its number of files, counted
		// here, as the corpus may gain files.
		dir string
	}{
		{"model", "assets/model/local-mlflow.yml", "local-mlflow-example", "mlflow_model", 0, "mlflow-model"},
		{"data", "assets/data/local-mltable.yml", "local-mltable-example-titanic", "mltable", 0, "local-mltable"},
		{"environment", "assets/environment/docker-image-plus-conda.yaml", "docker-image-plus-conda-example", "", 0, ""},
		{"environment", "docker-context.yml", "docker-context-example", "", 2, ""}, // a copy, with a Dockerfile added
		{"component", "jobs/pipelines-with-components/pipeline_with_pipeline_component/pipeline_with_train_eval_pipeline_component/components/train/train.yml", "train_model", "command", 0, "."},
	}
	for i, c := range cases {
		if c.dir == "" {
			continue
		}
		err := filepath.WalkDir(filepath.Join(corpus, filepath.Dir(c.file), c.dir), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				cases[i].files++
			}
			return err
		})
		if err != nil || cases[i].files == 0 {
			t.Fatalf("%s: the folder %s beside it: %d files, %v", c.file, c.dir, cases[i].files, err)
		}
	}
	// The corpus leaves Dockerfiles out: give its build-context example one.
	buildDir := t.TempDir()
	ctxDir := filepath.Join(buildDir, "docker-contexts", "python-and-pip")
	os.MkdirAll(ctxDir, 0o755)
	for _, f := range []string{"docker-context.yml", "docker-contexts/python-and-pip/requirements.txt"} {
		b, err := os.ReadFile(filepath.Join(corpus, "assets/environment", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(buildDir, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM python:3.11\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"), 0o644)

	for stackName, flags := range stacks(t) {
		t.Run(stackName, func(t *testing.T) {
			_, endpoint, token := startServer(t, flags...)
			dir := t.TempDir()
			env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
			for _, ws := range []string{"assets-a", "assets-b"} {
				mustRun(t, dir, env, "workspace", "create", "--name", ws)
			}
			envA := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "assets-a"}
			for _, c := range cases {
				t.Run(c.kind+"/"+c.name, func(t *testing.T) {
					file := filepath.Join(corpus, c.file)
					if !strings.Contains(c.file, "/") {
						file = filepath.Join(buildDir, c.file)
					}
					created := decode[tandem.Asset](t, mustRun(t, dir, envA, c.kind, "create", "-f", file, "-o", "json"))
					if created.Name != c.name || created.Version != "1" || created.Type != c.typ || len(created.Files) != c.files {
						t.Fatalf("created %s %s:%s type %q with %d files; want %s:1 type %q with %d files",
							c.kind, created.Name, created.Version, created.Type, len(created.Files), c.name, c.typ, c.files)
					}
					list := decode[[]tandem.Asset](t, mustRun(t, dir, envA, c.kind, "list", "-o", "json"))
					if !slices.ContainsFunc(list, func(a tandem.Asset) bool { return a.Name == c.name }) {
						t.Fatalf("list: got %d assets without %s", len(list), c.name)
					}

					// show -o yaml writes a document that create -f accepts back.
					shown := mustRun(t, dir, envA, c.kind, "show", "--name", c.name, "--version", "1", "-o", "yaml")
					if !strings.Contains(shown.stdout, "$schema:") || (c.files > 0 && !strings.Contains(shown.stdout, "azureml://datastores/workspaceblobstore/paths/")) {
						t.Fatalf("show -o yaml: got\n%s\nwant an Azure document with its storage URIs", shown.stdout)
					}
					yml := filepath.Join(dir, c.name+"-shown.yml")
					if err := os.WriteFile(yml, []byte(shown.stdout), 0o644); err != nil {
						t.Fatal(err)
					}
					again := mustRun(t, dir, envA, c.kind, "create", "-f", yml, "-o", "json")
					if !strings.Contains(again.stderr, "identical content") {
						t.Fatalf("re-create from show: stderr %q, want a no-op", again.stderr)
					}

					// Download, then register the download elsewhere: same bytes.
					dl := filepath.Join(dir, "dl-"+c.name)
					mustRun(t, dir, envA, c.kind, "download", "--name", c.name, "--version", "1", "--download-path", dl)
					downloaded := filepath.Join(dl, c.name, c.kind+".yml")
					envB := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "assets-b"}
					copied := decode[tandem.Asset](t, mustRun(t, dir, envB, c.kind, "create", "-f", downloaded, "-o", "json"))
					if got, want := fileDigests(copied.Files), fileDigests(created.Files); strings.Join(got, ",") != strings.Join(want, ",") {
						t.Fatalf("re-created from download: files %v, want %v", got, want)
					}
					same := mustRun(t, dir, envA, c.kind, "create", "-f", downloaded, "-o", "json")
					if !strings.Contains(same.stderr, "identical content") {
						t.Fatalf("re-create of the download in its own workspace: stderr %q, want a no-op", same.stderr)
					}
				})
			}

			// A different document under an existing version is refused.
			wantExit(t, dir, envA, 4, "already exists with different content",
				"model", "create", "-f", filepath.Join(corpus, "assets/model/local-mlflow.yml"), "--set", "version=1", "--set", "description=changed")
			// An unknown reference is NotFound, naming it.
			comp := filepath.Join(dir, "comp.yml")
			os.WriteFile(comp, []byte("$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\nname: c1\ntype: command\ncommand: echo hi\nenvironment: azureml:no-such-env:4\n"), 0o644)
			wantExit(t, dir, envA, 3, "no-such-env", "component", "create", "-f", comp)
			// A local path that does not exist: file:line, nothing registered.
			bad := filepath.Join(dir, "bad.yml")
			os.WriteFile(bad, []byte("name: ghost\ntype: custom_model\npath: ./nowhere.pkl\n"), 0o644)
			wantExit(t, dir, envA, 2, bad+":3:", "model", "create", "-f", bad)
			if list := decode[[]tandem.Asset](t, mustRun(t, dir, envA, "model", "list", "-o", "json")); len(list) != 1 {
				t.Fatalf("got %d models after failed creates, want 1", len(list))
			}
		})
	}
}
