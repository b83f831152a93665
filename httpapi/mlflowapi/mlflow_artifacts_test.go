package mlflowapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/httpapi/mlflowapi"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// mlflowServer serves the API over a whole region (SQLite, memory blobs)
// with workspace "mlw" and a queued job "run1", and returns its URL and a
// token of the workspace.
func mlflowServer(t *testing.T) (*apptest.Region, string, string) {
	t.Helper()
	ctx := context.Background()
	blobs, err := blobstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	r := apptest.New("eastus", sqltest.Open(t, sqltest.SQLite), blobs)
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	apptest.MustCreate(t, r, "mlw")
	if _, err := r.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"})); err != nil {
		t.Fatal(err)
	}
	_, token, err := r.CreateToken(ctx, "ci", "mlw")
	if err != nil {
		t.Fatal(err)
	}
	a := r.App
	api := &httpapi.Server{Workspaces: r.Kernel, Tokens: r.Kernel, Auth: r.Kernel, Info: r.Kernel.Info, Logger: r.Logger,
		Assets: a.Assets, Jobs: a.Jobs, Runs: a.Tracking,
		MLflow: &mlflowapi.Handler{Auth: r.Kernel, Logger: r.Logger,
			Runs: a.Tracking, Experiments: a.Tracking, MLflowRuns: a.Tracking, Artifacts: a.Tracking, Registry: a.Assets}}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return r, srv.URL, token
}

// mlflowCall sends one request as MLflow's Python client does and decodes
// a JSON answer into out (when not nil); it returns the status.
func mlflowCall(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "mlflow-python-client/2.17.0")
	if body != "" && method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

type mlflowErr struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

type artifactList struct {
	Files []struct {
		Path     string `json:"path"`
		IsDir    bool   `json:"is_dir"`
		FileSize *int64 `json:"file_size"`
	} `json:"files"`
}

// logArtifacts replays mlflow.log_artifacts("model", "model") against an
// mlflow-artifacts:/0/run1/artifacts run: one PUT per file.
func logArtifacts(t *testing.T, url, token string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		var out map[string]any
		if code := mlflowCall(t, "PUT", url+"/api/2.0/mlflow-artifacts/artifacts/0/run1/artifacts/"+p, token, body, &out); code != 200 || len(out) != 0 {
			t.Fatalf("PUT %s: %d %v", p, code, out)
		}
	}
}

func TestMLflowArtifactProxy(t *testing.T) {
	r, url, token := mlflowServer(t)
	base := url + "/api/2.0/mlflow-artifacts/artifacts"
	logArtifacts(t, url, token, map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.pkl": "pickle", "notes.txt": "hi"})

	// mlflow.artifacts.list_artifacts / the UI: base names, sizes of files.
	var l artifactList
	if code := mlflowCall(t, "GET", base+"?path=0/run1/artifacts", token, "", &l); code != 200 {
		t.Fatalf("list: %d", code)
	}
	if len(l.Files) != 2 || l.Files[0].Path != "model" || !l.Files[0].IsDir || l.Files[0].FileSize != nil ||
		l.Files[1].Path != "notes.txt" || l.Files[1].IsDir || l.Files[1].FileSize == nil || *l.Files[1].FileSize != 2 {
		t.Fatalf("list of the root: %+v", l)
	}
	l = artifactList{}
	mlflowCall(t, "GET", base+"?path=0/run1/artifacts/model", token, "", &l)
	if len(l.Files) != 2 || l.Files[0].Path != "MLmodel" || l.Files[1].Path != "model.pkl" || *l.Files[1].FileSize != 6 {
		t.Fatalf("list of model/: %+v", l)
	}
	l = artifactList{}
	if code := mlflowCall(t, "GET", base+"?path=0/run1/artifacts/empty", token, "", &l); code != 200 || l.Files == nil || len(l.Files) != 0 {
		t.Fatalf("list of a missing dir: %d %+v", code, l)
	}

	// Download: the bytes.
	req, _ := http.NewRequest("GET", base+"/0/run1/artifacts/model/model.pkl", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "pickle" {
		t.Fatalf("download: %d %q", resp.StatusCode, b)
	}

	// Stored bytes that changed behind Tandem's back: a small artifact is
	// an error answer, a large one a cut download.
	big := strings.Repeat("b", 100<<10)
	logArtifacts(t, url, token, map[string]string{"big.bin": big})
	ws, err := r.FindWorkspace(context.Background(), "mlw")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"notes.txt", "big.bin"} {
		key := tandem.StoragePrefix(ws.ID) + "runs/run1/outputs/" + name
		if _, err := r.Blobs.Put(context.Background(), key, strings.NewReader(strings.Repeat("x", 3)+big[3:]), nil); err != nil {
			t.Fatal(err)
		}
	}
	var corrupt mlflowErr
	if code := mlflowCall(t, "GET", base+"/0/run1/artifacts/notes.txt", token, "", &corrupt); code != 500 || corrupt.ErrorCode != "INTERNAL_ERROR" {
		t.Fatalf("corrupt small artifact: %d %+v", code, corrupt)
	}
	req, _ = http.NewRequest("GET", base+"/0/run1/artifacts/big.bin", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("corrupt large artifact downloaded whole: %d, %d bytes", resp.StatusCode, len(b))
		}
	}

	// Errors in MLflow's shape.
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/0/run1/artifacts/nope", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PUT", "/0/nosuchrun/artifacts/a", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PUT", "/0/run1/elsewhere/a", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "?path=", 400, "INVALID_PARAMETER_VALUE"},
		{"DELETE", "/0/run1/artifacts/nope", 404, "RESOURCE_DOES_NOT_EXIST"},
	} {
		var e mlflowErr
		if got := mlflowCall(t, c.method, base+c.path, token, "x", &e); got != c.status || e.ErrorCode != c.code || e.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, got, e, c.status, c.code)
		}
	}
	var e mlflowErr
	if got := mlflowCall(t, "PUT", base+"/0/run1/artifacts/a", "", "x", &e); got != 401 || e.ErrorCode != "UNAUTHENTICATED" {
		t.Errorf("PUT without a token: %d %+v", got, e)
	}

	// Delete a directory: mlflow.artifacts / MlflowClient.delete_artifacts.
	var out map[string]any
	if code := mlflowCall(t, "DELETE", base+"/0/run1/artifacts/model", token, "", &out); code != 200 {
		t.Fatalf("delete: %d %v", code, out)
	}
	l = artifactList{}
	mlflowCall(t, "GET", base+"?path=0/run1/artifacts", token, "", &l)
	if len(l.Files) != 2 || l.Files[0].Path != "big.bin" || l.Files[1].Path != "notes.txt" {
		t.Fatalf("after delete: %+v", l)
	}
}
