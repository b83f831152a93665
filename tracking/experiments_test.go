package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func expNames(p *tandem.ExperimentPage) []string {
	var out []string
	for _, e := range p.Experiments {
		out = append(out, e.Name)
	}
	return out
}

func TestExperiments(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		d, err := f.GetExperiment(ctx, "mlw", "0")
		if err != nil || d.Name != "Default" || d.LifecycleStage != "active" {
			t.Fatalf("default experiment: %+v, %v", d, err)
		}
		if _, err := f.GetExperimentByName(ctx, "mlw", "fraud"); !tandem.IsCode(err, tandem.ENotFound) {
			t.Fatalf("unknown name: %v", err)
		}
		before := len(apptest.Changes(t, f.Region, ws.ID))
		e, err := f.CreateExperiment(ctx, "mlw", "fraud", []tandem.RunParam{{Key: "team", Value: "risk"}})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == "" || e.ID == "0" || e.ArtifactLocation != "mlflow-artifacts:/"+e.ID || e.LifecycleStage != "active" {
			t.Fatalf("created %+v", e)
		}
		ch := apptest.Changes(t, f.Region, ws.ID)
		if len(ch)-before != 1 || ch[len(ch)-1].Kind != tandem.KindExperiment || ch[len(ch)-1].Name != e.ID {
			t.Fatalf("create wrote %d changes, last %+v", len(ch)-before, ch[len(ch)-1])
		}
		if _, err := f.CreateExperiment(ctx, "mlw", "fraud", nil); !tandem.IsCode(err, tandem.EConflict) {
			t.Fatalf("taken name: %v", err)
		}
		if got, err := f.GetExperimentByName(ctx, "mlw", "fraud"); err != nil || got.ID != e.ID {
			t.Fatalf("by name: %+v %v", got, err)
		}
		f.Clock.Advance(time.Second)
		if _, err := f.CreateExperiment(ctx, "mlw", "churn", nil); err != nil {
			t.Fatal(err)
		}

		search := func(q tandem.ExperimentSearch) []string {
			t.Helper()
			p, err := f.SearchExperiments(ctx, "mlw", &q)
			if err != nil {
				t.Fatalf("search %+v: %v", q, err)
			}
			return expNames(p)
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
		eq(search(tandem.ExperimentSearch{OrderBy: []string{"name ASC"}}), "Default", "churn", "fraud")
		eq(search(tandem.ExperimentSearch{Filter: "name LIKE 'fr%'"}), "fraud")
		eq(search(tandem.ExperimentSearch{Filter: "tags.team = 'risk' AND name != 'x'"}), "fraud")
		eq(search(tandem.ExperimentSearch{Filter: "name = 'churn'"}), "churn")
		p, err := f.SearchExperiments(ctx, "mlw", &tandem.ExperimentSearch{OrderBy: []string{"name"}, MaxResults: 2})
		if err != nil || len(p.Experiments) != 2 || p.NextPageToken == "" {
			t.Fatalf("page 1: %+v %v", p, err)
		}
		eq(search(tandem.ExperimentSearch{OrderBy: []string{"name"}, MaxResults: 2, PageToken: p.NextPageToken}), "fraud")
		if _, err := f.SearchExperiments(ctx, "mlw", &tandem.ExperimentSearch{Filter: "name ~ 'x'"}); !tandem.IsCode(err, tandem.EInvalid) {
			t.Fatalf("bad filter: %v", err)
		}

		if err := f.RenameExperiment(ctx, "mlw", e.ID, "churn"); !tandem.IsCode(err, tandem.EConflict) {
			t.Fatalf("rename to a taken name: %v", err)
		}
		if err := f.RenameExperiment(ctx, "mlw", e.ID, "fraud-v2"); err != nil {
			t.Fatal(err)
		}
		if err := f.SetExperimentTag(ctx, "mlw", e.ID, "owner", "ann"); err != nil {
			t.Fatal(err)
		}
		if err := f.DeleteExperiment(ctx, "mlw", e.ID); err != nil {
			t.Fatal(err)
		}
		eq(search(tandem.ExperimentSearch{OrderBy: []string{"name"}}), "Default", "churn")
		eq(search(tandem.ExperimentSearch{ViewType: tandem.ViewDeletedOnly}), "fraud-v2")
		got, err := f.GetExperiment(ctx, "mlw", e.ID)
		if err != nil || got.LifecycleStage != "deleted" || len(got.Tags) != 2 {
			t.Fatalf("deleted: %+v %v", got, err)
		}
		if err := f.RestoreExperiment(ctx, "mlw", e.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.GetExperiment(ctx, "mlw", e.ID); got.LifecycleStage != "active" {
			t.Fatalf("restored: %+v", got)
		}
		// The default experiment is stored once it changes, and stays one.
		if err := f.SetExperimentTag(ctx, "mlw", "0", "k", "v"); err != nil {
			t.Fatal(err)
		}
		eq(search(tandem.ExperimentSearch{Filter: "name = 'Default'"}), "Default")
	})
}
