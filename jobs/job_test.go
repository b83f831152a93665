package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func TestJobs(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)

		t.Run("completes", func(t *testing.T) {
			code := apptest.Stage(t, f.Region, "mlw", "code", "src/greet.sh", "echo from-code-$GREETING\n")
			req := apptest.CommandJob("echo hello ${{inputs.x}} && bash greet.sh && echo out > ${{outputs.result}}/o.txt", map[string]any{
				"code":                  "src",
				"inputs":                map[string]any{"x": "world"},
				"outputs":               map[string]any{"result": map[string]any{"type": "uri_folder"}},
				"environment_variables": map[string]any{"GREETING": "hi"},
				"experiment_name":       "exp",
			})
			req.Paths = []tandem.AssetPath{{Field: "code", Root: "src", Dir: true}}
			req.Files = []tandem.AssetFile{code}
			j, err := f.CreateJob(ctx, "mlw", req)
			if err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			if j.Status != tandem.JobQueued || j.Command != "echo hello world && bash greet.sh && echo out > ${{outputs.result}}/o.txt" || j.Compute != "local" {
				t.Fatalf("created %+v", j)
			}
			if want := "azureml://datastores/workspaceblobstore/paths/runs/" + j.Name + "/code/"; j.Spec["code"] != want {
				t.Fatalf("code %v, want %s", j.Spec["code"], want)
			}
			j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
			if j.Status != tandem.JobCompleted || j.ExitCode == nil || *j.ExitCode != 0 || j.StartedAt == nil || j.EndedAt == nil {
				t.Fatalf("ended %s exit %v: %s", j.Status, j.ExitCode, j.Error)
			}
			log := apptest.JobLog(t, f.Region, "mlw", j.Name)
			if !strings.Contains(log, "hello world\n") || !strings.Contains(log, "from-code-hi") || !strings.HasPrefix(log, "tandem: job "+j.Name+" runs on the host") {
				t.Fatalf("log %q", log)
			}
			prefix := "workspaces/" + ws.ID + "/runs/" + j.Name + "/"
			keys := strings.Join(apptest.BlobKeys(t, f.Region, prefix), ",")
			for _, k := range []string{"logs/std_log.txt", "outputs/result/o.txt"} {
				if !strings.Contains(keys, prefix+k) {
					t.Fatalf("storage %s lacks %s", keys, k)
				}
			}
			// The code snapshot is in the content-addressed code store, once
			// per content: a second job with the same code adds nothing.
			if len(j.Files) != 1 || j.Files[0].Path != "code/greet.sh" || j.CodeStore != "sha256" {
				t.Fatalf("code files %+v (store %q)", j.Files, j.CodeStore)
			}
			codePrefix := "workspaces/" + ws.ID + "/code/"
			if got := apptest.BlobKeys(t, f.Region, codePrefix); len(got) != 1 || got[0] != codePrefix+j.Files[0].SHA256 {
				t.Fatalf("code store holds %v", got)
			}
			again := apptest.CommandJob("bash greet.sh", map[string]any{"code": "src", "environment_variables": map[string]any{"GREETING": "again"}})
			again.Paths = []tandem.AssetPath{{Field: "code", Root: "src", Dir: true}}
			again.Files = []tandem.AssetFile{apptest.Stage(t, f.Region, "mlw", "code", "src/greet.sh", "echo from-code-$GREETING\n")}
			j2, err := f.CreateJob(ctx, "mlw", again)
			if err != nil {
				t.Fatal(err)
			}
			if j2 = apptest.WaitJob(t, f.Region, "mlw", j2.Name, apptest.Done); j2.Status != tandem.JobCompleted || !strings.Contains(apptest.JobLog(t, f.Region, "mlw", j2.Name), "from-code-again") {
				t.Fatalf("second job with the same code: %s (%s)", j2.Status, j2.Error)
			}
			if got := apptest.BlobKeys(t, f.Region, codePrefix); len(got) != 1 {
				t.Fatalf("the same code stored twice: %v", got)
			}
			// One change entry per transition: create, Preparing, Running, Completed.
			var n int
			for _, c := range apptest.Changes(t, f.Region, ws.ID) {
				if c.Kind == tandem.KindJob && c.Name == j.Name {
					n++
				}
			}
			if n != 4 {
				t.Fatalf("%d change entries for the job, want 4", n)
			}
			list, err := f.ListJobs(ctx, "mlw")
			if err != nil || len(list) == 0 {
				t.Fatalf("ListJobs: %v, %d", err, len(list))
			}
		})

		t.Run("fails", func(t *testing.T) {
			j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("echo partial; exit 3", nil))
			if err != nil {
				t.Fatal(err)
			}
			j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
			if j.Status != tandem.JobFailed || j.ExitCode == nil || *j.ExitCode != 3 || !strings.Contains(j.Error, "code 3") {
				t.Fatalf("ended %s exit %v: %s", j.Status, j.ExitCode, j.Error)
			}
			if log := apptest.JobLog(t, f.Region, "mlw", j.Name); !strings.Contains(log, "partial") {
				t.Fatalf("log %q", log)
			}
		})

		t.Run("timeout", func(t *testing.T) {
			j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("sleep 30", map[string]any{"limits": map[string]any{"timeout": 1}}))
			if err != nil {
				t.Fatal(err)
			}
			j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
			if j.Status != tandem.JobFailed || !strings.Contains(j.Error, "timed out") {
				t.Fatalf("ended %s: %s", j.Status, j.Error)
			}
		})

		t.Run("cancel", func(t *testing.T) {
			j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("echo started; sleep 60", map[string]any{"name": "to-cancel"}))
			if err != nil {
				t.Fatal(err)
			}
			apptest.WaitJob(t, f.Region, "mlw", j.Name, func(j *tandem.Job) bool {
				return j.Status == tandem.JobRunning && strings.Contains(apptest.JobLog(t, f.Region, "mlw", j.Name), "started")
			})
			start := time.Now()
			j, err = f.CancelJob(ctx, "mlw", j.Name)
			if err != nil {
				t.Fatal(err)
			}
			if j.Status != tandem.JobCanceled || time.Since(start) > 10*time.Second {
				t.Fatalf("after cancel: %s (%s) in %s", j.Status, j.Error, time.Since(start))
			}
			if log := apptest.JobLog(t, f.Region, "mlw", j.Name); !strings.Contains(log, "started") {
				t.Fatalf("partial log lost: %q", log)
			}
			_, err = f.CancelJob(ctx, "mlw", j.Name)
			apptest.WantCode(t, err, tandem.EConflict)
			_, err = f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "to-cancel"}))
			apptest.WantCode(t, err, tandem.EConflict)
		})

		t.Run("bad input", func(t *testing.T) {
			_, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"compute": "azureml:cpu-cluster"}))
			apptest.WantCode(t, err, tandem.EInvalid)
			if !strings.Contains(err.Error(), "cpu-cluster") {
				t.Fatalf("error %v does not name the compute", err)
			}
			_, err = f.CreateJob(ctx, "mlw", apptest.CommandJob("echo ${{inputs.nope}}", nil))
			apptest.WantCode(t, err, tandem.EInvalid)
			_, err = f.CreateJob(ctx, "mlw", &tandem.JobRequest{Spec: map[string]any{"type": "sweep"}})
			apptest.WantCode(t, err, tandem.EInvalid)
			_, err = f.FindJob(ctx, "mlw", "nope")
			apptest.WantCode(t, err, tandem.ENotFound)
		})
	})
}

// A job a previous process left running is Failed at the next start.
func TestJobsInterrupted(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", nil)) // no runner: stays Queued
		if err != nil {
			t.Fatal(err)
		}
		// The next process on the same store and storage.
		next := apptest.New("eastus", f.Store, f.Blobs)
		next.Logger = f.Logger
		apptest.StartJobs(t, next)
		j = apptest.WaitJob(t, next, "mlw", j.Name, apptest.Done)
		if j.Status != tandem.JobFailed || !strings.Contains(j.Error, "interrupted: server restarted") {
			t.Fatalf("got %s: %s", j.Status, j.Error)
		}
	})
}
