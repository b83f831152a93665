package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// agentProc is a `tandem agent` process in its own process group.
type agentProc struct {
	id  string
	cmd *exec.Cmd
	log string
}

func startAgent(t *testing.T, bin string, r *Region, workspace, compute, id string) *agentProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), id+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--compute", compute, "--id", id, "--heartbeat", "300ms")
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(), envEndpoint+"="+r.Endpoint, envToken+"="+r.Token, envWorkspace+"="+workspace)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	a := &agentProc{id: id, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("agent %s output:\n%s", id, b)
		}
	})
	return a
}

// kill ends the agent with SIGKILL, its whole process group with it.
func (a *agentProc) kill() {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	_ = a.cmd.Wait()
}

func agentJobShow(t *testing.T, r *Region, name string) tandem.Job {
	t.Helper()
	var j tandem.Job
	if err := json.Unmarshal([]byte(r.MustCLI(t, "job", "show", "--workspace", "mlw", "--name", name, "-o", "json")), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func agentJobCreate(t *testing.T, r *Region, file string, sets ...string) tandem.Job {
	t.Helper()
	args := []string{"job", "create", "--workspace", "mlw", "-f", file, "-o", "json"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	var j tandem.Job
	if err := json.Unmarshal([]byte(r.MustCLI(t, args...)), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func agentJobWait(t *testing.T, r *Region, name string, what string, cond func(tandem.Job) bool) tandem.Job {
	t.Helper()
	var j tandem.Job
	WaitFor(t, 90*time.Second, what, func() (bool, error) {
		j = agentJobShow(t, r, name)
		return cond(j), nil
	})
	return j
}

// TestAgents runs jobs on an amlcompute cluster served by two agent
// processes: a job with code and an output completes on an agent; a job
// whose agent is killed with kill -9 mid-run is queued again and completed
// by the other agent; max_instances caps the jobs running at once; a
// cancel reaches the agent, which keeps the partial log; a queued job
// survives a server restart.
func TestAgents(t *testing.T) {
	for _, stack := range Stacks() {
		t.Run(stack, func(t *testing.T) { testAgents(t, stack) })
	}
}

func testAgents(t *testing.T, stack string) {
	bin := Build(t)
	db, storage := StackURLs(t, stack)
	r := StartRegion(t, bin, RegionOptions{Name: "eastus", DB: db, Storage: storage, ExtraArgs: []string{"--agent-timeout", "2s", "--max-retries", "1", "--job-output-sync", "500ms"}})
	r.MustCLI(t, "workspace", "create", "--name", "mlw")
	dir := t.TempDir()
	clusterFile := filepath.Join(dir, "cluster.yml")
	os.WriteFile(clusterFile, []byte("$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\nname: cpu-cluster\ntype: amlcompute\nsize: Standard_D2_v3\nmin_instances: 0\nmax_instances: 1\n"), 0o644)
	r.MustCLI(t, "compute", "create", "--workspace", "mlw", "-f", clusterFile)

	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "main.sh"), []byte("echo started > \"$1/progress.txt\"\necho \"attempt on $(hostname) reads $(cat data.txt) and $(cat \"$2/hello.txt\")\"\nsleep \"${SLEEP:-0}\"\necho finished > \"$1/result.txt\"\npython3 track.py\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "src", "data.txt"), []byte("forty-two"), 0o644)
	os.MkdirAll(filepath.Join(dir, "ref"), 0o755)
	os.WriteFile(filepath.Join(dir, "ref", "hello.txt"), []byte("an input"), 0o644)
	// Tracking as MLflow's client does it: plain HTTP with the run's token.
	os.WriteFile(filepath.Join(dir, "src", "track.py"), []byte(`import json, os, urllib.request
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "loss", "value": 0.25, "timestamp": 1, "step": 1}).encode()
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric", data=body, method="POST",
    headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"], "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
`), 0o644)
	jobFile := filepath.Join(dir, "job.yml")
	os.WriteFile(jobFile, []byte("$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ncode: src\ncommand: bash main.sh ${{outputs.model}} ${{inputs.ref}}\ninputs:\n  ref:\n    type: uri_folder\n    path: ./ref\nenvironment:\n  image: library/python:latest\ncompute: azureml:cpu-cluster\noutputs:\n  model:\n    type: uri_folder\nenvironment_variables:\n  SLEEP: \"0\"\n"), 0o644)

	// A queued job waits for an agent and survives a server restart.
	queued := agentJobCreate(t, r, jobFile)
	if queued.Status != tandem.JobQueued || queued.Compute != "cpu-cluster" {
		t.Fatalf("created %s on %q, want Queued on cpu-cluster", queued.Status, queued.Compute)
	}
	r.Kill()
	r.Restart(t)
	if j := agentJobShow(t, r, queued.Name); j.Status != tandem.JobQueued {
		t.Fatalf("after a restart the queued job is %s (%s)", j.Status, j.Error)
	}

	a1 := startAgent(t, bin, r, "mlw", "cpu-cluster", "agent-1")
	done := agentJobWait(t, r, queued.Name, "the queued job to complete on agent-1", func(j tandem.Job) bool { return tandem.JobDone(j.Status) })
	if done.Status != tandem.JobCompleted || done.Agent != "agent-1" || done.Attempts != 1 {
		t.Fatalf("job ended %s on %q after %d attempts (%s)", done.Status, done.Agent, done.Attempts, done.Error)
	}
	if log := r.MustCLI(t, "job", "stream", "--workspace", "mlw", "--name", queued.Name); !strings.Contains(log, "reads forty-two and an input") {
		t.Fatalf("stored log %q lacks the code's output", log)
	}
	if storage == "" { // files in the data directory: look at the stored output
		if got := storedRunFile(t, r, done.Name, "outputs/model/result.txt"); got != "finished\n" {
			t.Fatalf("stored output holds %q", got)
		}
	}
	if m := r.MustCLI(t, "job", "metrics", "--workspace", "mlw", "--name", queued.Name, "-o", "json"); !strings.Contains(m, `"loss"`) || !strings.Contains(m, "0.25") {
		t.Fatalf("metrics of the agent's job: %s", m)
	}
	var cluster tandem.Compute
	json.Unmarshal([]byte(r.MustCLI(t, "compute", "show", "--workspace", "mlw", "--name", "cpu-cluster", "-o", "json")), &cluster)
	if len(cluster.Agents) != 1 || cluster.Agents[0].ID != "agent-1" {
		t.Fatalf("compute show lists agents %+v, want agent-1", cluster.Agents)
	}

	// kill -9 of the agent mid-run: the job goes to agent-2.
	a2 := startAgent(t, bin, r, "mlw", "cpu-cluster", "agent-2")
	long := agentJobCreate(t, r, jobFile, "environment_variables.SLEEP=4")
	// The agent uploads outputs while the job runs (what a resubmission
	// after a failover would start from).
	running := agentJobWait(t, r, long.Name, "the long job's outputs synced while it runs", func(j tandem.Job) bool {
		for _, o := range j.Outputs {
			if o.Path == "model/progress.txt" && j.Status == tandem.JobRunning && j.OutputsSyncedAt != nil {
				return true
			}
		}
		return false
	})
	first := map[string]*agentProc{"agent-1": a1, "agent-2": a2}[running.Agent]
	if first == nil {
		t.Fatalf("job runs on unknown agent %q", running.Agent)
	}
	first.kill()
	// max_instances 1: while the long job holds the cluster, another waits.
	second := agentJobCreate(t, r, jobFile)
	done = agentJobWait(t, r, long.Name, "the long job to complete after its agent was killed", func(j tandem.Job) bool { return tandem.JobDone(j.Status) })
	if done.Status != tandem.JobCompleted || done.Attempts != 2 || done.Agent == running.Agent {
		t.Fatalf("long job ended %s on %q after %d attempts (%s); its first agent %s was killed", done.Status, done.Agent, done.Attempts, done.Error, running.Agent)
	}
	other := agentJobWait(t, r, second.Name, "the waiting job to complete", func(j tandem.Job) bool { return tandem.JobDone(j.Status) })
	if other.Status != tandem.JobCompleted || other.StartedAt == nil || other.EndedAt == nil || done.StartedAt == nil || done.EndedAt == nil ||
		(other.StartedAt.Before(*done.EndedAt) && done.StartedAt.Before(*other.EndedAt)) {
		t.Fatalf("second job %s started %v, long job ran %v–%v: max_instances 1 was not kept", other.Status, other.StartedAt, done.StartedAt, done.EndedAt)
	}

	// Cancel: the agent stops the job at its next heartbeat and hands in
	// the partial log.
	sleeper := agentJobCreate(t, r, jobFile, "environment_variables.SLEEP=120")
	agentJobWait(t, r, sleeper.Name, "the sleeper to run", func(j tandem.Job) bool { return j.Status == tandem.JobRunning })
	r.MustCLI(t, "job", "cancel", "--workspace", "mlw", "--name", sleeper.Name)
	WaitFor(t, 30*time.Second, "the canceled job's partial log", func() (bool, error) {
		return strings.Contains(r.MustCLI(t, "job", "stream", "--workspace", "mlw", "--name", sleeper.Name), "reads forty-two"), nil
	})
	if j := agentJobShow(t, r, sleeper.Name); j.Status != tandem.JobCanceled {
		t.Fatalf("canceled job is %s", j.Status)
	}
	// The cluster is free again; a pipeline whose default compute is the
	// cluster runs its steps on the agents.
	pipeline := filepath.Join(dir, "pipeline.yml")
	os.WriteFile(pipeline, []byte("$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\ntype: pipeline\nsettings:\n  default_compute: azureml:cpu-cluster\njobs:\n  make:\n    command: echo made > ${{outputs.out}}/m.txt\n    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n    outputs:\n      out:\n  use:\n    command: cat ${{inputs.in}}/m.txt\n    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n    inputs:\n      in: ${{parent.jobs.make.outputs.out}}\n"), 0o644)
	p := agentJobCreate(t, r, pipeline)
	if j := agentJobWait(t, r, p.Name, "the pipeline on the cluster", func(j tandem.Job) bool { return tandem.JobDone(j.Status) }); j.Status != tandem.JobCompleted {
		t.Fatalf("pipeline on the cluster: %s (%s)", j.Status, j.Error)
	} else {
		for _, s := range j.Steps {
			step := agentJobShow(t, r, s.Job)
			if step.Compute != "cpu-cluster" || step.Agent == "" || step.Status != tandem.JobCompleted {
				t.Fatalf("step %s ran on %q by agent %q: %s", s.Name, step.Compute, step.Agent, step.Status)
			}
		}
		if log := r.MustCLI(t, "job", "stream", "--workspace", "mlw", "--name", j.Steps[1].Job); !strings.Contains(log, "made") {
			t.Fatalf("the second step did not read the first's output: %q", log)
		}
	}
}

// storedRunFile returns a file of a job's run folder in a region whose
// storage is its data directory.
func storedRunFile(t *testing.T, r *Region, job, rel string) string {
	t.Helper()
	var found string
	filepath.WalkDir(r.DataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(filepath.ToSlash(p), "/runs/"+job+"/"+rel) {
			b, _ := os.ReadFile(p)
			found = string(b)
		}
		return nil
	})
	return found
}
