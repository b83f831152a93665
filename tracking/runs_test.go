package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func runIDs(p *tandem.RunPage) []string {
	var out []string
	for _, r := range p.Runs {
		out = append(out, r.Info.RunName)
	}
	return out
}

func TestMLflowRuns(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		e, err := f.CreateExperiment(ctx, "mlw", "fraud", nil)
		if err != nil {
			t.Fatal(err)
		}
		before := len(apptest.Changes(t, f.Region, ws.ID))
		a, err := f.CreateRun(ctx, "mlw", &tandem.RunCreate{ExperimentID: e.ID, RunName: "a", UserID: "ann", StartTime: 1700000000000})
		if err != nil {
			t.Fatal(err)
		}
		ch := apptest.Changes(t, f.Region, ws.ID)
		if len(ch)-before != 1 || ch[len(ch)-1].Kind != tandem.KindJob {
			t.Fatalf("runs/create wrote %d changes", len(ch)-before)
		}
		// The run is a job of type mlflow, Running, that job lists show.
		j, err := f.FindJob(ctx, "mlw", a.Info.RunID)
		if err != nil || j.Type != "mlflow" || j.Status != tandem.JobRunning || j.ExperimentName != "fraud" || j.DisplayName != "a" {
			t.Fatalf("job of the run: %+v %v", j, err)
		}
		if a.Info.ExperimentID != e.ID || a.Info.Status != "RUNNING" || a.Info.StartTime != 1700000000000 || a.Info.UserID != "ann" ||
			a.Info.ArtifactURI != "mlflow-artifacts:/"+e.ID+"/"+a.Info.RunID+"/artifacts" || len(a.Info.RunID) != 32 {
			t.Fatalf("run info %+v", a.Info)
		}
		if _, err := f.CreateRun(ctx, "mlw", &tandem.RunCreate{ExperimentID: "404"}); !tandem.IsCode(err, tandem.ENotFound) {
			t.Fatalf("run of an unknown experiment: %v", err)
		}
		f.Clock.Advance(time.Second)
		b, err := f.CreateRun(ctx, "mlw", &tandem.RunCreate{ExperimentID: e.ID, RunName: "b", Tags: []tandem.RunParam{{Key: "team", Value: "risk"}}})
		if err != nil {
			t.Fatal(err)
		}
		log := func(run string, l *tandem.RunLog) {
			t.Helper()
			if err := f.LogRun(ctx, "mlw", run, l); err != nil {
				t.Fatal(err)
			}
		}
		log(a.Info.RunID, &tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: 0.5, Timestamp: 1}}, Params: []tandem.RunParam{{Key: "lr", Value: "0.1"}}})
		log(b.Info.RunID, &tandem.RunLog{Metrics: []tandem.Metric{{Key: "loss", Value: 0.2, Timestamp: 1}}, Params: []tandem.RunParam{{Key: "lr", Value: "0.01"}}})
		// A job with the experiment's name is one of its runs too.
		if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "job1", "experiment_name": "fraud"})); err != nil {
			t.Fatal(err)
		}

		got, err := f.UpdateRun(ctx, "mlw", a.Info.RunID, &tandem.RunUpdate{Status: "FINISHED", EndTime: 1700000005000})
		if err != nil || got.Info.Status != "FINISHED" || got.Info.EndTime == nil || *got.Info.EndTime != 1700000005000 {
			t.Fatalf("update: %+v %v", got, err)
		}
		if j, _ := f.FindJob(ctx, "mlw", a.Info.RunID); j.Status != tandem.JobCompleted {
			t.Fatalf("job status after FINISHED: %s", j.Status)
		}
		if _, err := f.UpdateRun(ctx, "mlw", a.Info.RunID, &tandem.RunUpdate{Status: "DONE"}); !tandem.IsCode(err, tandem.EInvalid) {
			t.Fatalf("bad status: %v", err)
		}
		// A job's own run keeps the job's status.
		if got, err := f.UpdateRun(ctx, "mlw", "job1", &tandem.RunUpdate{Status: "FINISHED"}); err != nil || got.Job.Status != tandem.JobQueued {
			t.Fatalf("update of a job's run: %+v %v", got, err)
		}

		search := func(q tandem.RunSearch) []string {
			t.Helper()
			q.ExperimentIDs = []string{e.ID}
			p, err := f.SearchRuns(ctx, "mlw", &q)
			if err != nil {
				t.Fatalf("search %+v: %v", q, err)
			}
			return runIDs(p)
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("got %v, want %v", got, want)
				}
			}
		}
		eq(search(tandem.RunSearch{Filter: "metrics.loss < 0.3"}), "b")
		eq(search(tandem.RunSearch{Filter: "params.lr = '0.1' AND attributes.status = 'FINISHED'"}), "a")
		eq(search(tandem.RunSearch{Filter: "tags.team LIKE 'ri%'"}), "b")
		eq(search(tandem.RunSearch{Filter: "attributes.user_id = 'ann'"}), "a")
		eq(search(tandem.RunSearch{Filter: "metrics.loss >= 0", OrderBy: []string{"metrics.loss DESC"}}), "a", "b")
		eq(search(tandem.RunSearch{OrderBy: []string{"metrics.loss"}}), "b", "a", "job1")
		p, err := f.SearchRuns(ctx, "mlw", &tandem.RunSearch{ExperimentIDs: []string{e.ID}, OrderBy: []string{"attributes.run_name"}, MaxResults: 2})
		if err != nil || len(p.Runs) != 2 || p.NextPageToken == "" {
			t.Fatalf("page 1: %v %v", runIDs(p), err)
		}
		eq(search(tandem.RunSearch{OrderBy: []string{"attributes.run_name"}, MaxResults: 2, PageToken: p.NextPageToken}), "job1")
		if _, err := f.SearchRuns(ctx, "mlw", &tandem.RunSearch{ExperimentIDs: []string{e.ID}, Filter: "metrics.loss < 'x'"}); !tandem.IsCode(err, tandem.EInvalid) {
			t.Fatalf("string compared with a metric: %v", err)
		}

		if err := f.DeleteRunTag(ctx, "mlw", b.Info.RunID, "team"); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteRunTag(ctx, "mlw", b.Info.RunID, "team"); !tandem.IsCode(err, tandem.ENotFound) {
			t.Fatalf("delete a missing tag: %v", err)
		}
		eq(search(tandem.RunSearch{Filter: "tags.team LIKE 'ri%'"}))
		if err := f.DeleteRun(ctx, "mlw", b.Info.RunID); err != nil {
			t.Fatal(err)
		}
		eq(search(tandem.RunSearch{Filter: "metrics.loss >= 0"}), "a")
		eq(search(tandem.RunSearch{ViewType: tandem.ViewDeletedOnly}), "b")
		// A deleted run takes no more logging, as in MLflow.
		apptest.WantCode(t, f.LogRun(ctx, "mlw", b.Info.RunID, &tandem.RunLog{Tags: []tandem.RunParam{{Key: "k", Value: "v"}}}), tandem.EInvalid)
		if err := f.RestoreRun(ctx, "mlw", b.Info.RunID); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.GetRun(ctx, "mlw", b.Info.RunID); got.Info.LifecycleStage != "active" {
			t.Fatalf("restored: %+v", got.Info)
		}
		// Deleting an experiment deletes its runs; restoring it restores them.
		if err := f.DeleteExperiment(ctx, "mlw", e.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.GetRun(ctx, "mlw", a.Info.RunID); got.Info.LifecycleStage != "deleted" {
			t.Fatalf("run of a deleted experiment: %+v", got.Info)
		}
		eq(search(tandem.RunSearch{}))
		eq(search(tandem.RunSearch{ViewType: tandem.ViewAll, OrderBy: []string{"attributes.run_name"}}), "a", "b", "job1")
		if err := f.RestoreExperiment(ctx, "mlw", e.ID); err != nil {
			t.Fatal(err)
		}
		eq(search(tandem.RunSearch{OrderBy: []string{"attributes.run_name"}}), "a", "b", "job1")
	})
}
