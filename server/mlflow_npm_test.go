package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// mlflowJSVersion is the version of the npm package "mlflow", a
// third-party MLflow REST client for Node.js, that TestMLflowNPMClient
// drives.
const mlflowJSVersion = "2.0.7"

// TestMLflowNPMClient runs server/testdata/mlflow-client.mjs, which drives
// the npm package mlflow@2.0.7 against a workspace's tracking URI with a
// workspace token (experiments, runs, logging, search, metric history),
// and checks what the client returned. It skips without node and npm,
// or fails when TANDEM_TEST_REQUIRE_SERVICES=1, as scripts/test sets.
func TestMLflowNPMClient(t *testing.T) {
	dir := mlflowJS(t)
	ctx := context.Background()
	r := startRegion(t, "eastus", filepath.Join(t.TempDir(), "vault.key"))
	if err := r.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, token, err := r.admin.CreateToken(ctx, "laptop", "vision")
	if err != nil {
		t.Fatal(err)
	}
	resultFile := filepath.Join(t.TempDir(), "result.json")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "node", filepath.Join("testdata", "mlflow-client.mjs"))
	cmd.Env = append(os.Environ(),
		"MLFLOW_JS_DIR="+dir,
		"MLFLOW_TRACKING_URI="+tandem.MLflowTrackingURI(r.Endpoint(), "vision"),
		"MLFLOW_TRACKING_TOKEN="+token,
		"MLFLOW_RESULT_FILE="+resultFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node testdata/mlflow-client.mjs: %v\n%s", err, out)
	}
	b, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]struct {
		OK    json.RawMessage `json:"ok"`
		Error string          `json:"error"`
	}
	// ids: the IDs the script saw, beside the steps.
	var ids struct {
		IDs struct{ Experiment, Run, Other string }
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results: %v\n%s", err, b)
	}
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	// ok decodes a step's answer into v, failing if the client threw.
	ok := func(step string, v any) {
		t.Helper()
		s, found := res[step]
		if !found || s.Error != "" {
			t.Fatalf("%s: client threw %q (or the step did not run)", step, s.Error)
		}
		if err := json.Unmarshal(s.OK, v); err != nil {
			t.Fatalf("%s: %v: %s", step, err, s.OK)
		}
	}
	// threw checks that a step's call threw an error naming want.
	threw := func(step, want string) {
		t.Helper()
		if s := res[step]; !strings.Contains(s.Error, want) {
			t.Fatalf("%s: want an error with %s, got %q (answer %s)", step, want, s.Error, s.OK)
		}
	}

	// Experiments.
	var created struct {
		ExperimentID string `json:"experiment_id"`
	}
	ok("experiments.create", &created)
	if created.ExperimentID == "" || created.ExperimentID != ids.IDs.Experiment {
		t.Fatalf("experiments.create answered %q (script saw %q)", created.ExperimentID, ids.IDs.Experiment)
	}
	threw("experiments.create.duplicate", "RESOURCE_ALREADY_EXISTS")
	var got struct{ Experiment mlflowExperiment }
	ok("experiments.get", &got)
	if e := got.Experiment; e.ID != created.ExperimentID || e.Name != "npm-fraud" || e.LifecycleStage != "active" {
		t.Fatalf("experiments.get answered %+v", e)
	}
	threw("experiments.get.missing", "RESOURCE_DOES_NOT_EXIST")
	got.Experiment = mlflowExperiment{}
	ok("experiments.get-by-name", &got)
	if got.Experiment.ID != created.ExperimentID || got.Experiment.Name != "npm-fraud" {
		t.Fatalf("experiments get-by-name answered %+v", got.Experiment)
	}
	var list struct{ Experiments []mlflowExperiment }
	ok("experiments.list", &list)
	if names := experimentNames(list.Experiments); names != "Default,npm-fraud" {
		t.Fatalf("experiments.list answered %s", names)
	}
	list.Experiments = nil
	ok("experiments.search", &list)
	if names := experimentNames(list.Experiments); names != "npm-fraud" {
		t.Fatalf("experiments search for name LIKE 'npm-%%' answered %s", names)
	}

	// Runs.
	var one struct{ Run mlflowRunJSON }
	ok("runs.create", &one)
	if i := one.Run.Info; i.RunID == "" || i.RunID != ids.IDs.Run || i.ExperimentID != created.ExperimentID || i.Status != "RUNNING" ||
		i.RunName != "baseline" || i.StartTime != 1700000000000 || i.UserID != "ann" {
		t.Fatalf("runs.create answered %+v", i)
	}
	for _, step := range []string{"runs.logParameter", "runs.logMetric.0", "runs.logMetric.1", "runs.logMetric.2", "runs.setTag", "runs.logBatch"} {
		var empty map[string]any
		if ok(step, &empty); len(empty) != 0 {
			t.Fatalf("%s answered %v, want {}", step, empty)
		}
	}
	var updated struct {
		RunInfo tandem.RunInfo `json:"run_info"`
	}
	ok("runs.update", &updated)
	if i := updated.RunInfo; i.RunID != ids.IDs.Run || i.Status != "FINISHED" || i.EndTime == nil || *i.EndTime != 1700000003000 {
		t.Fatalf("runs.update answered %+v", i)
	}
	one = struct{ Run mlflowRunJSON }{}
	ok("runs.get", &one)
	if i := one.Run.Info; i.RunID != ids.IDs.Run || i.Status != "FINISHED" || i.RunName != "baseline" || i.EndTime == nil || *i.EndTime != 1700000003000 {
		t.Fatalf("runs.get answered info %+v", i)
	}
	d := one.Run.Data
	if got, want := latestMetrics(d.Metrics), "acc=0.9@2,loss=0.3333333333333333@2"; got != want {
		t.Fatalf("runs.get metrics %s, want %s", got, want)
	}
	if got, want := keyValues(d.Params), "epochs=3,lr=0.01"; got != want {
		t.Fatalf("runs.get params %s, want %s", got, want)
	}
	if got, want := keyValues(d.Tags), "mlflow.runName=baseline,mlflow.user=ann,stage=dev,team=risk"; got != want {
		t.Fatalf("runs.get tags %s, want %s", got, want)
	}

	var found struct{ Runs []mlflowRunJSON }
	ok("runs.search", &found)
	if len(found.Runs) != 1 || found.Runs[0].Info.RunID != ids.IDs.Run || found.Runs[0].Info.Status != "FINISHED" {
		t.Fatalf("runs.search with metrics.acc > 0.5 AND params.lr = '0.01' answered %+v", found.Runs)
	}
	found.Runs = nil
	ok("runs.search.all", &found)
	if len(found.Runs) != 2 || found.Runs[0].Info.RunID != ids.IDs.Run || found.Runs[1].Info.RunID != ids.IDs.Other ||
		found.Runs[1].Info.RunName != "weak" || found.Runs[1].Info.Status != "RUNNING" {
		t.Fatalf("runs.search ordered by metrics.acc DESC answered %+v", found.Runs)
	}

	var hist struct{ Metrics []tandem.Metric }
	ok("metrics.getHistory", &hist)
	if got, want := metricHistory(hist.Metrics), "loss=1@0,loss=0.5@1,loss=0.3333333333333333@2"; got != want {
		t.Fatalf("metrics.getHistory answered %s, want %s", got, want)
	}

	// Without its headers option the client sends no token, and Tandem
	// refuses it.
	threw("anonymous.experiments.get", "UNAUTHENTICATED")
}

type mlflowExperiment struct {
	ID             string `json:"experiment_id"`
	Name           string `json:"name"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type mlflowRunJSON struct {
	Info tandem.RunInfo `json:"info"`
	Data struct {
		Metrics []tandem.Metric   `json:"metrics"`
		Params  []tandem.RunParam `json:"params"`
		Tags    []tandem.RunParam `json:"tags"`
	} `json:"data"`
}

func experimentNames(es []mlflowExperiment) string {
	var names []string
	for _, e := range es {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func keyValues(ps []tandem.RunParam) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Key+"="+p.Value)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func latestMetrics(ms []tandem.Metric) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s=%v@%d", m.Key, float64(m.Value), m.Step))
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func metricHistory(ms []tandem.Metric) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s=%v@%d", m.Key, float64(m.Value), m.Step))
	}
	return strings.Join(s, ",")
}

// mlflowJS returns the npm prefix mlflow@mlflowJSVersion is installed
// under, $TANDEM_CACHE (default ~/.cache/tandem)/mlflow-js-VERSION,
// installing it from the npm registry on first use as scripts/with-azurite
// installs Azurite.
func mlflowJS(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv(sqltest.EnvRequireServices) == "1" {
			t.Fatalf("%s (%s=1)", msg, sqltest.EnvRequireServices)
		}
		t.Skip(msg)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("%s not found: the npm MLflow client test needs Node.js with npm", tool)
		}
	}
	cache := os.Getenv("TANDEM_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			unavailable("no cache dir for the npm mlflow package: %v", err)
		}
		cache = filepath.Join(home, ".cache", "tandem")
	}
	prefix := filepath.Join(cache, "mlflow-js-"+mlflowJSVersion)
	if _, err := os.Stat(filepath.Join(prefix, "node_modules", "mlflow", "package.json")); err == nil {
		return prefix
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	staging, err := os.MkdirTemp(cache, "mlflow-js-"+mlflowJSVersion+".")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(staging) // gone once renamed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Logf("installing mlflow@%s into %s", mlflowJSVersion, prefix)
	out, err := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
		"--prefix", staging, "mlflow@"+mlflowJSVersion).CombinedOutput()
	if err != nil {
		unavailable("npm install mlflow@%s failed: %v\n%s", mlflowJSVersion, err, out)
	}
	// Another run may have installed it meanwhile; either copy will do.
	if err := os.Rename(staging, prefix); err != nil {
		if _, serr := os.Stat(filepath.Join(prefix, "node_modules", "mlflow", "package.json")); serr != nil {
			t.Fatalf("install mlflow@%s: %v", mlflowJSVersion, err)
		}
	}
	return prefix
}
