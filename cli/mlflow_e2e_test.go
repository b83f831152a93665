package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmd/token"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// trainScript logs to its run the way MLflow's Python client does: plain
// HTTP with the bearer token, against $MLFLOW_TRACKING_URI/api/2.0/mlflow/,
// reading only the variables MLflow reads. It checks the answers it gets,
// so a wrong one fails the job, then writes a model into its output.
const trainScript = `import json, os, sys, time, urllib.error, urllib.parse, urllib.request

base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/"
headers = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"], "Content-Type": "application/json"}
run = os.environ["MLFLOW_RUN_ID"]

def call(method, path, body=None, query=None):
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

def check(cond, what):
    if not cond:
        print("CHECK FAILED:", what, flush=True)
        sys.exit(3)

# mlflow.start_run() resumes MLFLOW_RUN_ID: runs/get, then runs/update.
status, got = call("GET", "runs/get", query={"run_id": run})
check(status == 200 and got["run"]["info"]["status"] == "RUNNING" and got["run"]["info"]["run_id"] == run, ("get", status, got))
status, got = call("POST", "runs/update", {"run_id": run, "status": "RUNNING"})
check(status == 200 and got["run_info"]["run_uuid"] == run, ("update", status, got))

now = int(time.time() * 1000)
status, _ = call("POST", "runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.01"})
check(status == 200, ("log-parameter", status))
for step in range(5):
    status, got = call("POST", "runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0 / (step + 1), "timestamp": now + step, "step": step})
    check(status == 200 and got == {}, ("log-metric", status, got))
status, got = call("POST", "runs/log-batch", {"run_id": run,
    "metrics": [{"key": "acc", "value": 0.5, "timestamp": now, "step": 0}, {"key": "acc", "value": 0.75, "timestamp": now + 1, "step": 1}],
    "params": [{"key": "epochs", "value": "5"}], "tags": [{"key": "stage", "value": "dev"}]})
check(status == 200, ("log-batch", status, got))
status, _ = call("POST", "runs/set-tag", {"run_id": run, "key": "stage", "value": "prod"})
check(status == 200, ("set-tag", status))

status, got = call("POST", "runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.1"})
check(status == 400 and got["error_code"] == "INVALID_PARAMETER_VALUE", ("param change", status, got))
status, got = call("POST", "runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0})
check(status == 400 and "timestamp" in got["message"], ("missing timestamp", status, got))
status, got = call("POST", "runs/log-metric", {"run_id": "someone-else", "key": "loss", "value": 1.0, "timestamp": now})
check(status == 403 and got["error_code"] == "PERMISSION_DENIED", ("other run", status, got))

status, got = call("GET", "metrics/get-history", query={"run_id": run, "metric_key": "loss", "max_results": 3})
check(status == 200 and [m["step"] for m in got["metrics"]] == [0, 1, 2] and "next_page_token" in got, ("history page 1", status, got))
status, got = call("GET", "metrics/get-history", query={"run_id": run, "metric_key": "loss", "max_results": 3, "page_token": got["next_page_token"]})
check(status == 200 and [m["step"] for m in got["metrics"]] == [3, 4] and "next_page_token" not in got, ("history page 2", status, got))
status, got = call("GET", "runs/get", query={"run_id": run})
latest = {m["key"]: m["value"] for m in got["run"]["data"]["metrics"]}
check(latest == {"loss": 0.2, "acc": 0.75}, ("latest", latest))

out = sys.argv[1]
os.makedirs(os.path.join(out, "weights"), exist_ok=True)
with open(os.path.join(out, "weights", "model.pkl"), "w") as f:
    f.write("trained weights\n")
with open(os.path.join(out, "MLmodel"), "w") as f:
    f.write("flavors: {}\n")
print("tracked run", run, flush=True)
`

const trainJob = `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python3 train.py ${{outputs.model}}
environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
outputs:
  model:
    type: custom_model
compute: azureml:cpu-cluster
`

// mlflowCall sends one MLflow API request with plain HTTP.
func mlflowCall(t *testing.T, endpoint, token, method, path string, query url.Values) (int, map[string]any) {
	t.Helper()
	u := endpoint + "/api/2.0/mlflow/" + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, b)
	}
	return resp.StatusCode, out
}

// TestE2EMLflowTracking runs a command job that logs metrics, params and
// tags over plain HTTP as MLflow's client does and writes a model output
// that registers as a model version; then job show, job metrics and job
// download read it back.
func TestE2EMLflowTracking(t *testing.T) {
	for name, flags := range stacks(t) {
		t.Run(name, func(t *testing.T) { testE2EMLflowTracking(t, flags) })
	}
}

func testE2EMLflowTracking(t *testing.T, flags []string) {
	_, endpoint, admin := startServer(t, flags...)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: admin}
	mustRun(t, dir, env, "workspace", "create", "--name", "tracking")
	env[cmdutil.EnvWorkspace] = "tracking"
	tok := decode[token.Secret](t, mustRun(t, dir, env, "token", "create", "--name", "ci", "--workspace", "tracking", "-o", "json"))
	if tok.Token == "" {
		t.Fatal("token create printed no secret")
	}

	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "train.py"), []byte(trainScript), 0o644)
	os.WriteFile(filepath.Join(dir, "train.yml"), []byte(trainJob), 0o644)
	created := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", "train.yml",
		"--set", "compute=local", "--set", "outputs.model.name=mnist-clf", "--set", "display_name=tracked training", "-o", "json"))
	if created.Spec["display_name"] != "tracked training" {
		t.Fatalf("--set display_name: spec %v", created.Spec)
	}
	name := created.Name
	var j jobViewJSON
	deadline := time.Now().Add(90 * time.Second)
	for {
		j = decode[jobViewJSON](t, mustRun(t, dir, env, "job", "show", "--name", name, "-o", "json"))
		if tandem.JobDone(j.Status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s stuck in %s", name, j.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if j.Status != tandem.JobCompleted {
		log := mustRun(t, dir, env, "job", "stream", "--name", name)
		t.Fatalf("job %s: %s\n%s", j.Status, j.Error, log.stdout)
	}

	// job show: the latest value of each metric, params, tags, lineage.
	if j.Metrics["loss"] != 0.2 || j.Metrics["acc"] != 0.75 || len(j.Metrics) != 2 {
		t.Fatalf("show metrics %v", j.Metrics)
	}
	if j.Params["lr"] != "0.01" || j.Params["epochs"] != "5" || j.RunTags["stage"] != "prod" {
		t.Fatalf("show params %v, run tags %v", j.Params, j.RunTags)
	}
	if len(j.OutputAssets) != 1 || j.OutputAssets[0] != (tandem.OutputAsset{Output: "model", Kind: tandem.KindModel, Name: "mnist-clf", Version: "1"}) {
		t.Fatalf("output assets %+v", j.OutputAssets)
	}
	table := mustRun(t, dir, env, "job", "show", "--name", name).stdout
	for _, want := range []string{"Metric loss:", "0.2 (step 4)", "Param lr:", "Tag stage:", "prod", "Output model:", "model mnist-clf:1"} {
		if !strings.Contains(table, want) {
			t.Fatalf("show table lacks %q:\n%s", want, table)
		}
	}
	if y := mustRun(t, dir, env, "job", "show", "--name", name, "-o", "json").stdout; !strings.Contains(y, `"loss": 0.2`) || !strings.Contains(y, `"lr": "0.01"`) {
		t.Fatalf("show json:\n%s", y)
	}

	// job metrics: the history.
	hist := decode[[]tandem.Metric](t, mustRun(t, dir, env, "job", "metrics", "--name", name, "--metric", "loss", "-o", "json"))
	if len(hist) != 5 || hist[0].Step != 0 || hist[0].Value != 1 || hist[4].Step != 4 || hist[4].Value != 0.2 || hist[4].Timestamp-hist[0].Timestamp != 4 {
		t.Fatalf("loss history %+v", hist)
	}
	all := mustRun(t, dir, env, "job", "metrics", "--name", name).stdout
	if lines := strings.Split(strings.TrimSpace(all), "\n"); len(lines) != 8 || !strings.HasPrefix(lines[0], "METRIC") || !strings.Contains(all, "acc") {
		t.Fatalf("metrics table:\n%s", all)
	}
	wantExit(t, dir, env, 3, `no metric "nope" (metrics: acc, loss)`, "job", "metrics", "--name", name, "--metric", "nope")

	// The output is a model version that references the job's bytes.
	m := decode[tandem.Asset](t, mustRun(t, dir, env, "model", "show", "--name", "mnist-clf", "--version", "1", "-o", "json"))
	if m.JobName != name || m.Type != "custom_model" || len(m.Files) != 2 {
		t.Fatalf("registered model %+v", m)
	}
	if show := mustRun(t, dir, env, "model", "show", "--name", "mnist-clf", "--version", "1").stdout; !strings.Contains(show, "Job:") || !strings.Contains(show, name) {
		t.Fatalf("model show lacks its job:\n%s", show)
	}
	mustRun(t, dir, env, "model", "download", "--name", "mnist-clf", "--version", "1", "--download-path", "models")
	if b, err := os.ReadFile(filepath.Join(dir, "models", "mnist-clf", "model", "weights", "model.pkl")); err != nil || string(b) != "trained weights\n" {
		t.Fatalf("downloaded model: %q, %v", b, err)
	}

	// job download: default artifacts, one named output, everything.
	mustRun(t, dir, env, "job", "download", "--name", name, "--download-path", "d1")
	if b, err := os.ReadFile(filepath.Join(dir, "d1", "artifacts", "logs", "std_log.txt")); err != nil || !strings.Contains(string(b), "tracked run "+name) {
		t.Fatalf("default download: log %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d1", "named-outputs")); !os.IsNotExist(err) {
		t.Fatalf("the default download holds named outputs: %v", err)
	}
	mustRun(t, dir, env, "job", "download", "--name", name, "--output-name", "model", "--download-path", "d2")
	if b, err := os.ReadFile(filepath.Join(dir, "d2", "named-outputs", "model", "weights", "model.pkl")); err != nil || string(b) != "trained weights\n" {
		t.Fatalf("output download: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d2", "artifacts")); !os.IsNotExist(err) {
		t.Fatalf("an output download holds the artifacts: %v", err)
	}
	r := mustRun(t, dir, env, "job", "download", "--name", name, "--all", "--download-path", "d3")
	for _, p := range []string{"artifacts/logs/std_log.txt", "named-outputs/model/MLmodel", "named-outputs/model/weights/model.pkl", "code/train.py"} {
		if _, err := os.Stat(filepath.Join(dir, "d3", filepath.FromSlash(p))); err != nil {
			t.Fatalf("--all lacks %s: %v", p, err)
		}
	}
	if !strings.Contains(r.stderr, "Downloaded 4 files") {
		t.Fatalf("download summary %q", r.stderr)
	}
	wantExit(t, dir, env, 3, `no output "nope" (outputs: model)`, "job", "download", "--name", name, "--output-name", "nope")
	wantExit(t, dir, env, 2, "not both", "job", "download", "--name", name, "--all", "--output-name", "model")

	// The MLflow API from outside, with a workspace token.
	status, got := mlflowCall(t, endpoint, tok.Token, "GET", "runs/get", url.Values{"run_id": {name}})
	info, _ := got["run"].(map[string]any)["info"].(map[string]any)
	if status != 200 || info["status"] != "FINISHED" || info["run_name"] != "tracked training" || info["end_time"] == nil || info["lifecycle_stage"] != "active" {
		t.Fatalf("runs/get: %d %v", status, got)
	}
	for _, c := range []struct {
		token, method, path string
		query               url.Values
		status              int
		code                string
	}{
		{tok.Token, "GET", "runs/get", url.Values{"run_id": {"no-such-run"}}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{tok.Token, "GET", "runs/get", nil, 400, "INVALID_PARAMETER_VALUE"},
		{tok.Token, "GET", "metrics/get-history", url.Values{"run_id": {name}}, 400, "INVALID_PARAMETER_VALUE"},
		{"", "GET", "runs/get", url.Values{"run_id": {name}}, 401, "UNAUTHENTICATED"},
		{"tdm_not-a-token", "GET", "runs/get", url.Values{"run_id": {name}}, 401, "UNAUTHENTICATED"},
		{admin, "GET", "runs/get", url.Values{"run_id": {name}}, 400, "INVALID_PARAMETER_VALUE"},
		{tok.Token, "POST", "no/such-endpoint", nil, 404, "ENDPOINT_NOT_FOUND"},
	} {
		status, got := mlflowCall(t, endpoint, c.token, c.method, c.path, c.query)
		if status != c.status || got["error_code"] != c.code || got["message"] == "" {
			t.Errorf("%s %s %v: got %d %v, want %d %s", c.method, c.path, c.query, status, got, c.status, c.code)
		}
	}
	status, got = mlflowCall(t, endpoint, tok.Token, "GET", "metrics/get-history", url.Values{"run_id": {name}, "metric_key": {"acc"}})
	if ms, _ := got["metrics"].([]any); status != 200 || len(ms) != 2 {
		t.Fatalf("get-history acc: %d %v", status, got)
	}
	// The job's own token ended with the job.
	tokens := mustRun(t, dir, env, "token", "list", "-o", "json").stdout
	if strings.Contains(tokens, "job:") {
		t.Fatalf("a job token outlived its job: %s", tokens)
	}
}

// jobViewJSON is `job show -o json`.
type jobViewJSON struct {
	tandem.Job
	Metrics map[string]float64 `json:"metrics"`
	Params  map[string]string  `json:"params"`
	RunTags map[string]string  `json:"run_tags"`
}
