package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// TestAgentProtocol drives the agent protocol by hand: claims respect
// max_instances, calls from an agent that does not own the job are
// refused, output paths and names are checked, a silent agent's job is
// queued again once and then failed, and a cancel reaches the agent.
func TestAgentProtocol(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		if _, err := f.CreateCompute(ctx, "mlw", map[string]any{"name": "gpu", "type": "amlcompute", "size": "Standard_NC6", "max_instances": 1}); err != nil {
			t.Fatal(err)
		}
		hb := tandem.AgentHeartbeat{Host: "h"}
		if w, err := f.ClaimJob(ctx, "mlw", "gpu", "a1", hb, 0); err != nil || w != nil {
			t.Fatalf("claim with nothing queued: %+v, %v", w, err)
		}
		_, err := f.ClaimJob(ctx, "mlw", "local", "a1", hb, 0)
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.ClaimJob(ctx, "mlw", "gpu", "a/1", hb, 0)
		apptest.WantCode(t, err, tandem.EInvalid)

		req := apptest.CommandJob("echo hi > ${{outputs.out}}/x", map[string]any{"compute": "azureml:gpu", "outputs": map[string]any{"out": map[string]any{"type": "uri_folder"}}})
		j1, err := f.CreateJob(ctx, "mlw", req)
		if err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Second)
		j2, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"compute": "gpu"}))
		if err != nil {
			t.Fatal(err)
		}
		w, err := f.ClaimJob(ctx, "mlw", "gpu", "a1", hb, 0)
		if err != nil || w == nil || w.Job.Name != j1.Name || w.Attempt != 1 || len(w.Outputs) != 1 || w.Outputs[0] != "out" {
			t.Fatalf("first claim: %+v, %v; want %s, attempt 1, output out", w, err, j1.Name)
		}
		if w2, err := f.ClaimJob(ctx, "mlw", "gpu", "a2", hb, 0); err != nil || w2 != nil {
			t.Fatalf("a second claim on a cluster of max_instances 1: %+v, %v", w2, err)
		}
		apptest.WantCode(t, f.StartAgentJob(ctx, "mlw", "gpu", "a2", j1.Name), tandem.EConflict)
		if err := f.StartAgentJob(ctx, "mlw", "gpu", "a1", j1.Name); err != nil {
			t.Fatal(err)
		}
		_, err = f.PutAgentOutput(ctx, "mlw", "gpu", "a1", j1.Name, "out", "../escape", strings.NewReader("x"))
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.PutAgentOutput(ctx, "mlw", "gpu", "a1", j1.Name, "other", "x", strings.NewReader("x"))
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.CompleteAgentJob(ctx, "mlw", "gpu", "a1", j1.Name, &tandem.AgentResult{ExitCode: 0, Outputs: []tandem.AgentOutput{{Output: "out", Path: "x", SHA256: "00", Size: 1}}})
		apptest.WantCode(t, err, tandem.EInvalid) // not uploaded

		// a1 goes silent: its job is queued again, then failed.
		f.Clock.Advance(31 * time.Second)
		if err := f.ReapAgents(ctx); err != nil {
			t.Fatal(err)
		}
		j, _ := f.FindJob(ctx, "mlw", j1.Name)
		if j.Status != tandem.JobQueued || j.Agent != "" || j.Attempts != 1 || !strings.Contains(j.Error, "agent a1 stopped heartbeating") {
			t.Fatalf("after a1 went silent: %s on %q, attempts %d (%s)", j.Status, j.Agent, j.Attempts, j.Error)
		}
		_, err = f.CompleteAgentJob(ctx, "mlw", "gpu", "a1", j1.Name, &tandem.AgentResult{})
		apptest.WantCode(t, err, tandem.EConflict) // a1 came back too late
		w, err = f.ClaimJob(ctx, "mlw", "gpu", "a2", hb, 0)
		if err != nil || w == nil || w.Job.Name != j1.Name || w.Attempt != 2 {
			t.Fatalf("a2's claim: %+v, %v; want %s again, attempt 2", w, err, j1.Name)
		}
		if ans, err := f.Heartbeat(ctx, "mlw", "gpu", "a1", tandem.AgentHeartbeat{Job: j1.Name}); err != nil || !ans.Stop {
			t.Fatalf("a1's heartbeat for the job it lost: %+v, %v", ans, err)
		}
		f.Clock.Advance(31 * time.Second)
		if err := f.ReapAgents(ctx); err != nil {
			t.Fatal(err)
		}
		j, _ = f.FindJob(ctx, "mlw", j1.Name)
		if j.Status != tandem.JobFailed || !strings.Contains(j.Error, "no retries left") {
			t.Fatalf("after a2 went silent too: %s (%s)", j.Status, j.Error)
		}

		// j2 now; a cancel tells its agent to stop, and the agent still
		// hands in its log.
		w, err = f.ClaimJob(ctx, "mlw", "gpu", "a3", hb, 0)
		if err != nil || w == nil || w.Job.Name != j2.Name {
			t.Fatalf("claim of the second job: %+v, %v", w, err)
		}
		if _, err := f.CancelJob(ctx, "mlw", j2.Name); err != nil {
			t.Fatal(err)
		}
		if ans, err := f.Heartbeat(ctx, "mlw", "gpu", "a3", tandem.AgentHeartbeat{Job: j2.Name}); err != nil || !ans.Stop || ans.Reason != "canceled" {
			t.Fatalf("heartbeat after cancel: %+v, %v", ans, err)
		}
		if _, err := f.PutAgentLog(ctx, "mlw", "gpu", "a3", j2.Name, strings.NewReader("partial\n")); err != nil {
			t.Fatal(err)
		}
		j, err = f.CompleteAgentJob(ctx, "mlw", "gpu", "a3", j2.Name, &tandem.AgentResult{ExitCode: -1, Canceled: true})
		if err != nil || j.Status != tandem.JobCanceled {
			t.Fatalf("complete after cancel: %+v, %v", j, err)
		}
		if log := apptest.JobLog(t, f.Region, "mlw", j2.Name); log != "partial\n" {
			t.Fatalf("canceled job's log %q", log)
		}
		if list, _ := f.ListAgents(ctx, "mlw", "gpu"); len(list) != 3 || list[0].State != tandem.AgentLost || list[2].State != tandem.AgentIdle {
			t.Fatalf("agents: %+v", list)
		}
	})
}
