package pipelines_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/jobs"
)

func pipeline(jobs map[string]any, more map[string]any) *tandem.JobRequest {
	s := map[string]any{"type": "pipeline", "jobs": jobs}
	for k, v := range more {
		s[k] = v
	}
	return &tandem.JobRequest{Spec: s}
}

func stepOf(t *testing.T, j *tandem.Job, name string) tandem.JobStep {
	t.Helper()
	for _, s := range j.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("pipeline %s has no step %s: %+v", j.Name, name, j.Steps)
	return tandem.JobStep{}
}

func TestPipelines(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)

		t.Run("completes", func(t *testing.T) {
			// A registered component, a diamond a -> (b, c) -> d, bindings of
			// every kind, and more steps than workers.
			_, _, err := f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{Kind: tandem.KindComponent, Spec: map[string]any{
				"name": "upper", "version": "1", "type": "command",
				"inputs":      map[string]any{"text": map[string]any{"type": "uri_folder"}, "suffix": map[string]any{"type": "string", "default": "!"}},
				"outputs":     map[string]any{"out": map[string]any{"type": "uri_folder"}},
				"command":     "tr a-z A-Z < ${{inputs.text}}/msg.txt | sed 's/$/${{inputs.suffix}}/' > ${{outputs.out}}/msg.txt",
				"environment": apptest.Env(),
			}})
			if err != nil {
				t.Fatal(err)
			}
			jobs := map[string]any{
				"a": apptest.Step("echo ${{inputs.greeting}} > ${{outputs.out}}/msg.txt", map[string]any{
					"inputs":  map[string]any{"greeting": "${{parent.inputs.greeting}}"},
					"outputs": map[string]any{"out": nil},
					"compute": "azureml:cpu-cluster",
				}),
				"b": map[string]any{"type": "command", "component": "azureml:upper@latest",
					"inputs":  map[string]any{"text": "${{parent.jobs.a.outputs.out}}"},
					"outputs": map[string]any{"out": "${{parent.outputs.shout}}"}},
				"c": map[string]any{"type": "command", "component": map[string]any{
					"type": "command", "inputs": map[string]any{"src": map[string]any{"type": "uri_folder"}, "times": map[string]any{"type": "integer"}},
					"outputs": map[string]any{"out": map[string]any{"type": "uri_file"}},
					"command": "for i in $(seq ${{inputs.times}}); do cat ${{inputs.src}}/msg.txt; done > ${{outputs.out}}", "environment": apptest.Env(),
				}, "inputs": map[string]any{"src": map[string]any{"type": "uri_folder", "path": "${{parent.jobs.a.outputs.out}}"}, "times": 2}},
				"d": apptest.Step("cat ${{inputs.b}}/msg.txt ${{inputs.c}}", map[string]any{"inputs": map[string]any{
					"b": "${{parent.jobs.b.outputs.out}}", "c": "${{parent.jobs.c.outputs.out}}",
				}}),
				"e": apptest.Step("echo e", nil), "f": apptest.Step("echo f", nil), "g": apptest.Step("echo g", nil),
			}
			p, err := f.CreateJob(ctx, "mlw", pipeline(jobs, map[string]any{
				"name": "diamond", "inputs": map[string]any{"greeting": "hello"},
				"outputs":  map[string]any{"shout": map[string]any{"type": "uri_folder"}},
				"settings": map[string]any{"default_compute": "azureml:cpu-cluster"},
			}))
			if err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			if p.Type != "pipeline" || p.Status != tandem.JobQueued || len(p.Steps) != 7 {
				t.Fatalf("created %+v", p)
			}
			if s := stepOf(t, p, "d"); strings.Join(s.DependsOn, ",") != "b,c" || s.Status != tandem.JobNotStarted {
				t.Fatalf("step d: %+v", s)
			}
			if got := p.Spec["jobs"].(map[string]any)["b"].(map[string]any)["component"]; got != "azureml:upper:1" {
				t.Fatalf("component recorded as %v, want azureml:upper:1", got)
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, apptest.Done)
			if p.Status != tandem.JobCompleted {
				t.Fatalf("pipeline ended %s (%s): %+v", p.Status, p.Error, p.Steps)
			}
			d := stepOf(t, p, "d")
			if d.Status != tandem.JobCompleted || d.Job == "" {
				t.Fatalf("step d: %+v", d)
			}
			child, err := f.FindJob(ctx, "mlw", d.Job)
			if err != nil || child.Parent != p.Name {
				t.Fatalf("child %+v: %v", child, err)
			}
			if log := apptest.JobLog(t, f.Region, "mlw", d.Job); !strings.Contains(log, "HELLO!\nhello\nhello\n") {
				t.Fatalf("step d log %q", log)
			}
			a := stepOf(t, p, "a")
			if log := apptest.JobLog(t, f.Region, "mlw", a.Job); !strings.Contains(log, `compute "cpu-cluster"`) {
				t.Fatalf("step a log does not say where it ran: %q", log)
			}
			if log := apptest.JobLog(t, f.Region, "mlw", p.Name); !strings.Contains(log, "pipeline diamond: Completed") {
				t.Fatalf("pipeline log %q", log)
			}
			keys := strings.Join(apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/runs/diamond/"), ",")
			if !strings.Contains(keys, "runs/diamond/outputs/shout/msg.txt") {
				t.Fatalf("pipeline output not stored: %s", keys)
			}
			// Status changes replicate: the parent has its create, Running,
			// graph updates and end in the change log.
			var n int
			for _, c := range apptest.Changes(t, f.Region, ws.ID) {
				if c.Kind == tandem.KindJob && c.Name == p.Name {
					n++
				}
			}
			if n < 4 {
				t.Fatalf("%d change entries for the parent", n)
			}
		})

		t.Run("data inputs", func(t *testing.T) {
			// A local folder uploaded with the pipeline, given to a step
			// through a pipeline input, and a data asset named @latest in a
			// step, pinned to its version at create.
			if _, _, err := f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{
				Kind: tandem.KindData, Spec: map[string]any{"name": "words", "type": "uri_file", "path": "w.txt"},
				Paths: []tandem.AssetPath{{Field: "path", Root: "w.txt"}},
				Files: []tandem.AssetFile{apptest.Stage(t, f.Region, "mlw", "path", "w.txt", "alpha beta\n")},
			}); err != nil {
				t.Fatal(err)
			}
			req := pipeline(map[string]any{
				"read": apptest.Step("cat ${{inputs.rows}}/r.csv ${{inputs.words}}", map[string]any{"inputs": map[string]any{
					"rows":  "${{parent.inputs.data}}",
					"words": map[string]any{"type": "uri_file", "path": "azureml:words@latest"},
				}}),
			}, map[string]any{"inputs": map[string]any{"data": map[string]any{"type": "uri_folder", "path": "rows"}}})
			req.Paths = []tandem.AssetPath{{Field: "inputs.data.path", Root: "rows", Dir: true}}
			req.Files = []tandem.AssetFile{apptest.Stage(t, f.Region, "mlw", "inputs.data.path", "rows/r.csv", "1,2\n")}
			p, err := f.CreateJob(ctx, "mlw", req)
			if err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			read := p.Spec["jobs"].(map[string]any)["read"].(map[string]any)["inputs"].(map[string]any)["words"].(map[string]any)
			if read["path"] != "azureml:words:1" {
				t.Fatalf("step input recorded as %v, want azureml:words:1", read["path"])
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, apptest.Done)
			s := stepOf(t, p, "read")
			if log := apptest.JobLog(t, f.Region, "mlw", s.Job); p.Status != tandem.JobCompleted || !strings.Contains(log, "1,2\nalpha beta") {
				t.Fatalf("ended %s (%s): %+v\n%s", p.Status, p.Error, p.Steps, log)
			}
		})

		t.Run("failed step", func(t *testing.T) {
			jobs := map[string]any{
				"bad":   apptest.Step("exit 4", map[string]any{"outputs": map[string]any{"o": nil}}),
				"after": apptest.Step("ls ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.jobs.bad.outputs.o}}"}}),
				"other": apptest.Step("sleep 0.5; echo other", nil),
			}
			p, err := f.CreateJob(ctx, "mlw", pipeline(jobs, map[string]any{"settings": map[string]any{"continue_on_step_failure": true}}))
			if err != nil {
				t.Fatal(err)
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, apptest.Done)
			if p.Status != tandem.JobFailed || stepOf(t, p, "bad").Status != tandem.JobFailed ||
				stepOf(t, p, "after").Status != tandem.JobNotStarted || stepOf(t, p, "after").Job != "" ||
				stepOf(t, p, "other").Status != tandem.JobCompleted {
				t.Fatalf("ended %s (%s): %+v", p.Status, p.Error, p.Steps)
			}
			if !strings.Contains(p.Error, "bad") || !strings.Contains(p.Error, "after") {
				t.Fatalf("error %q names neither the failed nor the skipped step", p.Error)
			}

			// Without continue_on_step_failure the running steps are canceled.
			jobs["other"] = apptest.Step("sleep 60", nil)
			jobs["bad"] = apptest.Step("sleep 0.3; exit 4", map[string]any{"outputs": map[string]any{"o": nil}})
			p, err = f.CreateJob(ctx, "mlw", pipeline(jobs, nil))
			if err != nil {
				t.Fatal(err)
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, apptest.Done)
			if p.Status != tandem.JobFailed || stepOf(t, p, "other").Status != tandem.JobCanceled || stepOf(t, p, "after").Status != tandem.JobNotStarted {
				t.Fatalf("ended %s (%s): %+v", p.Status, p.Error, p.Steps)
			}
		})

		t.Run("step cannot start", func(t *testing.T) {
			// two wants one file; one's output is a folder of two: two's
			// child cannot be created, and the step says why.
			p, err := f.CreateJob(ctx, "mlw", pipeline(map[string]any{
				"one": apptest.Step("touch ${{outputs.o}}/x ${{outputs.o}}/y", map[string]any{"outputs": map[string]any{"o": nil}}),
				"two": apptest.Step("cat ${{inputs.f}}", map[string]any{"inputs": map[string]any{"f": map[string]any{"type": "uri_file", "path": "${{parent.jobs.one.outputs.o}}"}}}),
			}, nil))
			if err != nil {
				t.Fatal(err)
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, apptest.Done)
			two := stepOf(t, p, "two")
			if p.Status != tandem.JobFailed || two.Status != tandem.JobFailed || two.Job != "" || !strings.Contains(two.Error, "uri_file") {
				t.Fatalf("ended %s (%s): %+v", p.Status, p.Error, p.Steps)
			}
		})

		t.Run("more pipelines than workers", func(t *testing.T) {
			// Each parent waits for its steps: none may hold a worker.
			var names []string
			for i := 0; i < jobs.DefaultJobWorkers+2; i++ {
				p, err := f.CreateJob(ctx, "mlw", pipeline(map[string]any{
					"first":  apptest.Step("echo 1 > ${{outputs.o}}/n", map[string]any{"outputs": map[string]any{"o": nil}}),
					"second": apptest.Step("cat ${{inputs.i}}/n", map[string]any{"inputs": map[string]any{"i": "${{parent.jobs.first.outputs.o}}"}}),
				}, nil))
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, p.Name)
			}
			for _, n := range names {
				if p := apptest.WaitJob(t, f.Region, "mlw", n, apptest.Done); p.Status != tandem.JobCompleted {
					t.Fatalf("%s ended %s (%s): %+v", n, p.Status, p.Error, p.Steps)
				}
			}
		})

		t.Run("cancel", func(t *testing.T) {
			p, err := f.CreateJob(ctx, "mlw", pipeline(map[string]any{
				"slow": apptest.Step("echo started; sleep 60", map[string]any{"outputs": map[string]any{"o": nil}}),
				"next": apptest.Step("ls ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.jobs.slow.outputs.o}}"}}),
			}, nil))
			if err != nil {
				t.Fatal(err)
			}
			p = apptest.WaitJob(t, f.Region, "mlw", p.Name, func(j *tandem.Job) bool {
				s := stepOf(t, j, "slow")
				return s.Job != "" && strings.Contains(apptest.JobLog(t, f.Region, "mlw", s.Job), "started")
			})
			p, err = f.CancelJob(ctx, "mlw", p.Name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tandem.JobCanceled || stepOf(t, p, "slow").Status != tandem.JobCanceled || stepOf(t, p, "next").Status != tandem.JobNotStarted {
				t.Fatalf("after cancel: %s %+v", p.Status, p.Steps)
			}
			slow, err := f.FindJob(ctx, "mlw", stepOf(t, p, "slow").Job)
			if err != nil || slow.Status != tandem.JobCanceled {
				t.Fatalf("child after cancel: %+v %v", slow, err)
			}
		})

		t.Run("bad input", func(t *testing.T) {
			for _, c := range []struct {
				name string
				jobs map[string]any
				code string
				msg  string
			}{
				{"cycle", map[string]any{
					"a": apptest.Step("ls ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.jobs.b.outputs.o}}"}, "outputs": map[string]any{"o": nil}}),
					"b": apptest.Step("ls ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.jobs.a.outputs.o}}"}, "outputs": map[string]any{"o": nil}}),
				}, tandem.EInvalid, "cycle"},
				{"dangling step", map[string]any{
					"a": apptest.Step("ls ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.jobs.zz.outputs.o}}"}}),
				}, tandem.EInvalid, "zz"},
				{"dangling input", map[string]any{
					"a": apptest.Step("echo ${{inputs.x}}", map[string]any{"inputs": map[string]any{"x": "${{parent.inputs.nope}}"}}),
				}, tandem.EInvalid, "nope"},
				{"unknown component", map[string]any{
					"a": map[string]any{"type": "command", "component": "azureml:missing:1"},
				}, tandem.ENotFound, "missing"},
				{"undefined input in command", map[string]any{
					"a": apptest.Step("echo ${{inputs.nope}}", nil),
				}, tandem.EInvalid, "nope"},
				{"sweep", map[string]any{
					"tune": map[string]any{"type": "sweep", "trial": map[string]any{"type": "command", "command": "true", "environment": apptest.Env()},
						"sampling_algorithm": "random", "search_space": map[string]any{}, "objective": map[string]any{"goal": "minimize", "primary_metric": "loss"},
						"limits": map[string]any{"max_total_trials": 1}},
				}, tandem.EInvalid, "tune"},
			} {
				_, err := f.CreateJob(ctx, "mlw", pipeline(c.jobs, map[string]any{"name": "bad"}))
				apptest.WantCode(t, err, c.code)
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("%s: error %v does not name %q", c.name, err, c.msg)
				}
			}
			if _, err := f.FindJob(ctx, "mlw", "bad"); !tandem.IsCode(err, tandem.ENotFound) {
				t.Fatalf("a refused pipeline was recorded: %v", err)
			}
		})
	})
}
