package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stack is one backend combination a region runs on.
type stack struct{ name, db, storage string }

// stacks returns the embedded defaults and, where the services are
// available (scripts/test starts them), PostgreSQL with Azure Blob.
func stacks(t *testing.T) []stack {
	out := []stack{{name: "sqlite+file"}}
	for _, b := range sqltest.Backends() {
		if b == "postgres" {
			for _, s := range blobtest.Backends() {
				if s == "azblob" {
					out = append(out, stack{name: "postgres+azblob", db: "postgres", storage: "azblob"})
				}
			}
		}
	}
	return out
}

type running struct {
	*server.Server
	logs   *syncBuffer
	admin  *httpapi.Client
	secret string
}

func start(t *testing.T, st stack) *running {
	t.Helper()
	cfg := server.Config{Region: "westeurope", DataDir: t.TempDir(), Listen: "127.0.0.1:0"}
	if st.db != "" {
		cfg.DB = sqltest.DSN(t, st.db)
	}
	if st.storage != "" {
		cfg.Storage = blobtest.URL(t, st.storage)
	}
	logs := &syncBuffer{}
	cfg.LogOutput = logs
	s := server.New(cfg)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	b, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	return &running{Server: s, logs: logs, secret: secret, admin: httpapi.NewClient([]string{s.Endpoint()}, secret)}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func TestServer(t *testing.T) {
	for _, st := range stacks(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Run("AdminToken", func(t *testing.T) { testAdminToken(t, st) })
			t.Run("WorkspaceLifecycle", func(t *testing.T) { testWorkspaceLifecycle(t, st) })
			t.Run("Auth", func(t *testing.T) { testAuth(t, st) })
			t.Run("Notebooks", func(t *testing.T) { testNotebooks(t, st) })
			t.Run("Probes", func(t *testing.T) { testProbes(t, st) })
		})
	}
}

func testAdminToken(t *testing.T, st stack) {
	r := start(t, st)
	if !r.AdminTokenCreated() {
		t.Fatal("first start did not report creating the admin token")
	}
	fi, err := os.Stat(r.AdminTokenPath())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if !strings.HasPrefix(r.secret, "tdm_") {
		t.Fatalf("got token %q, want a tdm_ secret", r.secret)
	}
	if strings.Contains(r.logs.String(), r.secret) {
		t.Fatal("the admin token appears in the logs")
	}
	info, err := r.admin.Info(context.Background())
	if err != nil || info.Region != "westeurope" {
		t.Fatalf("Info: got %+v, %v", info, err)
	}
}

func testWorkspaceLifecycle(t *testing.T, st stack) {
	ctx := context.Background()
	c := start(t, st).admin
	ws := &tandem.Workspace{Name: "vision", Description: "computer vision", Tags: map[string]string{"team": "cv"}}
	if err := c.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if ws.ID == "" || ws.Region != "westeurope" || ws.Resources.Storage != "workspaces/"+ws.ID+"/" {
		t.Fatalf("created %+v, want id, region and storage prefix filled in", ws)
	}
	wantCode(t, c.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}), tandem.EConflict)
	wantCode(t, c.CreateWorkspace(ctx, &tandem.Workspace{Name: "no"}), tandem.EInvalid)

	desc := "cv team"
	if got, err := c.UpdateWorkspace(ctx, "vision", tandem.WorkspaceUpdate{Description: &desc}); err != nil || got.Description != desc || got.Tags["team"] != "cv" {
		t.Fatalf("UpdateWorkspace: got %+v, %v", got, err)
	}
	if got, err := c.UpdateWorkspace(ctx, "vision", tandem.WorkspaceUpdate{Tags: map[string]string{}}); err != nil || len(got.Tags) != 0 || got.Description != desc {
		t.Fatalf("clearing tags: got %+v, %v; want no tags and the description kept", got, err)
	}
	del, err := c.DeleteWorkspace(ctx, "vision", tandem.DeleteOptions{})
	if err != nil || del.DeletedAt == nil || del.PurgeAt == nil || del.PurgeAt.Sub(*del.DeletedAt) != 14*24*time.Hour {
		t.Fatalf("DeleteWorkspace: got %+v, %v; want 14 days of retention", del, err)
	}
	live, _ := c.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
	deleted, _ := c.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
	if len(live) != 0 || len(deleted) != 1 {
		t.Fatalf("got %d live and %d deleted, want 0 and 1", len(live), len(deleted))
	}
	wantCode(t, c.PurgeWorkspace(ctx, "nope", tandem.PurgeOptions{}), tandem.ENotFound)
	if _, err := c.RecoverWorkspace(ctx, "vision"); err != nil {
		t.Fatal(err)
	}
	_, err = c.RecoverWorkspace(ctx, "vision")
	wantCode(t, err, tandem.EConflict)
	wantCode(t, c.PurgeWorkspace(ctx, "vision", tandem.PurgeOptions{}), tandem.EConflict)
	if _, err := c.DeleteWorkspace(ctx, "vision", tandem.DeleteOptions{Permanent: true}); err != nil {
		t.Fatal(err)
	}
	_, err = c.FindWorkspace(ctx, "vision")
	wantCode(t, err, tandem.ENotFound)
}

func testAuth(t *testing.T, st stack) {
	ctx := context.Background()
	r := start(t, st)
	for _, secret := range []string{"", "tdm_not-a-token"} {
		_, err := httpapi.NewClient([]string{r.Endpoint()}, secret).ListWorkspaces(ctx, tandem.WorkspaceFilter{})
		wantCode(t, err, tandem.EUnauthorized)
	}
	for _, name := range []string{"a1x", "b2x"} {
		if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	tok, secret, err := r.admin.CreateToken(ctx, "ci", "a1x")
	if err != nil || tok.Workspace != "a1x" || secret == "" {
		t.Fatalf("CreateToken: got %+v, %q, %v", tok, secret, err)
	}
	scoped := httpapi.NewClient([]string{r.Endpoint()}, secret)
	list, err := scoped.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
	if err != nil || len(list) != 1 || list[0].Name != "a1x" {
		t.Fatalf("scoped list: got %d workspaces, %v; want only a1x", len(list), err)
	}
	wantCode(t, scoped.CreateWorkspace(ctx, &tandem.Workspace{Name: "c3x"}), tandem.EForbidden)
	if err := r.admin.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	_, err = scoped.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
	wantCode(t, err, tandem.EUnauthorized)
}

func testNotebooks(t *testing.T, st stack) {
	ctx := context.Background()
	r := start(t, st)
	c := r.admin
	ws := &tandem.Workspace{Name: "nbws"}
	if err := c.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 256*1024) // 4 MiB
	nb, err := c.UploadNotebook(ctx, "nbws", "experiments/train 1.ipynb", bytes.NewReader(body))
	if err != nil || nb.Size != int64(len(body)) {
		t.Fatalf("UploadNotebook: got %+v, %v", nb, err)
	}
	list, err := c.ListNotebooks(ctx, "nbws")
	if err != nil || len(list) != 1 || list[0].Path != "experiments/train 1.ipynb" || list[0].SHA256 != nb.SHA256 {
		t.Fatalf("ListNotebooks: got %+v, %v", list, err)
	}
	_, rc, err := c.OpenNotebook(ctx, "nbws", "experiments/train 1.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("download: got %d bytes, %v; want %d", len(got), err, len(body))
	}
	if st.storage == "" {
		// The share is readable with ordinary tools at its documented path.
		p := filepath.Join(r.Config.DataDir, "storage", "workspaces", ws.ID, "notebooks", "experiments", "train 1.ipynb")
		onDisk, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(onDisk, body) {
			t.Fatalf("read %s: %d bytes, %v", p, len(onDisk), err)
		}
	}
	_, err = c.UploadNotebook(ctx, "nbws", "../escape", strings.NewReader("x"))
	wantCode(t, err, tandem.EInvalid)
}

func testProbes(t *testing.T, st stack) {
	r := start(t, st)
	get := func(path string, auth bool) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, r.Endpoint()+path, nil)
		if auth {
			req.Header.Set("Authorization", "Bearer "+r.secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &body)
		if body == nil {
			body = map[string]any{"raw": string(b)}
		}
		return resp.StatusCode, body
	}
	if code, _ := get("/healthz", false); code != 200 {
		t.Fatalf("healthz: got %d, want 200", code)
	}
	if code, body := get("/readyz", false); code != 200 {
		t.Fatalf("readyz: got %d %v, want 200", code, body)
	}
	if code, body := get("/v1/workspaces", false); code != 401 || body["code"] != "Unauthorized" {
		t.Fatalf("no token: got %d %v, want 401 Unauthorized", code, body)
	}
	if code, body := get("/v1/nothing", true); code != 404 || body["code"] != "NotFound" || body["message"] == "" {
		t.Fatalf("unknown route: got %d %v, want a 404 JSON error", code, body)
	}
	if code, body := get("/v1/tokens/x", true); code != 405 || body["code"] != "MethodNotAllowed" {
		t.Fatalf("wrong method: got %d %v, want a 405 JSON error", code, body)
	}
	if code, body := get("/metrics", false); code != 200 || !strings.Contains(body["raw"].(string), "tandem_http_requests_total") {
		t.Fatalf("metrics: got %d, want Prometheus text with tandem_http_requests_total", code)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrUnwritableDataDir", func(t *testing.T) {
		// A path under a regular file fails even for root.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o600)
		s := server.New(server.Config{DataDir: filepath.Join(file, "data"), Listen: "127.0.0.1:0", LogOutput: io.Discard})
		err := s.Open(ctx)
		if err == nil || !strings.Contains(err.Error(), "data directory") {
			t.Fatalf("got %v, want a data directory error", err)
		}
	})
	t.Run("ErrBadDB", func(t *testing.T) {
		dir := t.TempDir()
		s := server.New(server.Config{DataDir: dir, DB: "mysql://x", Listen: "127.0.0.1:0", LogOutput: io.Discard})
		err := s.Open(ctx)
		if err == nil || !strings.Contains(err.Error(), "mysql") {
			t.Fatalf("got %v, want an error naming the unsupported database URL", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.token")); !os.IsNotExist(err) {
			t.Fatalf("admin.token exists after a failed start (%v); want nothing half-created", err)
		}
	})
	t.Run("ErrListen", func(t *testing.T) {
		r := start(t, stack{name: "sqlite+file"})
		s := server.New(server.Config{DataDir: t.TempDir(), Listen: r.Addr(), LogOutput: io.Discard})
		dir := s.Config.DataDir
		if err := s.Open(ctx); err == nil || !strings.Contains(err.Error(), "listen") {
			t.Fatalf("got %v, want a listen error", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.token")); !os.IsNotExist(err) {
			t.Fatalf("admin.token exists after a failed start (%v); want nothing half-created", err)
		}
	})
}
