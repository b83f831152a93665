package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// TestMLflowArtifactsAndRegistryReplicate logs artifacts through MLflow's
// artifact proxy and registers a model from them in a paired primary, and
// reads all of it back on the secondary: the artifact bytes (verified),
// the job's files (`tandem job download`), the registered model with its
// alias and the model version with its lineage. The secondary refuses
// registry writes in MLflow's shape; the digests agree.
func TestMLflowArtifactsAndRegistryReplicate(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	_, token, err := east.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotWarm}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreateJob(ctx, "vision", &tandem.JobRequest{Spec: map[string]any{
		"type": "command", "name": "train", "command": "true", "environment": map[string]any{"image": "library/python:latest"}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := east.admin.FindJob(ctx, "vision", "train")
		if err != nil {
			t.Fatal(err)
		}
		if tandem.JobDone(j.Status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job stuck in %s", j.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}

	call := func(r *running, method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, r.Endpoint()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	const art = "/api/2.0/mlflow-artifacts/artifacts/0/train/artifacts/"
	for p, body := range map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.pkl": "weights"} {
		if status, b := call(east, "PUT", art+p, body); status != 200 {
			t.Fatalf("PUT %s: %d %s", p, status, b)
		}
	}
	for _, c := range []struct{ path, body string }{
		{"registered-models/create", `{"name":"clf"}`},
		{"model-versions/create", `{"name":"clf","source":"runs:/train/model","run_id":"train"}`},
		{"registered-models/alias", `{"name":"clf","alias":"champion","version":"1"}`},
	} {
		if status, b := call(east, "POST", "/api/2.0/mlflow/"+c.path, c.body); status != 200 {
			t.Fatalf("%s: %d %s", c.path, status, b)
		}
	}
	waitConverged(t, east, west, ws.ID)

	if status, b := call(west, "GET", art+"model/model.pkl", ""); status != 200 || string(b) != "weights" {
		t.Fatalf("artifact on the secondary: %d %q", status, b)
	}
	files, err := west.admin.ListJobFiles(ctx, "vision", "train")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range files {
		found = found || f.Path == "outputs/model/model.pkl"
	}
	if !found {
		t.Fatalf("job files on the secondary lack the artifact: %+v", files)
	}
	status, b := call(west, "GET", "/api/2.0/mlflow/registered-models/alias?name=clf&alias=champion", "")
	var got struct {
		ModelVersion struct{ Version, Status, RunID string } `json:"model_version"`
	}
	json.Unmarshal(b, &got)
	if status != 200 || got.ModelVersion.Version != "1" || got.ModelVersion.Status != "READY" {
		t.Fatalf("model version by alias on the secondary: %d %s", status, b)
	}
	a, err := west.admin.FindAsset(ctx, "vision", tandem.KindModel, "clf", "1", "")
	if err != nil || a.JobName != "train" || len(a.Files) != 2 {
		t.Fatalf("model version on the secondary: %+v, %v", a, err)
	}
	status, b = call(west, "POST", "/api/2.0/mlflow/registered-models/create", `{"name":"other"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(b), "TEMPORARILY_UNAVAILABLE") {
		t.Fatalf("registry write on the secondary: %d %s", status, b)
	}
	de, err := east.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dw, err := west.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if de.Digest != dw.Digest || de.Counts[string(tandem.KindRegisteredModel)] != 1 {
		t.Fatalf("digests: east %s %v, west %s %v", de.Digest, de.Counts, dw.Digest, dw.Counts)
	}
}
