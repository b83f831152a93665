package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/cli/cmd/version"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// background is a command running in a goroutine, such as `tandem server`.
type background struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

// start runs args in dir until the test ends or stop is called.
func start(t *testing.T, dir string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		b.done <- Run(ctx, args, Env{Stdout: b.stdout, Stderr: b.stderr, Dir: dir})
	}()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// waitFor waits until stdout contains s and returns stdout.
func (b *background) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if out := b.stdout.String(); strings.Contains(out, s) {
			return out
		}
		select {
		case code := <-b.done:
			b.done <- code
			t.Fatalf("command exited with %d before printing %q\nstdout: %s\nstderr: %s", code, s, b.stdout, b.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %q in stdout after 15s\nstdout: %s\nstderr: %s", s, b.stdout, b.stderr)
	return ""
}

// stop interrupts the command and returns its exit status.
func (b *background) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.done:
		b.done <- code
		return code
	case <-time.After(20 * time.Second):
		t.Fatal("command did not stop within 20s of being interrupted")
		return -1
	}
}

var listeningRE = regexp.MustCompile(`(?m)^listening on (http://\S+)$`)

// startServer runs `tandem server` on a free port with its data in a new
// directory and returns its endpoint and admin token.
func startServer(t *testing.T, extra ...string) (srv *background, endpoint, token string) {
	t.Helper()
	data := t.TempDir()
	srv = start(t, data, append([]string{"server", "--listen", "127.0.0.1:0", "--data", "data"}, extra...)...)
	out := srv.waitFor(t, "admin token: ")
	m := listeningRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no listening line in %q", out)
	}
	tokenPath := filepath.Join(data, "data", "admin.token")
	if !strings.Contains(out, "admin token: "+tokenPath+" (created)") {
		t.Fatalf("stdout %q does not name the created admin token %s", out, tokenPath)
	}
	secret, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+srv.stderr.String(), strings.TrimSpace(string(secret))) {
		t.Fatal("the server printed the admin token itself")
	}
	return srv, m[1], strings.TrimSpace(string(secret))
}

// mustRun runs a command and fails the test unless it exits 0.
func mustRun(t *testing.T, dir string, env map[string]string, args ...string) result {
	t.Helper()
	r := runCLI(t, dir, env, "", args...)
	if r.code != 0 {
		t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// wantExit runs a command and fails the test unless it exits with code and
// prints msg in its one-line error.
func wantExit(t *testing.T, dir string, env map[string]string, code int, msg string, args ...string) {
	t.Helper()
	r := runCLI(t, dir, env, "", args...)
	if r.code != code || !strings.Contains(r.stderr, msg) {
		t.Fatalf("%v: exit %d, stderr %q; want %d and %q", args, r.code, r.stderr, code, msg)
	}
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r.stdout)
	}
	return v
}

// stacks returns the server flags of every backend combination available:
// the embedded defaults always, PostgreSQL with Azure Blob (Azurite) when
// scripts/test has started them.
func stacks(t *testing.T) map[string][]string {
	out := map[string][]string{"sqlite+file": nil}
	if slices.Contains(sqltest.Backends(), "postgres") && slices.Contains(blobtest.Backends(), "azblob") {
		out["postgres+azblob"] = []string{"--db", sqltest.DSN(t, "postgres"), "--storage", blobtest.URL(t, "azblob")}
	}
	return out
}

func TestE2EServer(t *testing.T) {
	for name, flags := range stacks(t) {
		t.Run(name, func(t *testing.T) { testE2EServer(t, flags) })
	}
}

func testE2EServer(t *testing.T, flags []string) {
	srv, endpoint, token := startServer(t, flags...)
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
	dir := t.TempDir()

	t.Run("Version", func(t *testing.T) {
		v := decode[version.Info](t, mustRun(t, dir, env, "version", "-o", "json"))
		if v.Server == nil || v.Server.Region != "local" || v.Server.Endpoint != endpoint {
			t.Fatalf("got %+v, want the server's region and endpoint", v.Server)
		}
	})

	t.Run("WorkspaceLifecycle", func(t *testing.T) {
		w := decode[tandem.Workspace](t, mustRun(t, dir, env,
			"workspace", "create", "--name", "mlw-e2e", "--description", "end to end", "--tags", "team=vision", "stage=dev", "-o", "json"))
		if w.ID == "" || w.Tags["stage"] != "dev" || w.Description != "end to end" {
			t.Fatalf("created %+v", w)
		}
		wantExit(t, dir, env, 4, "", "workspace", "create", "--name", "mlw-e2e")

		list := decode[[]tandem.Workspace](t, mustRun(t, dir, env, "workspace", "list", "-o", "json"))
		if len(list) != 1 || list[0].Name != "mlw-e2e" {
			t.Fatalf("list = %+v, want mlw-e2e", list)
		}
		r := mustRun(t, dir, env, "workspace", "update", "--name", "mlw-e2e", "--display-name", "E2E", "-o", "yaml")
		if !strings.Contains(r.stdout, "display_name: E2E") {
			t.Fatalf("update printed %s", r.stdout)
		}
		// The configured workspace is the default name for show.
		wsEnv := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-e2e"}
		if r := mustRun(t, dir, wsEnv, "workspace", "show"); !strings.Contains(r.stdout, "E2E") {
			t.Fatalf("show printed %s", r.stdout)
		}

		wantExit(t, dir, env, 2, "pass --yes", "workspace", "delete", "--name", "mlw-e2e")
		mustRun(t, dir, env, "workspace", "delete", "--name", "mlw-e2e", "--yes")
		wantExit(t, dir, env, 3, "", "workspace", "show", "--name", "mlw-e2e")
		r = mustRun(t, dir, env, "workspace", "list", "--deleted")
		if !strings.Contains(r.stdout, "PURGE AT") || !strings.Contains(r.stdout, "mlw-e2e") {
			t.Fatalf("list --deleted printed %s", r.stdout)
		}
		wantExit(t, dir, env, 4, "soft-deleted", "workspace", "create", "--name", "mlw-e2e")
		mustRun(t, dir, env, "workspace", "recover", "--name", "mlw-e2e")
		wantExit(t, dir, env, 4, "", "workspace", "recover", "--name", "mlw-e2e")
		wantExit(t, dir, env, 4, "", "workspace", "purge", "--name", "mlw-e2e", "--yes")
		mustRun(t, dir, env, "workspace", "delete", "--name", "mlw-e2e", "--permanently-delete", "--yes")
		if r := mustRun(t, dir, env, "workspace", "list", "--deleted", "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
			t.Fatalf("list --deleted after permanent delete = %s, want []", r.stdout)
		}
		wantExit(t, dir, env, 3, `"nope-ws"`, "workspace", "show", "--name", "nope-ws")
	})

	t.Run("WriteConfig", func(t *testing.T) {
		// A config.json with a token file: --write-config keeps the token
		// file and the endpoints, and names the new workspace.
		tokenFile := filepath.Join(dir, "admin.token")
		os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
		cfgDir := filepath.Join(dir, "project")
		cmdtest.WriteFiles(t, cfgDir, map[string]string{"config.json": `{"endpoints": ["` + endpoint + `"], "token_file": "../admin.token"}`})
		mustRun(t, cfgDir, nil, "workspace", "create", "--name", "mlw-cfg", "--write-config")
		cfg, err := cmdutil.LoadConfig(filepath.Join(cfgDir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.WorkspaceName != "mlw-cfg" || !slices.Equal(cfg.Endpoints, []string{endpoint}) || cfg.TokenFile != tokenFile {
			t.Fatalf("wrote %+v", cfg)
		}
		// From a subdirectory, the written config is found by walking up.
		sub := filepath.Join(cfgDir, "a", "b")
		os.MkdirAll(sub, 0o755)
		if r := mustRun(t, sub, nil, "workspace", "show", "-o", "json"); !strings.Contains(r.stdout, `"name": "mlw-cfg"`) {
			t.Fatalf("show from a subdirectory printed %s", r.stdout)
		}
		// A token given directly is never written to config.json.
		other := t.TempDir()
		mustRun(t, other, env, "workspace", "create", "--name", "mlw-cfg2", "--write-config")
		data, _ := os.ReadFile(filepath.Join(other, "config.json"))
		if strings.Contains(string(data), token) || strings.Contains(string(data), "token_file") {
			t.Fatalf("config.json holds a token or a token file: %s", data)
		}
	})

	t.Run("Tokens", func(t *testing.T) {
		mustRun(t, dir, env, "workspace", "create", "--name", "mlw-tok")
		mustRun(t, dir, env, "workspace", "create", "--name", "mlw-other")
		r := mustRun(t, dir, env, "token", "create", "--name", "ci", "--workspace", "mlw-tok", "-o", "json")
		got := decode[map[string]string](t, r)
		if len(got) != 2 || got["name"] != "ci" || got["token"] == "" {
			t.Fatalf("token create -o json = %s, want exactly name and token", r.stdout)
		}
		scoped := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: got["token"]}
		mustRun(t, dir, scoped, "workspace", "show", "--name", "mlw-tok")
		wantExit(t, dir, scoped, 3, "", "workspace", "show", "--name", "mlw-other") // other workspaces are invisible
		wantExit(t, dir, scoped, 5, "region admin", "workspace", "create", "--name", "mlw-more")

		// TANDEM_WORKSPACE does not scope a token; only --workspace does.
		adminEnv := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-tok"}
		mustRun(t, dir, adminEnv, "token", "create", "--name", "admin2")
		list := decode[[]tandem.Token](t, mustRun(t, dir, env, "token", "list", "-o", "json"))
		for _, tok := range list {
			if tok.Name == "admin2" && !tok.Admin() {
				t.Fatalf("token admin2 is scoped to %q, want a region admin token", tok.Workspace)
			}
		}
		mustRun(t, dir, env, "token", "revoke", "--name", "ci")
		wantExit(t, dir, scoped, 5, "", "workspace", "show", "--name", "mlw-tok")
		wantExit(t, dir, env, 3, "", "token", "revoke", "--name", "ci")
	})

	t.Run("Notebooks", func(t *testing.T) {
		mustRun(t, dir, env, "workspace", "create", "--name", "mlw-nb")
		nbEnv := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-nb"}
		local := t.TempDir()
		files := map[string]string{
			"train.ipynb":          `{"cells": []}`,
			"exp/a.ipynb":          "a",
			"exp/deep/b.py":        strings.Repeat("b", 100_000),
			"exp/deep/empty.txt":   "",
			"exp/with space.ipynb": "space",
		}
		cmdtest.WriteFiles(t, local, files)
		mustRun(t, local, nbEnv, "notebook", "upload", "--path", "train.ipynb")
		up := decode[[]tandem.Notebook](t, mustRun(t, local, nbEnv, "notebook", "upload", "--path", "exp", "--dest", "team/exp", "-o", "json"))
		if len(up) != 4 {
			t.Fatalf("uploaded %d files, want 4: %+v", len(up), up)
		}
		list := decode[[]tandem.Notebook](t, mustRun(t, local, nbEnv, "notebook", "list", "-o", "json"))
		var paths []string
		for _, nb := range list {
			paths = append(paths, nb.Path)
		}
		want := []string{"team/exp/a.ipynb", "team/exp/deep/b.py", "team/exp/deep/empty.txt", "team/exp/with space.ipynb", "train.ipynb"}
		if !slices.Equal(paths, want) {
			t.Fatalf("list = %v, want %v", paths, want)
		}

		out := t.TempDir()
		mustRun(t, out, nbEnv, "notebook", "download", "--path", "train.ipynb", "--dest", "copy.ipynb")
		mustRun(t, out, nbEnv, "notebook", "download", "--path", "team/exp", "--dest", "exp")
		for rel, content := range files {
			name := rel
			if rel == "train.ipynb" {
				name = "copy.ipynb"
			}
			got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
			if err != nil || string(got) != content {
				t.Errorf("downloaded %s: %d bytes, %v; want %d bytes", name, len(got), err, len(content))
			}
		}
		wantExit(t, out, nbEnv, 3, `no notebook file or folder "nope"`, "notebook", "download", "--path", "nope")
		wantExit(t, out, nbEnv, 3, "", "notebook", "upload", "--path", "missing.ipynb")
		wantExit(t, out, nil, 5, "no token found", "notebook", "list", "--endpoint", endpoint, "--workspace", "mlw-nb")
	})

	if code := srv.stop(t); code != 0 {
		t.Fatalf("server exited with %d after interrupt, want 0; stderr: %s", code, srv.stderr)
	}
}

func TestE2EServerBadInput(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"BadDB", []string{"server", "--listen", "127.0.0.1:0", "--data", "d1", "--db", "bogus://x"}, 2, "bogus://x"},
		{"UnwritableData", []string{"server", "--listen", "127.0.0.1:0", "--data", "file/sub"}, 1, "data directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, dir, nil, "", tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.msg)
			}
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[len(lines)-1], "tandem: ") {
				t.Fatalf("stderr %q does not end with a one-line error", r.stderr)
			}
		})
	}
}

func TestE2EUp(t *testing.T) {
	dir := t.TempDir()
	up := start(t, dir, "up", "--listen", "127.0.0.1:0")
	out := up.waitFor(t, "Press Ctrl+C to stop.")
	for _, want := range []string{
		"Workspace:   default (created)",
		"(created)",
		filepath.Join(dir, "config.json") + " (written)",
		"tandem workspace list",
		"tandem notebook upload --path x.ipynb",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("up printed no %q:\n%s", want, out)
		}
	}
	endpoint := listeningRE.FindStringSubmatch(out)[1]
	cfg, err := cmdutil.LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tandem-data", "admin.token")
	if cfg.WorkspaceName != "default" || !slices.Equal(cfg.Endpoints, []string{endpoint}) || cfg.TokenFile != tokenFile {
		t.Fatalf("config.json = %+v, want workspace default, endpoint %s, token file %s", cfg, endpoint, tokenFile)
	}
	uri := endpoint + "/mlflow/workspaces/default"
	if cfg.MLflowTrackingURI != uri || !strings.Contains(out, "MLflow URI:  "+uri) {
		t.Fatalf("config.json's mlflow_tracking_uri = %q, want %q; up printed:\n%s", cfg.MLflowTrackingURI, uri, out)
	}
	r := mustRun(t, dir, nil, "workspace", "show", "-o", "json")
	if ws := decode[tandem.Workspace](t, r); ws.MLflowTrackingURI != uri {
		t.Fatalf("workspace show -o json: mlflow_tracking_uri %q, want %q", ws.MLflowTrackingURI, uri)
	}
	if r := mustRun(t, dir, nil, "workspace", "show"); !strings.Contains(r.stdout, "MLflow tracking URI:") || !strings.Contains(r.stdout, uri) {
		t.Fatalf("workspace show prints no tracking URI:\n%s", r.stdout)
	}

	// The next commands it suggests work from here, with no flags or env.
	r = mustRun(t, dir, nil, "workspace", "list", "-o", "json")
	if list := decode[[]tandem.Workspace](t, r); len(list) != 1 || list[0].Name != "default" {
		t.Fatalf("workspace list = %s", r.stdout)
	}
	cmdtest.WriteFiles(t, dir, map[string]string{"x.ipynb": "{}"})
	mustRun(t, dir, nil, "notebook", "upload", "--path", "x.ipynb")
	if code := up.stop(t); code != 0 {
		t.Fatalf("up exited with %d after interrupt, want 0; stderr: %s", code, up.stderr)
	}

	// A second start reuses the token and the workspace.
	up2 := start(t, dir, "up", "--listen", "127.0.0.1:0")
	out = up2.waitFor(t, "Press Ctrl+C to stop.")
	if strings.Contains(out, "(created)") {
		t.Errorf("second up created something:\n%s", out)
	}
	up2.stop(t)

	// A config.json that is not Tandem's is left alone.
	azure := t.TempDir()
	const azureConfig = `{"subscription_id": "s", "resource_group": "r", "workspace_name": "mlw"}`
	cmdtest.WriteFiles(t, azure, map[string]string{"config.json": azureConfig})
	up3 := start(t, azure, "up", "--listen", "127.0.0.1:0")
	out = up3.waitFor(t, "Press Ctrl+C to stop.")
	if !strings.Contains(out, "is not Tandem's: left it unchanged") || !strings.Contains(out, "export "+cmdutil.EnvEndpoint+"=") {
		t.Errorf("up did not explain the foreign config.json:\n%s", out)
	}
	if data, _ := os.ReadFile(filepath.Join(azure, "config.json")); string(data) != azureConfig {
		t.Errorf("config.json changed to %s", data)
	}
	up3.stop(t)
}
