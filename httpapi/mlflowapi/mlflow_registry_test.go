package mlflowapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

type mlflowModelVersion struct {
	Name, Version, Source, Status string
	RunID                         string   `json:"run_id"`
	CurrentStage                  string   `json:"current_stage"`
	Aliases                       []string `json:"aliases"`
	Created                       int64    `json:"creation_timestamp"`
}

// TestMLflowRegisterModel replays what MLflow's Python client sends for
// mlflow.log_artifacts(...) and mlflow.register_model(f"runs:/{run_id}/model", "clf"),
// and what mlflow.pyfunc.load_model("models:/clf@champion") needs.
func TestMLflowRegisterModel(t *testing.T) {
	r, url, token := mlflowServer(t)
	api := url + "/api/2.0/mlflow/"

	// The run's artifact_uri sends log_artifact to the artifact proxy.
	var run struct {
		Run struct {
			Info struct {
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if code := mlflowCall(t, "GET", api+"runs/get?run_id=run1", token, "", &run); code != 200 || run.Run.Info.ArtifactURI != "mlflow-artifacts:/0/run1/artifacts" {
		t.Fatalf("runs/get: %d %+v", code, run)
	}
	logArtifacts(t, url, token, map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.pkl": "weights"})
	var l artifactList
	mlflowCall(t, "GET", url+"/api/2.0/mlflow-artifacts/artifacts?path=0/run1/artifacts/model", token, "", &l)
	if len(l.Files) != 2 {
		t.Fatalf("list: %+v", l)
	}

	// register_model: create the registered model (or find it), look for
	// a logged model (MLflow 3), create the version, poll until READY.
	for i, want := range []struct {
		status int
		code   string
	}{{200, ""}, {400, "RESOURCE_ALREADY_EXISTS"}} {
		var out struct {
			RegisteredModel struct{ Name string } `json:"registered_model"`
			mlflowErr
		}
		code := mlflowCall(t, "POST", api+"registered-models/create", token, `{"name":"clf","tags":[{"key":"team","value":"cv"}]}`, &out)
		if code != want.status || out.ErrorCode != want.code || (i == 0 && out.RegisteredModel.Name != "clf") {
			t.Fatalf("create #%d: %d %+v", i, code, out)
		}
	}
	var logged map[string][]any
	if code := mlflowCall(t, "POST", api+"logged-models/search", token, `{"experiment_ids":["0"],"filter":"source_run_id='run1'"}`, &logged); code != 200 || logged["models"] == nil || len(logged["models"]) != 0 {
		t.Fatalf("logged-models/search: %d %v", code, logged)
	}
	var created struct {
		ModelVersion mlflowModelVersion `json:"model_version"`
	}
	body := `{"name":"clf","source":"mlflow-artifacts:/0/run1/artifacts/model","run_id":"run1","tags":[{"key":"k","value":"v"}]}`
	if code := mlflowCall(t, "POST", api+"model-versions/create", token, body, &created); code != 200 {
		t.Fatalf("model-versions/create: %d %+v", code, created)
	}
	if mv := created.ModelVersion; mv.Version != "1" || mv.Status != "READY" || mv.RunID != "run1" || mv.CurrentStage != "None" || mv.Created == 0 {
		t.Fatalf("created version %+v", mv)
	}
	var got struct {
		ModelVersion mlflowModelVersion `json:"model_version"`
	}
	if code := mlflowCall(t, "GET", api+"model-versions/get?name=clf&version=1", token, "", &got); code != 200 || got.ModelVersion.Status != "READY" {
		t.Fatalf("model-versions/get: %d %+v", code, got)
	}
	// A second registration from runs:/ is version 2.
	if code := mlflowCall(t, "POST", api+"model-versions/create", token, `{"name":"clf","source":"runs:/run1/model"}`, &created); code != 200 || created.ModelVersion.Version != "2" {
		t.Fatalf("second version: %d %+v", code, created)
	}

	// models:/clf/latest: the newest version, POST or GET.
	var latest struct {
		ModelVersions []mlflowModelVersion `json:"model_versions"`
	}
	if code := mlflowCall(t, "POST", api+"registered-models/get-latest-versions", token, `{"name":"clf"}`, &latest); code != 200 || len(latest.ModelVersions) != 1 || latest.ModelVersions[0].Version != "2" {
		t.Fatalf("get-latest-versions: %d %+v", code, latest)
	}
	latest.ModelVersions = nil
	if code := mlflowCall(t, "GET", api+"registered-models/get-latest-versions?name=clf", token, "", &latest); code != 200 || len(latest.ModelVersions) != 1 {
		t.Fatalf("GET get-latest-versions: %d %+v", code, latest)
	}

	// The version is a Tandem model version with lineage to the run.
	a, err := r.FindAsset(context.Background(), "mlw", tandem.KindModel, "clf", "1", "")
	if err != nil || a.JobName != "run1" || a.Type != "mlflow_model" {
		t.Fatalf("Tandem model version: %+v, %v", a, err)
	}

	// Loading by alias: set it, resolve it, get the download URI, download.
	var empty map[string]any
	if code := mlflowCall(t, "POST", api+"registered-models/alias", token, `{"name":"clf","alias":"champion","version":"1"}`, &empty); code != 200 {
		t.Fatalf("set alias: %d %v", code, empty)
	}
	if code := mlflowCall(t, "GET", api+"registered-models/alias?name=clf&alias=champion", token, "", &got); code != 200 || got.ModelVersion.Version != "1" || len(got.ModelVersion.Aliases) != 1 {
		t.Fatalf("get by alias: %d %+v", code, got)
	}
	var uri struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	if code := mlflowCall(t, "GET", api+"model-versions/get-download-uri?name=clf&version=1", token, "", &uri); code != 200 || uri.ArtifactURI != "mlflow-artifacts:/0/run1/artifacts/model" {
		t.Fatalf("get-download-uri: %d %+v", code, uri)
	}
	req, _ := http.NewRequest("GET", url+"/api/2.0/mlflow-artifacts/artifacts/"+strings.TrimPrefix(uri.ArtifactURI, "mlflow-artifacts:/")+"/model.pkl", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "weights" {
		t.Fatalf("download of the model: %d %q", resp.StatusCode, b)
	}

	// Search, with paging.
	var search struct {
		RegisteredModels []struct {
			Name           string
			LatestVersions []mlflowModelVersion `json:"latest_versions"`
			Aliases        []struct{ Alias, Version string }
			Tags           []struct{ Key, Value string }
		} `json:"registered_models"`
		NextPageToken string `json:"next_page_token"`
	}
	mlflowCall(t, "POST", api+"registered-models/create", token, `{"name":"clf-b"}`, nil)
	if code := mlflowCall(t, "GET", api+"registered-models/search?filter=name+LIKE+'clf%25'&max_results=1", token, "", &search); code != 200 ||
		len(search.RegisteredModels) != 1 || search.NextPageToken == "" {
		t.Fatalf("search page 1: %d %+v", code, search)
	}
	m := search.RegisteredModels[0]
	if m.Name != "clf" || len(m.LatestVersions) != 1 || m.LatestVersions[0].Version != "2" || len(m.Aliases) != 1 || m.Aliases[0].Alias != "champion" || len(m.Tags) != 1 {
		t.Fatalf("search result %+v", m)
	}
	tok := search.NextPageToken
	search.NextPageToken = ""
	mlflowCall(t, "GET", api+"registered-models/search?filter=name+LIKE+'clf%25'&max_results=1&page_token="+tok, token, "", &search)
	if len(search.RegisteredModels) != 1 || search.RegisteredModels[0].Name != "clf-b" || search.NextPageToken != "" {
		t.Fatalf("search page 2: %+v", search)
	}
	var versions struct {
		ModelVersions []mlflowModelVersion `json:"model_versions"`
	}
	if code := mlflowCall(t, "GET", api+"model-versions/search?filter=name%3D'clf'", token, "", &versions); code != 200 || len(versions.ModelVersions) != 2 {
		t.Fatalf("model-versions/search: %d %+v", code, versions)
	}

	// Errors in MLflow's shape.
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "registered-models/get?name=nope", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "model-versions/get?name=clf&version=9", "", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/create", `{"name":"clf","source":"s3://bucket/model"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", `{"name":"clf"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", `{"name":"has space"}`, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "registered-models/search?filter=tags.x%3D'y'", "", 400, "INVALID_PARAMETER_VALUE"},
	} {
		var e mlflowErr
		if got := mlflowCall(t, c.method, api+c.path, token, c.body, &e); got != c.status || e.ErrorCode != c.code || e.Message == "" {
			t.Errorf("%s %s: %d %+v, want %d %s", c.method, c.path, got, e, c.status, c.code)
		}
	}

	// Rename, update, delete (bodies as MLflow sends them).
	var renamed struct {
		RegisteredModel struct{ Name string } `json:"registered_model"`
	}
	if code := mlflowCall(t, "POST", api+"registered-models/rename", token, `{"name":"clf-b","new_name":"clf-c"}`, &renamed); code != 200 || renamed.RegisteredModel.Name != "clf-c" {
		t.Fatalf("rename: %d %+v", code, renamed)
	}
	if code := mlflowCall(t, "GET", api+"registered-models/get?name=clf-b", token, "", nil); code != 404 {
		t.Fatalf("old name after rename: %d", code)
	}
	var upd struct {
		RegisteredModel struct{ Description string } `json:"registered_model"`
	}
	if code := mlflowCall(t, "PATCH", api+"registered-models/update", token, `{"name":"clf","description":"d"}`, &upd); code != 200 || upd.RegisteredModel.Description != "d" {
		t.Fatalf("update: %d %+v", code, upd)
	}
	if code := mlflowCall(t, "DELETE", api+"model-versions/delete", token, `{"name":"clf","version":"1"}`, &empty); code != 200 {
		t.Fatalf("delete version: %d", code)
	}
	if code := mlflowCall(t, "GET", api+"registered-models/alias?name=clf&alias=champion", token, "", nil); code != 404 {
		t.Fatalf("alias of a deleted version: %d", code)
	}
	if code := mlflowCall(t, "DELETE", api+"registered-models/delete", token, `{"name":"clf"}`, &empty); code != 200 {
		t.Fatalf("delete model: %d", code)
	}
	if code := mlflowCall(t, "GET", api+"registered-models/get?name=clf", token, "", nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
}
