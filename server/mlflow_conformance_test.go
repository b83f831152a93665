package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestMLflowClientConformance replays, call by call, what MLflow's Python
// client sends for a typical script (set_experiment, start_run, log_param,
// log_metric, log_metrics, end_run, search_runs, search_experiments),
// against a real server through the workspace's tracking URI, and checks
// the shapes MLflow's REST API answers with.
func TestMLflowClientConformance(t *testing.T) {
	ctx := context.Background()
	r := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, token, err := r.admin.CreateToken(ctx, "laptop", "vision")
	if err != nil {
		t.Fatal(err)
	}
	c := mlflowCaller{t, r.Endpoint() + "/mlflow/workspaces/vision", bearerAuth(token)}
	api := "/api/2.0/mlflow/"
	expect := func(what string, status int, got map[string]any, wantStatus int, wantCode string) {
		t.Helper()
		if status != wantStatus || (wantCode != "" && got["error_code"] != wantCode) {
			t.Fatalf("%s: got %d %v, want %d %s", what, status, got, wantStatus, wantCode)
		}
		if wantCode != "" {
			if msg, _ := got["message"].(string); msg == "" {
				t.Fatalf("%s: error without a message: %v", what, got)
			}
		}
	}

	// mlflow.set_experiment("fraud")
	status, got := c.call("GET", api+"experiments/get-by-name?experiment_name=fraud", "")
	expect("get-by-name of a new experiment", status, got, 404, "RESOURCE_DOES_NOT_EXIST")
	status, got = c.call("POST", api+"experiments/create", `{"name": "fraud"}`)
	expect("experiments/create", status, got, 200, "")
	expID, _ := got["experiment_id"].(string)
	if expID == "" {
		t.Fatalf("experiments/create answered %v", got)
	}
	status, got = c.call("GET", api+"experiments/get?experiment_id="+expID, "")
	expect("experiments/get", status, got, 200, "")
	if e, _ := got["experiment"].(map[string]any); e["name"] != "fraud" || e["lifecycle_stage"] != "active" || e["experiment_id"] != expID {
		t.Fatalf("experiments/get answered %v", got)
	}

	// mlflow.start_run(run_name="baseline")
	status, got = c.call("POST", api+"runs/create", fmt.Sprintf(`{"experiment_id": %q, "user_id": "ann", "start_time": 1700000000000,
		"tags": [{"key": "mlflow.user", "value": "ann"}, {"key": "mlflow.source.name", "value": "train.py"}, {"key": "mlflow.runName", "value": "baseline"}],
		"run_name": "baseline"}`, expID))
	expect("runs/create", status, got, 200, "")
	run, _ := got["run"].(map[string]any)
	info, _ := run["info"].(map[string]any)
	runID, _ := info["run_id"].(string)
	if runID == "" || info["experiment_id"] != expID || info["status"] != "RUNNING" || info["run_name"] != "baseline" ||
		info["lifecycle_stage"] != "active" || info["artifact_uri"] != "mlflow-artifacts:/"+expID+"/"+runID+"/artifacts" {
		t.Fatalf("runs/create answered %v", got)
	}

	// mlflow.log_param, log_metric, log_metrics
	status, got = c.call("POST", api+"runs/log-parameter", fmt.Sprintf(`{"run_id": %q, "run_uuid": %q, "key": "lr", "value": "0.01"}`, runID, runID))
	expect("log-parameter", status, got, 200, "")
	for step := 0; step < 3; step++ {
		status, got = c.call("POST", api+"runs/log-metric", fmt.Sprintf(`{"run_id": %q, "run_uuid": %q, "key": "loss", "value": %g, "timestamp": %d, "step": %d}`,
			runID, runID, 1/float64(step+1), 1700000001000+step, step))
		expect("log-metric", status, got, 200, "")
	}
	status, got = c.call("POST", api+"runs/log-batch", fmt.Sprintf(`{"run_id": %q, "metrics": [{"key": "acc", "value": 0.9, "timestamp": 1700000002000, "step": 2}],
		"params": [{"key": "epochs", "value": "3"}], "tags": [{"key": "stage", "value": "dev"}]}`, runID))
	expect("log-batch", status, got, 200, "")
	// mlflow.log_input(dataset, context="training")
	status, got = c.call("POST", api+"runs/log-inputs", fmt.Sprintf(`{"run_id": %q, "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}],
		"dataset": {"name": "iris", "digest": "abc123", "source_type": "local", "source": "{\"uri\": \"iris.csv\"}"}}]}`, runID))
	expect("log-inputs", status, got, 200, "")
	status, got = c.call("GET", api+"runs/get?run_id="+runID, "")
	inputs, _ := got["run"].(map[string]any)["inputs"].(map[string]any)
	dsIn, _ := inputs["dataset_inputs"].([]any)
	if status != 200 || len(dsIn) != 1 || dsIn[0].(map[string]any)["dataset"].(map[string]any)["digest"] != "abc123" {
		t.Fatalf("runs/get after log-inputs: %d %v", status, got)
	}
	if d, _ := got["run"].(map[string]any)["data"].(map[string]any); d["inputs"] != nil {
		t.Fatalf("run.data holds the inputs: %v", d)
	}
	// Past MLflow's limits a batch is refused whole.
	var many []string
	for i := 0; i < 1001; i++ {
		many = append(many, fmt.Sprintf(`{"key": "m", "value": %d, "timestamp": 1, "step": %d}`, i, i))
	}
	status, got = c.call("POST", api+"runs/log-batch", fmt.Sprintf(`{"run_id": %q, "metrics": [%s]}`, runID, strings.Join(many, ",")))
	expect("log-batch of 1001 metrics", status, got, 400, "INVALID_PARAMETER_VALUE")
	status, got = c.call("POST", api+"runs/log-parameter", fmt.Sprintf(`{"run_id": %q, "key": "lr", "value": "0.02"}`, runID))
	expect("log-parameter changing a value", status, got, 400, "INVALID_PARAMETER_VALUE")

	// mlflow.end_run()
	status, got = c.call("POST", api+"runs/update", fmt.Sprintf(`{"run_id": %q, "run_uuid": %q, "status": "FINISHED", "end_time": 1700000009000}`, runID, runID))
	expect("runs/update", status, got, 200, "")
	if ri, _ := got["run_info"].(map[string]any); ri["status"] != "FINISHED" || ri["end_time"] != float64(1700000009000) {
		t.Fatalf("runs/update answered %v", got)
	}
	// The run is a job that job lists show.
	if j, err := r.admin.FindJob(ctx, "vision", runID); err != nil || j.Type != "mlflow" || j.Status != tandem.JobCompleted {
		t.Fatalf("the run's job: %+v %v", j, err)
	}

	// mlflow.search_runs(filter_string=...)
	status, got = c.call("POST", api+"runs/search", fmt.Sprintf(`{"experiment_ids": [%q], "filter": "metrics.loss < 0.5 and params.lr = '0.01'",
		"run_view_type": "ACTIVE_ONLY", "max_results": 1000, "order_by": ["metrics.acc DESC"]}`, expID))
	expect("runs/search", status, got, 200, "")
	runs, _ := got["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("runs/search answered %v", got)
	}
	data, _ := runs[0].(map[string]any)["data"].(map[string]any)
	metrics, _ := data["metrics"].([]any)
	loss := map[string]any{}
	for _, m := range metrics {
		if m.(map[string]any)["key"] == "loss" {
			loss = m.(map[string]any)
		}
	}
	if len(metrics) != 2 || loss["value"] != 1.0/3 || loss["step"] != float64(2) {
		t.Fatalf("runs/search data %v", data)
	}
	status, got = c.call("POST", api+"runs/search", fmt.Sprintf(`{"experiment_ids": [%q], "filter": "metrics.loss <"}`, expID))
	expect("runs/search with a broken filter", status, got, 400, "INVALID_PARAMETER_VALUE")

	// mlflow.search_experiments(), one per page
	status, got = c.call("POST", api+"experiments/search", `{"max_results": 1, "view_type": "ACTIVE_ONLY", "order_by": ["name ASC"]}`)
	expect("experiments/search", status, got, 200, "")
	exps, _ := got["experiments"].([]any)
	next, _ := got["next_page_token"].(string)
	if len(exps) != 1 || exps[0].(map[string]any)["name"] != "Default" || next == "" {
		t.Fatalf("experiments/search page 1: %v", got)
	}
	status, got = c.call("POST", api+"experiments/search", fmt.Sprintf(`{"max_results": 1, "order_by": ["name ASC"], "page_token": %q}`, next))
	expect("experiments/search page 2", status, got, 200, "")
	exps, _ = got["experiments"].([]any)
	if _, more := got["next_page_token"]; len(exps) != 1 || exps[0].(map[string]any)["name"] != "fraud" || more {
		t.Fatalf("experiments/search page 2: %v", got)
	}

	// mlflow.tracking.MlflowClient().get_metric_history, a page at a time
	status, got = c.call("GET", api+"metrics/get-history?run_id="+runID+"&metric_key=loss&max_results=2", "")
	expect("get-history", status, got, 200, "")
	points, _ := got["metrics"].([]any)
	if len(points) != 2 || got["next_page_token"] == nil {
		t.Fatalf("get-history page 1: %v", got)
	}
	b, _ := json.Marshal(points[0])
	if !strings.Contains(string(b), `"step":0`) {
		t.Fatalf("get-history first point %s", b)
	}
}
