package tracking_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// trackingChanges returns the change entries of kind jobmetric.
func trackingChanges(t *testing.T, r *apptest.Region, wsID string) []*tandem.Change {
	var out []*tandem.Change
	for _, c := range apptest.Changes(t, r, wsID) {
		if c.Kind == tandem.KindJobMetric {
			out = append(out, c)
		}
	}
	return out
}

func TestRunTracking(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		// No workers run: the job stays Queued, which is enough to track it.
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"}))
		if err != nil {
			t.Fatal(err)
		}
		log := func(l *tandem.RunLog) error { return f.LogRun(ctx, "mlw", j.Name, l) }

		before := len(apptest.Changes(t, f.Region, ws.ID))
		for step, v := range []float64{0.9, 0.5, 0.25} {
			if err := log(&tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: tandem.MetricValue(v), Timestamp: 1000 + int64(step), Step: int64(step)}}}); err != nil {
				t.Fatalf("log loss: %v", err)
			}
		}
		// A point logged later for an earlier step is history, not the latest.
		if err := log(&tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: 7, Timestamp: 999, Step: 0}}}); err != nil {
			t.Fatal(err)
		}
		batch := &tandem.RunLog{
			Metrics: []tandem.Metric{{Key: "acc", Value: 0.8, Timestamp: 2000, Step: 1}, {Key: "nan/metric", Value: tandem.MetricValue(math.NaN()), Timestamp: 2000}},
			Params:  []tandem.RunParam{{Key: "lr", Value: "0.01"}, {Key: "epochs", Value: "3"}},
			Tags:    []tandem.RunParam{{Key: "stage", Value: "dev"}},
		}
		if err := log(batch); err != nil {
			t.Fatalf("log batch: %v", err)
		}
		// One write, one change: five calls, five entries, all tracking records.
		all := apptest.Changes(t, f.Region, ws.ID)
		if got := len(all) - before; got != 5 {
			t.Fatalf("5 calls wrote %d change entries", got)
		}
		for _, c := range all[before:] {
			if c.Kind != tandem.KindJobMetric || c.Op != tandem.OpCreate || !strings.HasPrefix(c.Name, "run1/") {
				t.Fatalf("unexpected change %+v", c)
			}
		}
		if last := all[len(all)-1]; last.Name != "run1/params" || last.Version != fmt.Sprintf("%012d-eastus", last.Seq) {
			t.Fatalf("batch with params stored as %s@%s", last.Name, last.Version)
		}

		// Params are immutable: the same value again is fine, another is not.
		if err := log(&tandem.RunLog{Params: []tandem.RunParam{{Key: "lr", Value: "0.01"}}}); err != nil {
			t.Fatalf("same param again: %v", err)
		}
		err = log(&tandem.RunLog{Params: []tandem.RunParam{{Key: "lr", Value: "0.1"}}})
		apptest.WantCode(t, err, tandem.EInvalid)
		if !strings.Contains(err.Error(), `"0.01"`) || !strings.Contains(err.Error(), `"0.1"`) {
			t.Fatalf("param change error %q names neither value", err)
		}
		apptest.WantCode(t, log(&tandem.RunLog{Params: []tandem.RunParam{{Key: "x", Value: "1"}, {Key: "x", Value: "2"}}}), tandem.EInvalid)
		// Tags overwrite.
		if err := log(&tandem.RunLog{Tags: []tandem.RunParam{{Key: "stage", Value: "prod"}}}); err != nil {
			t.Fatal(err)
		}

		run, err := f.GetRun(ctx, "mlw", j.Name)
		if err != nil {
			t.Fatal(err)
		}
		d := run.Data
		if len(d.Metrics) != 3 || d.Metrics[0].Key != "acc" || d.Metrics[1].Key != "loss" || d.Metrics[1].Value != 0.25 || d.Metrics[1].Step != 2 ||
			!math.IsNaN(float64(d.Metrics[2].Value)) {
			t.Fatalf("latest metrics %+v", d.Metrics)
		}
		if len(d.Params) != 2 || d.Params[0] != (tandem.RunParam{Key: "epochs", Value: "3"}) || d.Params[1] != (tandem.RunParam{Key: "lr", Value: "0.01"}) {
			t.Fatalf("params %+v", d.Params)
		}
		if len(d.Tags) != 1 || d.Tags[0].Value != "prod" {
			t.Fatalf("tags %+v", d.Tags)
		}
		if run.Job.Name != "run1" || run.Job.Status != tandem.JobQueued {
			t.Fatalf("run's job %+v", run.Job)
		}

		hist, err := f.MetricHistory(ctx, "mlw", j.Name, "loss")
		if err != nil {
			t.Fatal(err)
		}
		var vals []float64
		for _, m := range hist {
			vals = append(vals, float64(m.Value))
		}
		if len(vals) != 4 || vals[0] != 7 || vals[1] != 0.9 || vals[3] != 0.25 {
			t.Fatalf("history of loss %v, want by timestamp [7 0.9 0.5 0.25]", vals)
		}
		if h, err := f.MetricHistory(ctx, "mlw", j.Name, "nope"); err != nil || len(h) != 0 {
			t.Fatalf("history of an unknown metric: %v, %v", h, err)
		}
		if h, err := f.MetricHistory(ctx, "mlw", j.Name, ""); err != nil || len(h) != 6 {
			t.Fatalf("history of all metrics: %d points, %v", len(h), err)
		}

		// Bad input.
		apptest.WantCode(t, f.LogRun(ctx, "mlw", "no-such-run", batch), tandem.ENotFound)
		apptest.WantCode(t, log(&tandem.RunLog{}), tandem.EInvalid)
		for _, key := range []string{"", "a//b", "/abs", "a/", "bad*char", strings.Repeat("k", 251)} {
			apptest.WantCode(t, log(&tandem.RunLog{Metrics: []tandem.Metric{{Key: key, Value: 1, Timestamp: 1}}}), tandem.EInvalid)
		}
		apptest.WantCode(t, log(&tandem.RunLog{Params: []tandem.RunParam{{Key: "big", Value: strings.Repeat("v", 6001)}}}), tandem.EInvalid)
		many := &tandem.RunLog{}
		for i := 0; i < 1001; i++ {
			many.Metrics = append(many.Metrics, tandem.Metric{Key: "m", Value: 1, Timestamp: 1})
		}
		apptest.WantCode(t, log(many), tandem.EInvalid)
		_, err = f.GetRun(ctx, "other", j.Name)
		apptest.WantCode(t, err, tandem.ENotFound)
		if n := len(trackingChanges(t, f.Region, ws.ID)); n != 7 {
			t.Fatalf("%d tracking records after refused calls, want 7", n)
		}

		// A workspace token of another workspace sees nothing.
		apptest.MustCreate(t, f.Region, "other")
		tok, _, err := f.CreateToken(ctx, "ci", "other")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.GetRun(tandem.NewContextWithPrincipal(ctx, tok), "mlw", j.Name)
		apptest.WantCode(t, err, tandem.ENotFound)
	})
}

// TestJobToken runs a job that hands its token to the test while it runs:
// the token tracks its own run only, does nothing else, and is revoked
// when the job ends.
func TestJobToken(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "other-job"})); err != nil {
			t.Fatal(err)
		}
		f.Endpoint = "http://tandem.example:8080/"
		apptest.StartJobs(t, f.Region)
		dir := t.TempDir()
		cmd := `printf '%s\n%s\n%s\n%s\n%s\n%s\n%s\n' "$MLFLOW_TRACKING_TOKEN" "$TANDEM_TOKEN" "$MLFLOW_TRACKING_URI" "$TANDEM_ENDPOINT" "$MLFLOW_RUN_ID" "$MLFLOW_EXPERIMENT_NAME" "$MLFLOW_EXPERIMENT_ID" > ` + dir + `/env.tmp && mv ` + dir + `/env.tmp ` + dir + `/env
while [ ! -f ` + dir + `/go ]; do sleep 0.05; done`
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob(cmd, map[string]any{"name": "tracked", "experiment_name": "fraud", "limits": map[string]any{"timeout": 60}}))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			if b, err := os.ReadFile(filepath.Join(dir, "env")); err == nil {
				lines = strings.Split(strings.TrimSpace(string(b)), "\n")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the job did not start: %s", apptest.JobLog(t, f.Region, "mlw", j.Name))
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The job's experiment was created when it started, and named to it.
		exp, err := f.GetExperimentByName(ctx, "mlw", "fraud")
		if err != nil {
			t.Fatalf("the job's experiment: %v", err)
		}
		if len(lines) != 7 || lines[5] != "fraud" || lines[6] != exp.ID {
			t.Fatalf("job environment %q, experiment %+v", lines, exp)
		}
		lines = lines[:5]
		if len(lines) != 5 || lines[0] != lines[1] || !strings.HasPrefix(lines[0], "tdm_") || lines[2] != "http://tandem.example:8080" || lines[3] != lines[2] || lines[4] != "tracked" {
			t.Fatalf("job environment %q", lines)
		}
		tok, err := f.Authenticate(ctx, lines[0])
		if err != nil {
			t.Fatalf("job token: %v", err)
		}
		if tok.Job() != "tracked" || tok.WorkspaceID != ws.ID {
			t.Fatalf("job token %+v", tok)
		}
		jctx := tandem.NewContextWithPrincipal(ctx, tok)
		if err := f.LogRun(jctx, "mlw", "tracked", &tandem.RunLog{Metrics: []tandem.Metric{{Key: "m", Value: 1, Timestamp: 1}}}); err != nil {
			t.Fatalf("job token logs to its run: %v", err)
		}
		if _, err := f.GetRun(jctx, "mlw", "tracked"); err != nil {
			t.Fatalf("job token reads its run: %v", err)
		}
		if run, err := f.GetRun(jctx, "mlw", "tracked"); err != nil || run.Info.ExperimentID != exp.ID {
			t.Fatalf("the job's run is in its experiment: %+v %v", run, err)
		}
		if _, err := f.GetExperimentByName(jctx, "mlw", "fraud"); err != nil {
			t.Fatalf("job token reads experiments: %v", err)
		}
		_, err = f.CreateExperiment(jctx, "mlw", "elsewhere", nil)
		apptest.WantCode(t, err, tandem.EForbidden)
		apptest.WantCode(t, f.LogRun(jctx, "mlw", "other-job", &tandem.RunLog{Tags: []tandem.RunParam{{Key: "a", Value: "b"}}}), tandem.EForbidden)
		_, err = f.FindWorkspace(jctx, "mlw")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.FindJob(jctx, "mlw", "tracked")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.ListTokens(jctx)
		apptest.WantCode(t, err, tandem.EForbidden)
		_, _, err = f.CreateToken(jctx, "escalate", "mlw")
		apptest.WantCode(t, err, tandem.EForbidden)

		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		got := apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if got.Status != tandem.JobCompleted {
			t.Fatalf("job %s: %s", got.Status, got.Error)
		}
		// The revocation follows the job's end in its own write.
		deadline = time.Now().Add(10 * time.Second)
		for {
			_, err = f.Authenticate(ctx, lines[0])
			if tandem.IsCode(err, tandem.EUnauthorized) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job token still valid after the job ended: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var created, deleted int
		for _, c := range apptest.Changes(t, f.Region, ws.ID) {
			if c.Kind == tandem.KindToken && c.Name == tandem.JobTokenName(ws.ID, "tracked") {
				if c.Op == tandem.OpCreate {
					created++
				} else if c.Op == tandem.OpDelete {
					deleted++
				}
			}
		}
		if created != 1 || deleted != 1 {
			t.Fatalf("job token changes: %d creates, %d deletes", created, deleted)
		}
	})
}

func TestJobOutputsRegisterAsAssets(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		outputs := map[string]any{
			"model":   map[string]any{"type": "custom_model", "name": "clf"},
			"scores":  map[string]any{"type": "uri_file", "name": "scores", "version": "3"},
			"scratch": map[string]any{"type": "uri_folder"},
		}
		cmd := "mkdir -p ${{outputs.model}}/sub && echo weights > ${{outputs.model}}/sub/w.bin && echo meta > ${{outputs.model}}/MLmodel && echo 0.9 > ${{outputs.scores}} && echo x > ${{outputs.scratch}}/x"
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob(cmd, map[string]any{"name": "train", "outputs": outputs}))
		if err != nil {
			t.Fatal(err)
		}
		got := apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if got.Status != tandem.JobCompleted {
			t.Fatalf("job %s: %s", got.Status, got.Error)
		}
		want := []tandem.OutputAsset{{Output: "model", Kind: tandem.KindModel, Name: "clf", Version: "1"}, {Output: "scores", Kind: tandem.KindData, Name: "scores", Version: "3"}}
		if len(got.OutputAssets) != 2 || got.OutputAssets[0] != want[0] || got.OutputAssets[1] != want[1] {
			t.Fatalf("output assets %+v, want %+v", got.OutputAssets, want)
		}
		m, err := f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "1", "")
		if err != nil {
			t.Fatal(err)
		}
		if m.JobName != "train" || m.Type != "custom_model" || len(m.Files) != 2 || m.Files[0].Path != "model/MLmodel" || m.Files[1].Path != "model/sub/w.bin" ||
			m.Spec["path"] != assets.DatastoreURI("runs/train/outputs/model/") {
			t.Fatalf("model %+v", m)
		}
		_, rc, err := f.OpenAssetFile(ctx, "mlw", tandem.KindModel, "clf", "1", "model/sub/w.bin")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "weights\n" {
			t.Fatalf("model file %q", b)
		}
		d, err := f.FindAsset(ctx, "mlw", tandem.KindData, "scores", "3", "")
		if err != nil {
			t.Fatal(err)
		}
		if d.JobName != "train" || len(d.Files) != 1 || d.Files[0].Path != "scores" || d.Spec["path"] != assets.DatastoreURI("runs/train/outputs/scores/scores") {
			t.Fatalf("data %+v", d)
		}
		// Both documents are valid Azure ML YAML, lineage included.
		for _, a := range []*tandem.Asset{m, d} {
			raw, _ := json.Marshal(a.Spec)
			if _, err := spec.Parse(raw, "registered", spec.Options{Kind: string(a.Kind), NoFS: true}); err != nil {
				t.Fatalf("%s %s: %v", a.Kind, a.Name, err)
			}
		}
		if m.Spec["job_name"] != "train" || d.Spec["properties"].(map[string]any)["job_name"] != "train" {
			t.Fatalf("lineage in the documents: %v, %v", m.Spec, d.Spec)
		}
		files, err := f.ListJobFiles(ctx, "mlw", "train")
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, f := range files {
			paths = append(paths, f.Path)
		}
		if strings.Join(paths, " ") != "logs/std_log.txt outputs/model/MLmodel outputs/model/sub/w.bin outputs/scores/scores outputs/scratch/x" {
			t.Fatalf("job files %v", paths)
		}
		_, rc, err = f.OpenJobFile(ctx, "mlw", "train", "outputs/scores/scores")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(rc)
		rc.Close()
		if string(b) != "0.9\n" {
			t.Fatalf("job file %q", b)
		}
		_, _, err = f.OpenJobFile(ctx, "mlw", "train", "outputs/nope")
		apptest.WantCode(t, err, tandem.ENotFound)

		// A second run registers the next model version; a taken data
		// version or an empty output fails the job with the reason.
		j2, err := f.CreateJob(ctx, "mlw", apptest.CommandJob(cmd, map[string]any{"name": "train2", "outputs": outputs}))
		if err != nil {
			t.Fatal(err)
		}
		got = apptest.WaitJob(t, f.Region, "mlw", j2.Name, apptest.Done)
		if got.Status != tandem.JobFailed || !strings.Contains(got.Error, "scores version 3 already exists") ||
			len(got.OutputAssets) != 1 || got.OutputAssets[0].Version != "2" {
			t.Fatalf("second run: %s (%s), assets %+v", got.Status, got.Error, got.OutputAssets)
		}
		j3, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "empty", "outputs": map[string]any{"m": map[string]any{"type": "mlflow_model", "name": "e"}}}))
		if err != nil {
			t.Fatal(err)
		}
		got = apptest.WaitJob(t, f.Region, "mlw", j3.Name, apptest.Done)
		if got.Status != tandem.JobFailed || !strings.Contains(got.Error, `output "m" is empty`) {
			t.Fatalf("empty output: %s (%s)", got.Status, got.Error)
		}
	})
}

// benchRegion is a region on SQLite and mem:// blobs with one workspace
// and one (queued) job named "run".
func benchRegion(b *testing.B) *apptest.Region {
	store := sqltest.Open(b, "sqlite")
	blobs, err := blobstore.Open(context.Background(), "mem://")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { blobs.Close() })
	r := apptest.New("eastus", store, blobs)
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := r.CreateWorkspace(context.Background(), &tandem.Workspace{Name: "mlw"}); err != nil {
		b.Fatal(err)
	}
	if _, err := r.CreateJob(context.Background(), "mlw", apptest.CommandJob("true", map[string]any{"name": "run"})); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkLogMetric is the cost of one log-metric call: one record, one
// change, one transaction.
func BenchmarkLogMetric(b *testing.B) {
	r := benchRegion(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := &tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: tandem.MetricValue(i), Timestamp: int64(i), Step: int64(i)}}}
		if err := r.LogRun(ctx, "mlw", "run", l); err != nil {
			b.Fatal(err)
		}
	}
}

// seedMetrics logs 10,000 points of 10 metrics, one call each.
func seedMetrics(b *testing.B, r *apptest.Region) {
	for i := 0; i < 10000; i++ {
		l := &tandem.RunLog{Metrics: []tandem.Metric{{Key: fmt.Sprintf("m%d", i%10), Value: tandem.MetricValue(i), Timestamp: int64(i), Step: int64(i / 10)}}}
		if err := r.LogRun(context.Background(), "mlw", "run", l); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMetricHistory reads the history of one of 10 metrics of a run
// that logged 10,000 points one call at a time.
func BenchmarkMetricHistory(b *testing.B) {
	r := benchRegion(b)
	seedMetrics(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := r.MetricHistory(context.Background(), "mlw", "run", "m3")
		if err != nil || len(h) != 1000 {
			b.Fatalf("%d points, %v", len(h), err)
		}
	}
}

// BenchmarkGetRun folds the same 10,000 points into the latest values.
func BenchmarkGetRun(b *testing.B) {
	r := benchRegion(b)
	seedMetrics(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run, err := r.GetRun(context.Background(), "mlw", "run")
		if err != nil || len(run.Data.Metrics) != 10 {
			b.Fatalf("%v, %v", run, err)
		}
	}
}
