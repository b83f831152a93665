package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// logScript logs a metric over plain HTTP, as MLflow's client does, from
// the variables a job gets, and writes a model into its output.
const logScript = `import json, os, sys, time, urllib.request
base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/") + "/api/2.0/mlflow/"
headers = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"], "Content-Type": "application/json"}
run = os.environ["MLFLOW_RUN_ID"]
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status
now = int(time.time() * 1000)
post("runs/log-parameter", {"run_id": run, "key": "lr", "value": "0.01"})
for step in range(5):
    post("runs/log-metric", {"run_id": run, "key": "loss", "value": 1.0 / (step + 1), "timestamp": now + step, "step": step})
with open(os.path.join(sys.argv[1], "model.pkl"), "w") as f:
    f.write("weights\n")
`

const logJob = `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
code: src
command: python3 log.py ${{outputs.model}}
environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
outputs:
  model:
    type: custom_model
    name: clf
`

// TestTrackingReachesSecondary runs a job in a paired primary, as real
// processes, that logs metrics through the MLflow-compatible API and
// registers its output as a model; the secondary serves the metrics, the
// model and the job's files once replication catches up.
func TestTrackingReachesSecondary(t *testing.T) {
	for _, stack := range Stacks() {
		t.Run(stack, func(t *testing.T) {
			east, west := pairedRegions(t, stack, nil)
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "src"), 0o755)
			os.WriteFile(filepath.Join(dir, "src", "log.py"), []byte(logScript), 0o644)
			os.WriteFile(filepath.Join(dir, "job.yml"), []byte(logJob), 0o644)
			bin := Build(t)
			cli := func(r *Region, args ...string) string {
				t.Helper()
				stdout, stderr, code := RunCLI(t, bin, dir, []string{envEndpoint + "=" + r.Endpoint, envToken + "=" + r.Token, envWorkspace + "=soak"}, args...)
				if code != 0 {
					t.Fatalf("tandem %v against %s: exit %d\n%s%s", args, r.Name, code, stdout, stderr)
				}
				return stdout
			}
			var job tandem.Job
			if err := json.Unmarshal([]byte(cli(east, "job", "create", "-f", "job.yml", "-o", "json")), &job); err != nil {
				t.Fatal(err)
			}
			WaitFor(t, 60*time.Second, "the job to end in the primary", func() (bool, error) {
				err := json.Unmarshal([]byte(cli(east, "job", "show", "--name", job.Name, "-o", "json")), &job)
				return tandem.JobDone(job.Status), err
			})
			if job.Status != tandem.JobCompleted {
				t.Fatalf("job %s: %s\n%s", job.Status, job.Error, cli(east, "job", "stream", "--name", job.Name))
			}
			var hist []tandem.Metric
			WaitFor(t, 60*time.Second, "the metrics to reach the secondary", func() (bool, error) {
				stdout, _, code := RunCLI(t, bin, dir, []string{envEndpoint + "=" + west.Endpoint, envToken + "=" + west.Token, envWorkspace + "=soak"},
					"job", "metrics", "--name", job.Name, "--metric", "loss", "-o", "json")
				if code != 0 {
					return false, nil // the job itself has not arrived yet
				}
				if err := json.Unmarshal([]byte(stdout), &hist); err != nil {
					return false, err
				}
				return len(hist) == 5, nil
			})
			if hist[4].Step != 4 || hist[4].Value != 0.2 {
				t.Fatalf("history on the secondary %+v", hist)
			}
			var shown struct {
				Metrics      map[string]float64   `json:"metrics"`
				Params       map[string]string    `json:"params"`
				OutputAssets []tandem.OutputAsset `json:"output_assets"`
			}
			WaitFor(t, 60*time.Second, "the job's end to reach the secondary", func() (bool, error) {
				err := json.Unmarshal([]byte(cli(west, "job", "show", "--name", job.Name, "-o", "json")), &shown)
				return len(shown.OutputAssets) == 1, err
			})
			if shown.Metrics["loss"] != 0.2 || shown.Params["lr"] != "0.01" {
				t.Fatalf("job show on the secondary: %+v", shown)
			}
			var model tandem.Asset
			if err := json.Unmarshal([]byte(cli(west, "model", "show", "--name", "clf", "--version", "1", "-o", "json")), &model); err != nil || model.JobName != job.Name {
				t.Fatalf("model on the secondary: %+v, %v", model, err)
			}
			cli(west, "job", "download", "--name", job.Name, "--all", "--download-path", "out")
			if b, err := os.ReadFile(filepath.Join(dir, "out", "named-outputs", "model", "model.pkl")); err != nil || string(b) != "weights\n" {
				t.Fatalf("output downloaded from the secondary: %q, %v", b, err)
			}
		})
	}
}
