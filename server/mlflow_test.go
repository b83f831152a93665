package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// TestTrackingReplicates logs a run's metrics in a paired primary and reads
// them on the secondary, through the Go client and MLflow's API; the
// secondary refuses tracking writes in MLflow's shape, and both regions'
// digests agree, tracking records included.
func TestTrackingReplicates(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	_, userToken, err := east.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotWarm}); err != nil {
		t.Fatal(err)
	}
	job, err := east.admin.CreateJob(ctx, "vision", &tandem.JobRequest{Spec: map[string]any{
		"type": "command", "name": "train", "command": "true", "environment": map[string]any{"image": "library/python:latest"}}})
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 3; step++ {
		l := &tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: tandem.MetricValue(1 / float64(step+1)), Timestamp: int64(1000 + step), Step: int64(step)}}}
		if step == 0 {
			l.Params = []tandem.RunParam{{Key: "lr", Value: "0.01"}}
		}
		if err := east.admin.LogRun(ctx, "vision", job.Name, l); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the job to end on the primary, so that the logs converge.
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := east.admin.FindJob(ctx, "vision", job.Name)
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
	waitConverged(t, east, west, ws.ID)

	run, err := west.admin.GetRun(ctx, "vision", job.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Data.Metrics) != 1 || run.Data.Metrics[0].Value != 1.0/3 || len(run.Data.Params) != 1 {
		t.Fatalf("run on the secondary: %+v", run.Data)
	}
	hist, err := west.admin.MetricHistory(ctx, "vision", job.Name, "loss")
	if err != nil || len(hist) != 3 {
		t.Fatalf("history on the secondary: %v, %v", hist, err)
	}

	mlflow := func(r *running, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, r.Endpoint()+"/api/2.0/mlflow/"+path, rd)
		req.Header.Set("Authorization", "Bearer "+userToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, got := mlflow(west, "GET", "runs/get?run_id="+job.Name, nil)
	data, _ := got["run"].(map[string]any)["data"].(map[string]any)
	if ms, _ := data["metrics"].([]any); status != 200 || len(ms) != 1 {
		t.Fatalf("MLflow runs/get on the secondary: %d %v", status, got)
	}
	// Tracking writes go to the primary only.
	status, got = mlflow(west, "POST", "runs/log-metric", map[string]any{"run_id": job.Name, "key": "loss", "value": 0.1, "timestamp": 5000})
	if status != http.StatusServiceUnavailable || got["error_code"] != "TEMPORARILY_UNAVAILABLE" {
		t.Fatalf("MLflow log-metric on the secondary: %d %v", status, got)
	}
	err = west.admin.LogRun(ctx, "vision", job.Name, &tandem.RunLog{Tags: []tandem.RunParam{{Key: "a", Value: "b"}}})
	if tandem.ErrorCode(err) != tandem.ENotPrimary {
		t.Fatalf("LogRun on the secondary: %v", err)
	}

	de, err := east.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dw, err := west.admin.DigestWorkspace(ctx, "vision", tandem.DigestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if de.Digest != dw.Digest || de.Counts[string(tandem.KindJobMetric)] != 3 {
		t.Fatalf("digests: east %s %v, west %s %v", de.Digest, de.Counts, dw.Digest, dw.Counts)
	}
}
