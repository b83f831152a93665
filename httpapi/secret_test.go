package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/secrets"
	"github.com/tandemml/tandem/sqlstore/sqltest"
	"github.com/tandemml/tandem/vault"
)

// secretServer serves the API over a real region (SQLite, memory blobs, a
// key file) and returns its URL and an admin token.
func secretServer(t *testing.T, withSecrets bool) (string, string) {
	t.Helper()
	ctx := context.Background()
	blobs, err := blobstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	r := region.New("eastus", sqltest.Open(t, sqltest.SQLite), blobs)
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if r.Vault, err = vault.OpenKeyFile(filepath.Join(t.TempDir(), "vault.key")); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateWorkspace(ctx, &tandem.Workspace{Name: "ws1"}); err != nil {
		t.Fatal(err)
	}
	_, admin, err := r.CreateToken(ctx, "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	api := &httpapi.Server{Workspaces: r, Tokens: r, Notebooks: r, Auth: r, Info: r.Info, Logger: r.Logger}
	if withSecrets {
		api.Secrets = secrets.New(r)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, admin
}

func send(t *testing.T, method, url, token string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestSecretsAPI(t *testing.T) {
	url, token := secretServer(t, true)
	ctx := context.Background()
	c := httpapi.NewClient([]string{url}, token)

	value := make([]byte, 256)
	for i := range value {
		value[i] = byte(i)
	}
	sec, err := c.SetSecret(ctx, "ws1", "binary", value)
	if err != nil || sec.Version != 1 || sec.Name != "binary" {
		t.Fatalf("SetSecret: got %+v, %v", sec, err)
	}
	got, err := c.GetSecretValue(ctx, "ws1", "binary")
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("GetSecretValue: got %v, %v; want every byte value back", got, err)
	}
	if l, err := c.ListSecrets(ctx, "ws1"); err != nil || len(l) != 1 {
		t.Fatalf("ListSecrets: got %v, %v", l, err)
	}
	if _, err := c.FindSecret(ctx, "ws1", "binary"); err != nil {
		t.Fatal(err)
	}
	rot, err := c.RotateKey(ctx)
	if err != nil || rot.Secrets != 1 || len(rot.RetiredKeys) != 1 {
		t.Fatalf("RotateKey: got %+v, %v", rot, err)
	}
	if err := c.DeleteSecret(ctx, "ws1", "binary"); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, "ws1", "binary")
	if tandem.ErrorCode(err) != tandem.ENotFound {
		t.Fatalf("got %v after delete, want NotFound", err)
	}
	_, err = c.FindSecret(ctx, "ws1", "a/b")
	if tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("got %v for a name with a slash, want Invalid", err)
	}

	t.Run("Statuses", func(t *testing.T) {
		base := url + "/v1/workspaces/ws1/secrets/"
		resp, _ := send(t, "PUT", base+"s", token, []byte("one"))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("first PUT: got %d, want 201", resp.StatusCode)
		}
		resp, body := send(t, "PUT", base+"s", token, []byte("two"))
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "two") {
			t.Fatalf("second PUT: got %d %s, want 200 with metadata only", resp.StatusCode, body)
		}
		resp, body = send(t, "GET", base+"s/value", token, nil)
		if resp.StatusCode != 200 || string(body) != "two" || resp.Header.Get("Cache-Control") != "no-store" ||
			resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("GET value: got %d %q %v", resp.StatusCode, body, resp.Header)
		}
		for _, tt := range []struct {
			method, path string
			body         []byte
			status       int
			code         string
		}{
			{"PUT", base + "big", make([]byte, tandem.MaxSecretValue+1), http.StatusRequestEntityTooLarge, tandem.ETooLarge},
			{"PUT", base + "big", make([]byte, 10<<20), http.StatusRequestEntityTooLarge, tandem.ETooLarge},
			{"PUT", base + "empty", nil, http.StatusBadRequest, tandem.EInvalid},
			{"PUT", base + "bad_name", []byte("x"), http.StatusBadRequest, tandem.EInvalid},
			{"PUT", url + "/v1/workspaces/nope/secrets/s", []byte("x"), http.StatusNotFound, tandem.ENotFound},
			{"POST", base + "s", nil, http.StatusMethodNotAllowed, tandem.EMethod},
			{"GET", url + "/v1/vault/rotate-key", nil, http.StatusMethodNotAllowed, tandem.EMethod},
		} {
			resp, body := send(t, tt.method, tt.path, token, tt.body)
			var e tandem.Error
			json.Unmarshal(body, &e)
			if resp.StatusCode != tt.status || e.Code != tt.code {
				t.Errorf("%s %s: got %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.code)
			}
		}
	})
}

func TestSecretsAPI_ErrNoVault(t *testing.T) {
	url, token := secretServer(t, false)
	resp, body := send(t, "GET", url+"/v1/workspaces/ws1/secrets", token, nil)
	var e tandem.Error
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Code != tandem.EUnavailable {
		t.Fatalf("got %d %s, want 503 Unavailable", resp.StatusCode, body)
	}
}
