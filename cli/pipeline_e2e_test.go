package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// waitJobDone polls `job show` until the job ends.
func waitJobDone(t *testing.T, dir string, env map[string]string, name string) tandem.Job {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		j := decode[tandem.Job](t, mustRun(t, dir, env, "job", "show", "--name", name, "-o", "json"))
		if tandem.JobDone(j.Status) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s stuck in %s", name, j.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func stepJob(t *testing.T, j tandem.Job, step string) string {
	t.Helper()
	for _, s := range j.Steps {
		if s.Name == step {
			return s.Job
		}
	}
	t.Fatalf("pipeline %s has no step %s: %+v", j.Name, step, j.Steps)
	return ""
}

// TestE2ECorpusJobs runs the corpus jobs that need only a shell (and
// python3) to Completed on the local compute, as they are, on every
// backend stack. docs/compatibility.md lists the others and why.
func TestE2ECorpusJobs(t *testing.T) {
	corpus := corpusDir(t)
	for stack, flags := range stacks(t) {
		t.Run(stack, func(t *testing.T) {
			_, endpoint, token := startServer(t, flags...)
			dir := t.TempDir()
			env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
			mustRun(t, dir, env, "workspace", "create", "--name", "corpus")
			env[cmdutil.EnvWorkspace] = "corpus"
			for _, c := range []struct {
				file string
				// logs: step ("" for a command job) -> text its log has
				logs map[string]string
			}{
				{"jobs/basics/hello-world.yml", map[string]string{"": "hello world"}},
				{"jobs/basics/hello-world-input.yml", map[string]string{"": "hello world\n42"}},
				{"jobs/basics/hello-model-as-input.yml", map[string]string{"": "MLmodel"}},
				{"jobs/basics/hello-pipeline-abc.yml", map[string]string{"a": "hello hello world", "c": "/world.txt"}},
				{"jobs/basics/hello-pipeline-customize-output-file.yml", map[string]string{"hello_world": "hello"}},
				{"jobs/basics/hello-pipeline-default-artifacts.yml", map[string]string{"world_job": "world"}},
			} {
				t.Run(filepath.Base(c.file), func(t *testing.T) {
					created := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", filepath.Join(corpus, c.file), "-o", "json"))
					j := waitJobDone(t, dir, env, created.Name)
					if j.Status != tandem.JobCompleted {
						t.Fatalf("%s ended %s (%s): %+v", created.Name, j.Status, j.Error, j.Steps)
					}
					for step, want := range c.logs {
						name := j.Name
						if step != "" {
							name = stepJob(t, j, step)
						}
						if out := mustRun(t, dir, env, "job", "stream", "--name", name); !strings.Contains(out.stdout, want) {
							t.Fatalf("log of %s lacks %q:\n%s", name, want, out.stdout)
						}
					}
				})
			}
		})
	}
}

// TestE2EPipelines runs a pipeline whose steps name component files with
// their own code folders, a registered component and a local data folder,
// then shows its graph, lists its steps, and refuses bad pipelines before
// anything runs.
func TestE2EPipelines(t *testing.T) {
	for stack, flags := range stacks(t) {
		t.Run(stack, func(t *testing.T) { testE2EPipelines(t, flags) })
	}
}

func testE2EPipelines(t *testing.T, flags []string) {
	_, endpoint, token := startServer(t, flags...)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
	mustRun(t, dir, env, "workspace", "create", "--name", "pipes")
	env[cmdutil.EnvWorkspace] = "pipes"

	write := func(rel, body string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("project/data/rows.csv", "a\nb\nc\n")
	write("project/components/count.yml", `$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: count
version: 1
type: command
inputs:
  rows: {type: uri_folder}
  label: {type: string, default: rows}
outputs:
  report: {type: uri_folder}
code: ./count_src
environment: {image: library/python:latest}
command: python3 count.py ${{inputs.rows}} ${{inputs.label}} ${{outputs.report}}
`)
	write("project/components/count_src/count.py", `import os, sys
n = sum(1 for _ in open(os.path.join(sys.argv[1], "rows.csv")))
open(os.path.join(sys.argv[3], "report.txt"), "w").write("%s=%d\n" % (sys.argv[2], n))
print("counted", n)
`)
	write("registered/echo.yml", `$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json
name: show_report
version: 3
type: command
inputs:
  report: {type: uri_folder}
environment: {image: library/python:latest}
command: cat ${{inputs.report}}/report.txt
`)
	mustRun(t, dir, env, "component", "create", "-f", filepath.Join(dir, "registered/echo.yml"))
	pipelineFile := write("project/pipeline.yml", `$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: count-and-show
settings:
  default_compute: azureml:cpu-cluster
inputs:
  label: lines
outputs:
  final: {type: uri_folder}
jobs:
  count:
    type: command
    component: ./components/count.yml
    inputs:
      rows: {type: uri_folder, path: ./data}
      label: ${{parent.inputs.label}}
    outputs:
      report: ${{parent.outputs.final}}
  show:
    type: command
    component: azureml:show_report@latest
    inputs:
      report: ${{parent.jobs.count.outputs.report}}
`)
	r := mustRun(t, dir, env, "job", "create", "-f", pipelineFile, "--stream", "-o", "json")
	p := decode[tandem.Job](t, result{stdout: r.stdout[strings.Index(r.stdout, "{"):]})
	if !strings.Contains(r.stdout, "step count: job") || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("--stream printed %q", r.stdout)
	}
	p = waitJobDone(t, dir, env, p.Name)
	if p.Status != tandem.JobCompleted || len(p.Steps) != 2 {
		t.Fatalf("pipeline ended %s (%s): %+v", p.Status, p.Error, p.Steps)
	}
	if out := mustRun(t, dir, env, "job", "stream", "--name", stepJob(t, p, "show")); !strings.Contains(out.stdout, "lines=3") {
		t.Fatalf("show step log %q", out.stdout)
	}
	show := mustRun(t, dir, env, "job", "show", "--name", p.Name)
	for _, want := range []string{"STEP", "count", "show", "Completed", "cpu-cluster", stepJob(t, p, "count")} {
		if !strings.Contains(show.stdout, want) {
			t.Fatalf("job show lacks %q:\n%s", want, show.stdout)
		}
	}
	list := mustRun(t, dir, env, "job", "list")
	if !strings.Contains(list.stdout, p.Name) || strings.Contains(list.stdout, stepJob(t, p, "count")) {
		t.Fatalf("job list shows children, or not the pipeline:\n%s", list.stdout)
	}
	children := decode[[]tandem.Job](t, mustRun(t, dir, env, "job", "list", "--parent-job-name", p.Name, "-o", "json"))
	if len(children) != 2 || children[0].Parent != p.Name {
		t.Fatalf("children %+v", children)
	}

	// The pipeline travels to another workspace as YAML, Azure's way:
	// job show -o yaml, then job create -f there. Its code, the file given
	// as an input and the registered component come along.
	y := mustRun(t, dir, env, "job", "show", "--name", p.Name, "-o", "yaml").stdout
	for _, want := range []string{"pipelineJob.schema.json", "/workspaces/pipes/datastores/workspaceblobstore/paths/", "cat ${{inputs.report}}/report.txt"} {
		if !strings.Contains(y, want) {
			t.Fatalf("job show -o yaml lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "name: "+p.Name) {
		t.Fatalf("job show -o yaml names the job (a copy must get its own name):\n%s", y)
	}
	copied := write("copy/pipeline.yml", y)
	mustRun(t, dir, env, "workspace", "create", "--name", "pipes-copy")
	env2 := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "pipes-copy"}
	c := decode[tandem.Job](t, mustRun(t, dir, env2, "job", "create", "-f", copied, "-o", "json"))
	c = waitJobDone(t, dir, env2, c.Name)
	if c.Status != tandem.JobCompleted || len(c.Steps) != 2 {
		t.Fatalf("the copied pipeline ended %s (%s): %+v", c.Status, c.Error, c.Steps)
	}
	if out := mustRun(t, dir, env2, "job", "stream", "--name", stepJob(t, c, "show")); !strings.Contains(out.stdout, "lines=3") {
		t.Fatalf("copied pipeline's show step log %q", out.stdout)
	}
	// A token of the copy's workspace alone cannot pull code from the
	// source.
	scoped := decode[struct {
		Token string `json:"token"`
	}](t, mustRun(t, dir, env, "token", "create", "--name", "copy-only", "--workspace", "pipes-copy", "-o", "json"))
	env3 := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: scoped.Token, cmdutil.EnvWorkspace: "pipes-copy"}
	r3 := runCLI(t, dir, env3, "", "job", "create", "-f", copied)
	if r3.code == 0 || !strings.Contains(r3.stderr, `workspace "pipes"`) {
		t.Fatalf("a token scoped to the copy pulled the source's code: exit %d, %s", r3.code, r3.stderr)
	}

	// Bad pipelines fail at create, naming the problem.
	bad := write("project/bad.yml", `$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
jobs:
  a:
    command: ls ${{inputs.x}}
    environment: {image: python}
    inputs: {x: "${{parent.jobs.b.outputs.o}}"}
    outputs: {o: }
  b:
    command: ls ${{inputs.x}}
    environment: {image: python}
    inputs: {x: "${{parent.jobs.a.outputs.o}}"}
    outputs: {o: }
`)
	wantExit(t, dir, env, 2, "cycle", "job", "create", "-f", bad)
	wantExit(t, dir, env, 3, "nope", "job", "create", "-f", pipelineFile, "--set", "jobs.show.component=azureml:nope:1")
}

// TestE2EJobInputs registers data with the CLI and runs a command job that
// reads it (named @latest), a local file and a workspace storage path
// written by an earlier job's output.
func TestE2EJobInputs(t *testing.T) {
	for stack, flags := range stacks(t) {
		t.Run(stack, func(t *testing.T) {
			_, endpoint, token := startServer(t, flags...)
			dir := t.TempDir()
			env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
			mustRun(t, dir, env, "workspace", "create", "--name", "inputs")
			env[cmdutil.EnvWorkspace] = "inputs"
			os.MkdirAll(filepath.Join(dir, "rows"), 0o755)
			os.WriteFile(filepath.Join(dir, "rows", "r.csv"), []byte("x\n1\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("a note\n"), 0o644)
			mustRun(t, dir, env, "data", "create", "--name", "rows", "--path", "rows", "--type", "uri_folder")
			job := filepath.Join(dir, "job.yml")
			os.WriteFile(job, []byte(`$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: cat ${{inputs.rows}}/r.csv ${{inputs.notes}} > ${{outputs.out}}/all.txt && cat ${{outputs.out}}/all.txt
environment: {image: python}
inputs:
  rows: {type: uri_folder, path: "azureml:rows@latest", mode: ro_mount}
  notes: {type: uri_file, path: ./notes.txt, mode: download}
outputs:
  out: {type: uri_folder}
`), 0o644)
			created := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", job, "-o", "json"))
			if in := created.Inputs["rows"]; in == nil || in.Path != "azureml:rows:1" {
				t.Fatalf("rows resolved to %+v", in)
			}
			j := waitJobDone(t, dir, env, created.Name)
			out := mustRun(t, dir, env, "job", "stream", "--name", j.Name)
			if j.Status != tandem.JobCompleted || !strings.Contains(out.stdout, "x\n1\na note\n") {
				t.Fatalf("ended %s (%s):\n%s", j.Status, j.Error, out.stdout)
			}
			// The next job reads that output.
			next := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", job, "--set", "inputs.rows.path=azureml://jobs/"+j.Name+"/outputs/out",
				"--set", "command=cat ${{inputs.rows}}/all.txt ${{inputs.notes}} > ${{outputs.out}}/x", "-o", "json"))
			if next = waitJobDone(t, dir, env, next.Name); next.Status != tandem.JobCompleted {
				t.Fatalf("the job reading %s's output ended %s (%s)", j.Name, next.Status, next.Error)
			}
			wantExit(t, dir, env, 3, "nope", "job", "create", "-f", job, "--set", "inputs.rows.path=azureml:nope@latest")
			wantExit(t, dir, env, 2, "undeclared input", "job", "create", "-f", job, "--set", "command=cat ${{inputs.missing}}")
		})
	}
}
