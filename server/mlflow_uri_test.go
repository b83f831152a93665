package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
)

// mlflowCaller sends MLflow REST calls and decodes their JSON answers.
type mlflowCaller struct {
	t    *testing.T
	base string
	auth func(*http.Request)
}

func (c mlflowCaller) call(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader([]byte(body)))
	c.auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatalf("%s %s: answer is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, out
}

func bearerAuth(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// TestMLflowTrackingURI: each workspace has a tracking URI under which
// MLflow's paths act on it; the token must be allowed on the workspace;
// Basic auth carries the token as its password; the API shows the URI.
func TestMLflowTrackingURI(t *testing.T) {
	ctx := context.Background()
	r := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	for _, name := range []string{"vision", "nlp"} {
		if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, visionToken, err := r.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := r.admin.FindWorkspace(ctx, "vision")
	if err != nil {
		t.Fatal(err)
	}
	uri := r.Endpoint() + "/mlflow/workspaces/vision"
	if ws.MLflowTrackingURI != uri {
		t.Fatalf("mlflow_tracking_uri = %q, want %q", ws.MLflowTrackingURI, uri)
	}
	user := mlflowCaller{t, uri, bearerAuth(visionToken)}
	admin := mlflowCaller{t, uri, bearerAuth(r.secret)}
	basic := mlflowCaller{t, uri, func(q *http.Request) { q.SetBasicAuth("anyone", visionToken) }}
	other := mlflowCaller{t, r.Endpoint() + "/mlflow/workspaces/nlp", bearerAuth(visionToken)}
	none := mlflowCaller{t, uri, func(*http.Request) {}}

	status, got := user.call("POST", "/api/2.0/mlflow/experiments/create", `{"name":"fraud"}`)
	id, _ := got["experiment_id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("create: %d %v", status, got)
	}
	for _, c := range []struct {
		who    mlflowCaller
		method string
		path   string
		body   string
		status int
		code   string
	}{
		{user, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=" + id, "", 200, ""},
		{admin, "GET", "/api/2.0/preview/mlflow/experiments/get-by-name?experiment_name=fraud", "", 200, ""},
		{basic, "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0", "", 200, ""},
		{other, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{none, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", "", 401, "UNAUTHENTICATED"},
		{user, "POST", "/api/2.0/mlflow/experiments/create", `{"name":"fraud"}`, 400, "RESOURCE_ALREADY_EXISTS"},
		{user, "GET", "/api/2.0/mlflow/experiments/get?experiment_id=999", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{user, "GET", "/api/2.0/mlflow/experiments/get", "", 400, "INVALID_PARAMETER_VALUE"},
		{user, "POST", "/api/2.0/mlflow/experiments/search", `{"filter":"name ~ 'x'"}`, 400, "INVALID_PARAMETER_VALUE"},
		{user, "POST", "/api/2.0/mlflow/experiments/set-experiment-tag", `{"experiment_id":"` + id + `","key":"team","value":"risk"}`, 200, ""},
		{user, "POST", "/api/2.0/mlflow/experiments/update", `{"experiment_id":"` + id + `","new_name":"fraud2"}`, 200, ""},
		{user, "POST", "/api/2.0/mlflow/experiments/delete", `{"experiment_id":"` + id + `"}`, 200, ""},
		{user, "POST", "/api/2.0/mlflow/experiments/restore", `{"experiment_id":"` + id + `"}`, 200, ""},
		{user, "POST", "/api/2.0/mlflow/no/such", `{}`, 404, "ENDPOINT_NOT_FOUND"},
	} {
		status, got := c.who.call(c.method, c.path, c.body)
		if status != c.status || (c.code != "" && got["error_code"] != c.code) {
			t.Errorf("%s %s%s %s: got %d %v, want %d %s", c.method, c.who.base, c.path, c.body, status, got, c.status, c.code)
		}
	}
	// The token-chosen paths still work and see the same workspace.
	tokenPath := mlflowCaller{t, r.Endpoint(), bearerAuth(visionToken)}
	status, got = tokenPath.call("GET", "/api/2.0/mlflow/experiments/search?filter=tags.team+%3D+%27risk%27", "")
	exps, _ := got["experiments"].([]any)
	if status != 200 || len(exps) != 1 || exps[0].(map[string]any)["name"] != "fraud2" || exps[0].(map[string]any)["lifecycle_stage"] != "active" {
		t.Fatalf("search by tag: %d %v", status, got)
	}
}

// TestMLflowGoClient: the Go client offers experiments and runs through a
// workspace's tracking URI, with Tandem's error codes.
func TestMLflowGoClient(t *testing.T) {
	ctx := context.Background()
	r := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	c := r.admin
	if _, err := c.GetExperimentByName(ctx, "vision", "fraud"); !tandem.IsCode(err, tandem.ENotFound) {
		t.Fatalf("unknown experiment: %v", err)
	}
	e, err := c.CreateExperiment(ctx, "vision", "fraud", []tandem.RunParam{{Key: "team", Value: "risk"}})
	if err != nil || e.Name != "fraud" || len(e.Tags) != 1 {
		t.Fatalf("create: %+v %v", e, err)
	}
	if _, err := c.CreateExperiment(ctx, "vision", "fraud", nil); !tandem.IsCode(err, tandem.EConflict) {
		t.Fatalf("taken name: %v", err)
	}
	run, err := c.CreateRun(ctx, "vision", &tandem.RunCreate{ExperimentID: e.ID, RunName: "r1", Tags: []tandem.RunParam{{Key: "k", Value: "v"}}})
	if err != nil || run.Info.RunName != "r1" || run.Info.Status != "RUNNING" {
		t.Fatalf("create run: %+v %v", run, err)
	}
	if err := c.LogRun(ctx, "vision", run.Info.RunID, &tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: 0.5, Timestamp: 1}}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateRun(ctx, "vision", run.Info.RunID, &tandem.RunUpdate{Status: "KILLED"})
	if err != nil || got.Info.Status != "KILLED" || got.Job.Status != tandem.JobCanceled || got.Info.EndTime == nil {
		t.Fatalf("update run: %+v %v", got, err)
	}
	if err := c.DeleteRunTag(ctx, "vision", run.Info.RunID, "k"); err != nil {
		t.Fatal(err)
	}
	p, err := c.SearchRuns(ctx, "vision", &tandem.RunSearch{ExperimentIDs: []string{e.ID}, Filter: "metrics.loss = 0.5"})
	if err != nil || len(p.Runs) != 1 || p.Runs[0].Info.RunID != run.Info.RunID || len(p.Runs[0].Data.Tags) != 0 {
		t.Fatalf("search runs: %+v %v", p, err)
	}
	if err := c.DeleteRun(ctx, "vision", run.Info.RunID); err != nil {
		t.Fatal(err)
	}
	if p, err := c.SearchRuns(ctx, "vision", &tandem.RunSearch{ExperimentIDs: []string{e.ID}}); err != nil || len(p.Runs) != 0 {
		t.Fatalf("search after delete: %+v %v", p, err)
	}
	ep, err := c.SearchExperiments(ctx, "vision", &tandem.ExperimentSearch{Filter: "name LIKE 'fr%'"})
	if err != nil || len(ep.Experiments) != 1 || ep.Experiments[0].ID != e.ID {
		t.Fatalf("search experiments: %+v %v", ep, err)
	}
}
