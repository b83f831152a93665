package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// putRawJob writes a job record as replication would (the resource and
// one entry of the given origin and epoch), without scheduling it.
func putRawJob(t *testing.T, r *apptest.Region, wsID string, j *tandem.Job, blobs []tandem.BlobRef, origin string, epoch int64) {
	t.Helper()
	ctx := context.Background()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	res := &tandem.Resource{WorkspaceID: wsID, Kind: tandem.KindJob, Name: j.Name, Spec: b, Blobs: blobs, CreatedAt: j.CreatedAt, UpdatedAt: j.CreatedAt}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: wsID, Kind: tandem.KindJob, Name: j.Name, Op: tandem.OpCreate, Origin: origin, Epoch: epoch, Time: j.CreatedAt, Body: mustJSON(t, res)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStartJobsAfterPromotion: a region promoted by a failover whose
// process died before it marked the old primary's jobs (or before it
// resubmitted one it had marked) finishes that work when its jobs start:
// the old primary's unfinished jobs become Interrupted, not Failed, those
// with resubmit_on_failover run again seeded from their uploaded outputs,
// and a job this region wrote after its promotion is its own (Failed: the
// server restarted).
func TestStartJobsAfterPromotion(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		now := f.Now().UTC()
		spec := func(resubmit bool) map[string]any {
			return map[string]any{"type": "command", "command": "cat ${{outputs.ckpt}}/step", "resubmit_on_failover": resubmit,
				"outputs": map[string]any{"ckpt": map[string]any{"type": "uri_folder"}}}
		}
		// The old primary (westus) ran "train" and uploaded its checkpoint.
		ckpt, err := f.Blobs.Put(ctx, tandem.StoragePrefix(ws.ID)+"runs/train/outputs/ckpt/step", strings.NewReader("7\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "train", Type: "command", Status: tandem.JobRunning, Compute: "local",
			Command: "echo resumed at $(cat ${{outputs.ckpt}}/step)", Spec: spec(true), CreatedAt: now}, []tandem.BlobRef{ckpt}, "westus", 1)
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "queued", Type: "command", Status: tandem.JobQueued, Compute: "local",
			Command: "true", Spec: spec(false), CreatedAt: now}, nil, "westus", 1)
		// The Azure-valid spelling of the extension: a property.
		props := spec(false)
		props["properties"] = map[string]any{"resubmit_on_failover": "true"}
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "viaprops", Type: "command", Status: tandem.JobPreparing, Compute: "local",
			Command: "true", Spec: props, CreatedAt: now}, nil, "westus", 1)
		// An MLflow run a client created: it runs in the client, not here.
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "mlrun", Type: tandem.JobTypeMLflow, Status: tandem.JobRunning,
			Spec: map[string]any{"type": "mlflow"}, CreatedAt: now}, nil, "westus", 1)
		// A pass that marked "half" and died before it resubmitted it.
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "half", Type: "command", Status: tandem.JobInterrupted, Compute: "local",
			Command: "echo half again", Spec: spec(true), ResubmittedAs: "half_resubmit2", CreatedAt: now}, nil, "eastus", 2)
		// Promoted here at epoch 2 after those entries.
		err = f.Store.Update(ctx, func(tx tandem.Tx) error {
			last, err := tx.LastChangeSeq(ctx, ws.ID)
			if err != nil {
				return err
			}
			p := tandem.Pair{WorkspaceID: ws.ID, Workspace: "mlw", PeerWorkspace: "mlw", Region: "eastus", PeerRegion: "westus",
				Role: tandem.RolePrimary, Tier: tandem.TierHotWarm, Epoch: 2, PrimaryRegion: "eastus", PromotedAtSeq: last}
			return tx.PutSetting(ctx, "pair/"+ws.ID, mustJSON(t, p))
		})
		if err != nil {
			t.Fatal(err)
		}
		// This region's own job, written after the promotion, left running
		// by its previous process.
		putRawJob(t, f.Region, ws.ID, &tandem.Job{Name: "mine", Type: "command", Status: tandem.JobRunning, Compute: "local",
			Command: "true", Spec: spec(false), CreatedAt: now}, nil, "eastus", 2)

		apptest.StartJobs(t, f.Region)

		train := apptest.WaitJob(t, f.Region, "mlw", "train", apptest.Done)
		if train.Status != tandem.JobInterrupted || train.ResubmittedAs != "train_resubmit2" || train.InterruptedEpoch != 2 ||
			!strings.Contains(train.Error, `region "westus"`) || !strings.Contains(train.Error, "Running") {
			t.Fatalf("train: %+v; want Interrupted at epoch 2, resubmitted as train_resubmit2, its error naming westus and Running", train)
		}
		if q := apptest.WaitJob(t, f.Region, "mlw", "queued", apptest.Done); q.Status != tandem.JobInterrupted || q.ResubmittedAs != "" {
			t.Fatalf("queued: %s %q, resubmitted as %q; want Interrupted, not resubmitted", q.Status, q.Error, q.ResubmittedAs)
		}
		if v := apptest.WaitJob(t, f.Region, "mlw", "viaprops", apptest.Done); v.Status != tandem.JobInterrupted || v.ResubmittedAs != "viaprops_resubmit2" {
			t.Fatalf("viaprops: %s, resubmitted as %q; want Interrupted and resubmitted (the property form)", v.Status, v.ResubmittedAs)
		}
		if m := apptest.WaitJob(t, f.Region, "mlw", "mine", apptest.Done); m.Status != tandem.JobFailed || !strings.Contains(m.Error, "server restarted") {
			t.Fatalf("mine: %s %q; want Failed by the restart", m.Status, m.Error)
		}
		if j, err := f.FindJob(ctx, "mlw", "mlrun"); err != nil || j.Status != tandem.JobRunning {
			t.Fatalf("mlrun: %+v %v; want an MLflow client's run left Running by the failover", j, err)
		}
		again := apptest.WaitJob(t, f.Region, "mlw", "train_resubmit2", apptest.Done)
		if again.Status != tandem.JobCompleted || again.ResubmittedFrom != "train" {
			t.Fatalf("train_resubmit2: %s %q from %q; want Completed, resubmitted from train", again.Status, again.Error, again.ResubmittedFrom)
		}
		if log := apptest.JobLog(t, f.Region, "mlw", "train_resubmit2"); !strings.Contains(log, "resumed at 7") || !strings.Contains(log, "1 output files (2 bytes) seeded") {
			t.Fatalf("train_resubmit2 log: %q; want it to start from the seeded checkpoint", log)
		}
		if h := apptest.WaitJob(t, f.Region, "mlw", "half_resubmit2", apptest.Done); h.Status != tandem.JobCompleted || h.ResubmittedFrom != "half" {
			t.Fatalf("half_resubmit2: %s from %q; want the resubmission the dead pass did not make", h.Status, h.ResubmittedFrom)
		}
		// One entry per write: the interruption of queued is one update.
		var updates int
		for _, c := range apptest.Changes(t, f.Region, ws.ID) {
			if c.Name == "queued" && c.Op == tandem.OpUpdate {
				updates++
				if c.Epoch != 2 || c.Origin != "eastus" {
					t.Fatalf("interruption entry at epoch %d from %s; want epoch 2 from eastus", c.Epoch, c.Origin)
				}
			}
		}
		if updates != 1 {
			t.Fatalf("%d update entries for the interrupted queued job; want 1", updates)
		}
	})
}
