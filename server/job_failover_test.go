package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
)

// startRegionSync starts a region whose running jobs upload their outputs
// every sync.
func startRegionSync(t *testing.T, name, keyFile string, sync time.Duration) *running {
	t.Helper()
	var logs io.Writer = io.Discard
	if os.Getenv("TANDEM_TEST_LOGS") != "" {
		logs = os.Stderr
	}
	s := server.New(server.Config{Region: name, DataDir: t.TempDir(), Listen: "127.0.0.1:0", KeyFile: keyFile, LogOutput: logs, JobOutputSync: sync})
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	b, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	return &running{Server: s, secret: secret, admin: httpapi.NewClient([]string{s.Endpoint()}, secret)}
}

// checkpointCommand counts to n, one step every 0.2 s, keeping the count
// in ${{outputs.ckpt}}/step (written whole, by rename) and resuming from
// it when present.
func checkpointCommand(n int) string {
	return `s=0; if [ -f ${{outputs.ckpt}}/step ]; then s=$(cat ${{outputs.ckpt}}/step); fi; echo "start at $s"; ` +
		`while [ $s -lt ` + strconv.Itoa(n) + ` ]; do s=$((s+1)); echo $s > ${{outputs.ckpt}}/step.tmp; mv ${{outputs.ckpt}}/step.tmp ${{outputs.ckpt}}/step; sleep 0.2; done; echo "done at $s"`
}

func jobSpec(name, command string, resubmit bool) map[string]any {
	s := map[string]any{
		"name": name, "type": "command", "command": command,
		"environment": "azureml:AzureML-sklearn-1.5@latest",
		"outputs":     map[string]any{"ckpt": map[string]any{"type": "uri_folder"}},
	}
	if resubmit {
		s["resubmit_on_failover"] = true
	}
	return s
}

func waitJobState(t *testing.T, c *httpapi.Client, ws, name, what string, ok func(*tandem.Job) bool) *tandem.Job {
	t.Helper()
	var last *tandem.Job
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := c.FindJob(context.Background(), ws, name)
		if err == nil && ok(j) {
			return j
		}
		if err == nil {
			last = j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: waited 60s for %s; last seen %+v (err %v)", name, what, last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPlannedFailoverInterruptsJobs: jobs running in the primary during a
// planned failover are killed there, marked Interrupted in the new
// primary, and the one with resubmit_on_failover is resubmitted there and
// resumes from the outputs it had uploaded while it ran.
func TestPlannedFailoverInterruptsJobs(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegionSync(t, "eastus", keyFile, 200*time.Millisecond), startRegionSync(t, "westus", keyFile, 200*time.Millisecond)
	link(t, east, west)
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreateJob(ctx, "vision", &tandem.JobRequest{Spec: jobSpec("train", checkpointCommand(40), true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreateJob(ctx, "vision", &tandem.JobRequest{Spec: jobSpec("plain", "sleep 120", false)}); err != nil {
		t.Fatal(err)
	}
	// The secondary holds a synced checkpoint of train, and plain runs.
	waitJobState(t, west.admin, "vision", "train", "a replicated checkpoint", func(j *tandem.Job) bool {
		for _, f := range j.Outputs {
			if f.Path == "ckpt/step" {
				return j.Status == tandem.JobRunning
			}
		}
		return false
	})
	waitJobState(t, west.admin, "vision", "plain", "Running", func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })

	rec, err := west.admin.Failover(ctx, "vision", tandem.FailoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orig := waitJobState(t, west.admin, "vision", "train", "Interrupted", func(j *tandem.Job) bool { return j.Status == tandem.JobInterrupted })
	want := "train_resubmit2"
	if orig.ResubmittedAs != want || orig.InterruptedEpoch != rec.NewEpoch || !strings.Contains(orig.Error, "epoch 2") || orig.EndedAt == nil {
		t.Fatalf("interrupted job %+v; want resubmitted_as %s, interrupted at epoch %d, an error naming it", orig, want, rec.NewEpoch)
	}
	plain := waitJobState(t, west.admin, "vision", "plain", "Interrupted", func(j *tandem.Job) bool { return j.Status == tandem.JobInterrupted })
	if plain.ResubmittedAs != "" {
		t.Fatalf("plain job resubmitted as %q; it did not ask for it", plain.ResubmittedAs)
	}
	again := waitJobState(t, west.admin, "vision", want, "Completed", func(j *tandem.Job) bool { return tandem.JobDone(j.Status) })
	if again.Status != tandem.JobCompleted || again.ResubmittedFrom != "train" {
		t.Fatalf("resubmission %+v; want Completed, resubmitted from train", again)
	}
	rc, err := west.admin.OpenJobLog(ctx, "vision", want)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := io.ReadAll(rc)
	rc.Close()
	m := regexp.MustCompile(`start at (\d+)`).FindStringSubmatch(string(log))
	if m == nil || m[1] == "0" || !strings.Contains(string(log), "done at 40") || !strings.Contains(string(log), "seeded from its last uploaded outputs") {
		t.Fatalf("resubmission's log does not show a resumed run:\n%s", log)
	}

	// The old primary killed its runs and kept their logs; it recorded
	// nothing (the interruption reaches it by replication).
	for _, job := range []string{"train", "plain"} {
		waitJobState(t, east.admin, "vision", job, "Interrupted (replicated)", func(j *tandem.Job) bool { return j.Status == tandem.JobInterrupted })
	}
	ws, err := east.admin.FindWorkspace(ctx, "vision")
	if err != nil {
		t.Fatal(err)
	}
	key := tandem.StoragePrefix(ws.ID) + "runs/plain/logs/std_log.eastus.epoch1.txt"
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc, err := east.Blobs.Open(ctx, key)
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !strings.Contains(string(b), "tandem: job canceled") {
				t.Fatalf("kept log of the stopped run: %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old primary did not keep the log of its stopped run at %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
