package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
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
	// MLflow's experiments and client-created runs replicate too.
	exp, err := east.admin.CreateExperiment(ctx, "vision", "fraud", nil)
	if err != nil {
		t.Fatal(err)
	}
	mlRun, err := east.admin.CreateRun(ctx, "vision", &tandem.RunCreate{ExperimentID: exp.ID, RunName: "notebook"})
	if err != nil {
		t.Fatal(err)
	}
	if err := east.admin.LogRun(ctx, "vision", mlRun.Info.RunID, &tandem.RunLog{Metrics: []tandem.Metric{{Key: "auc", Value: 0.8, Timestamp: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, east, west, ws.ID)
	if got, err := west.admin.GetExperimentByName(ctx, "vision", "fraud"); err != nil || got.ID != exp.ID {
		t.Fatalf("experiment on the secondary: %+v %v", got, err)
	}
	if p, err := west.admin.SearchRuns(ctx, "vision", &tandem.RunSearch{ExperimentIDs: []string{exp.ID}, Filter: "metrics.auc > 0.5"}); err != nil ||
		len(p.Runs) != 1 || p.Runs[0].Info.RunID != mlRun.Info.RunID {
		t.Fatalf("MLflow run on the secondary: %+v %v", p, err)
	}
	if _, err := west.admin.CreateExperiment(ctx, "vision", "elsewhere", nil); tandem.ErrorCode(err) != tandem.EUnavailable {
		t.Fatalf("experiments/create on the secondary: %v", err)
	}

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
	if de.Digest != dw.Digest || de.Counts[string(tandem.KindJobMetric)] != 4 || de.Counts[string(tandem.KindExperiment)] != 1 {
		t.Fatalf("digests: east %s %v, west %s %v", de.Digest, de.Counts, dw.Digest, dw.Counts)
	}
}

// TestMLflowRequestShapes covers what MLflow's clients may send besides
// the plain case: int64 fields as strings, NaN as a string, run_uuid, the
// preview prefix, an admin token naming the workspace, an empty batch.
func TestMLflowRequestShapes(t *testing.T) {
	ctx := context.Background()
	r := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, userToken, err := r.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.admin.CreateJob(ctx, "vision", &tandem.JobRequest{Spec: map[string]any{
		"type": "command", "name": "run1", "command": "true", "environment": map[string]any{"image": "library/python:latest"}}}); err != nil {
		t.Fatal(err)
	}
	call := func(token, method, path, body string, header map[string]string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, r.Endpoint()+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
		}
		return resp.StatusCode, out
	}
	for _, c := range []struct {
		token, method, path, body string
		header                    map[string]string
		status                    int
		code                      string
	}{
		{userToken, "POST", "/api/2.0/mlflow/runs/log-metric", `{"run_uuid":"run1","key":"loss","value":"NaN","timestamp":"1700000000000","step":"3"}`, nil, 200, ""},
		{userToken, "POST", "/api/2.0/preview/mlflow/runs/log-metric", `{"run_id":"run1","key":"acc","value":0.5,"timestamp":1700000000001}`, nil, 200, ""},
		{r.secret, "POST", "/api/2.0/mlflow/runs/set-tag", `{"run_id":"run1","key":"by","value":"admin"}`, map[string]string{"X-Tandem-Workspace": "vision"}, 200, ""},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1"}`, nil, 200, ""},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"nope"}`, nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-batch", `{"run_id":"run1","metrics":[{"value":1,"timestamp":1}]}`, nil, 400, "INVALID_PARAMETER_VALUE"},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id":"run1","key":"x","value":"high","timestamp":1}`, nil, 400, "INVALID_PARAMETER_VALUE"},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-metric", `{"run_id":"run1","key":"x","value":1,"timestamp":"soon"}`, nil, 400, "INVALID_PARAMETER_VALUE"},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-metric", `not json`, nil, 400, "INVALID_PARAMETER_VALUE"},
		{userToken, "POST", "/api/2.0/mlflow/runs/log-parameter", `{"run_id":"run1","key":"lr"}`, nil, 400, "INVALID_PARAMETER_VALUE"},
		{userToken, "GET", "/api/2.0/mlflow/runs/log-metric", ``, nil, 404, "ENDPOINT_NOT_FOUND"},
		{userToken, "POST", "/api/2.0/mlflow/runs/no-such-endpoint", `{}`, nil, 404, "ENDPOINT_NOT_FOUND"},
	} {
		status, got := call(c.token, c.method, c.path, c.body, c.header)
		if status != c.status || (c.code != "" && got["error_code"] != c.code) || (c.code == "" && len(got) != 0) {
			t.Errorf("%s %s %s: got %d %v, want %d %s", c.method, c.path, c.body, status, got, c.status, c.code)
		}
	}
	run, err := r.admin.GetRun(ctx, "vision", "run1")
	if err != nil {
		t.Fatal(err)
	}
	d := run.Data
	if len(d.Metrics) != 2 || d.Metrics[0].Key != "acc" || d.Metrics[1].Key != "loss" || !math.IsNaN(float64(d.Metrics[1].Value)) ||
		d.Metrics[1].Timestamp != 1700000000000 || d.Metrics[1].Step != 3 || len(d.Tags) != 1 || d.Tags[0].Value != "admin" {
		t.Fatalf("run data %+v", d)
	}
	// NaN goes back out as MLflow writes it.
	status, got := call(userToken, "GET", "/api/2.0/mlflow/runs/get?run_uuid=run1", "", nil)
	data, _ := got["run"].(map[string]any)["data"].(map[string]any)
	ms, _ := data["metrics"].([]any)
	if status != 200 || len(ms) != 2 || ms[1].(map[string]any)["value"] != "NaN" {
		t.Fatalf("runs/get: %d %v", status, got)
	}
}
