package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// TestE2ECompute registers the corpus computes as they are under a 10-core
// region quota: clusters hold max_instances × vCPUs, the one past the quota
// is refused with the numbers, instance and VM records are not runnable,
// the VM's SSH password goes to the vault, and jobs are refused before
// anything runs when their compute cannot run them.
func TestE2ECompute(t *testing.T) {
	corpus := corpusDir(t)
	_, endpoint, token := startServer(t, "--quota-cores", "10")
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "mlw-c"}
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw-c")
	file := func(name string) string { return filepath.Join(corpus, "resources/compute", name) }

	list := decode[[]tandem.Compute](t, mustRun(t, dir, env, "compute", "list", "-o", "json"))
	if len(list) != 1 || list[0].Name != "local" || !list[0].BuiltIn || list[0].State != tandem.ComputeReady {
		t.Fatalf("a new workspace lists %+v, want only the built-in local compute", list)
	}

	minimal := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "create", "-f", file("cluster-minimal.yml"), "-o", "json"))
	if minimal.Name != "minimal-example" || minimal.Size != "STANDARD_DS3_v2" || minimal.Cores != 4 || minimal.MaxInstances != 1 || minimal.QuotaCores() != 4 || minimal.State != tandem.ComputeReady {
		t.Fatalf("cluster-minimal.yml registered as %+v", minimal)
	}
	// basic-example: 2 × 4 vCPUs = 8 more; 4 + 8 > 10.
	wantExit(t, dir, env, 9, `compute "basic-example" needs 8 cores (max_instances 2 × 4 vCPUs of STANDARD_DS3_v2), but region`, "compute", "create", "-f", file("cluster-basic.yml"))
	r := runCLI(t, dir, env, "", "compute", "create", "-f", file("cluster-basic.yml"))
	if !strings.Contains(r.stderr, "quota of 10 cores and 4 in use by mlw-c/minimal-example 4; 6 are free") {
		t.Fatalf("quota error %q does not name what holds the quota", r.stderr)
	}
	if _, _, code := runShow(t, dir, env, "basic-example"); code != 3 {
		t.Fatalf("the refused cluster exists (show exit %d)", code)
	}
	// One instance fits.
	basic := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "create", "-f", file("cluster-basic.yml"), "--set", "max_instances=1", "-o", "json"))
	if basic.QuotaCores() != 4 || basic.IdleTimeBeforeScaleDown != 120 {
		t.Fatalf("basic-example with one instance: %+v", basic)
	}
	q := decode[tandem.Quota](t, mustRun(t, dir, env, "compute", "quota", "-o", "json"))
	if q.LimitCores != 10 || q.UsedCores != 8 || len(q.Clusters) != 2 {
		t.Fatalf("quota %+v, want 8 of 10 cores held by two clusters", q)
	}
	wantExit(t, dir, env, 4, "already exists", "compute", "create", "-f", file("cluster-user-identity.yml"), "--set", "max_instances=1")

	inst := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "create", "-f", file("instance-schedule.yml"), "-o", "json"))
	if inst.State != tandem.ComputeNotRunnable || !strings.Contains(inst.StateReason, "records only") || inst.QuotaCores() != 0 {
		t.Fatalf("compute instance registered as %+v", inst)
	}
	password := string(secretValue(t, "tdm-vm-"))
	vm := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "create", "-f", file("vm-attach.yml"), "--set", "ssh_settings.admin_password="+password, "-o", "json"))
	secret := vm.Credentials["ssh_settings.admin_password"]
	if vm.State != tandem.ComputeNotRunnable || secret == "" {
		t.Fatalf("vm registered as %+v, want a record whose password is in the vault", vm)
	}
	if got := runCLI(t, dir, env, "", "secret", "get", "--name", secret); got.code != 0 || got.stdout != password {
		t.Fatalf("vault secret %s holds %q (exit %d)", secret, got.stdout, got.code)
	}
	for _, args := range [][]string{{"compute", "show", "--name", "vm-example", "-o", "json"}, {"compute", "show", "--name", "vm-example", "-o", "yaml"}, {"compute", "list"}} {
		if out := mustRun(t, dir, env, args...); strings.Contains(out.stdout, password) {
			t.Fatalf("%v prints the SSH password", args)
		}
	}
	yml := mustRun(t, dir, env, "compute", "show", "--name", "basic-example", "-o", "yaml").stdout
	if !strings.Contains(yml, "amlCompute.schema.json") || !strings.Contains(yml, "max_instances: 1") {
		t.Fatalf("show -o yaml printed %q, want the Azure document", yml)
	}
	// An attached kind is a record too (the corpus file's name is a
	// placeholder, so it is given here).
	spark := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "create", "-f", file("attached-spark-user-identity.yml"), "--set", "name=spark-pool", "-o", "json"))
	if spark.Type != "synapsespark" || spark.State != tandem.ComputeNotRunnable || spark.QuotaCores() != 0 {
		t.Fatalf("attached spark pool registered as %+v", spark)
	}
	wantExit(t, dir, env, 4, "built-in", "compute", "delete", "--name", "local", "--yes")

	// Jobs: refused at create when their compute cannot run them.
	job := filepath.Join(dir, "job.yml")
	os.WriteFile(job, []byte("command: echo hi\nenvironment:\n  image: library/python:latest\n"), 0o644)
	wantExit(t, dir, env, 2, `compute "schedule-example-i" is not runnable here`, "job", "create", "-f", job, "--set", "compute=azureml:schedule-example-i")
	wantExit(t, dir, env, 2, `compute "spark-pool" is not runnable here`, "job", "create", "-f", job, "--set", "compute=azureml:spark-pool")
	wantExit(t, dir, env, 9, `the job asks for 3 instances (resources.instance_count) but compute "basic-example" has at most 1 (max_instances)`, "job", "create", "-f", job, "--set", "compute=azureml:basic-example", "--set", "resources.instance_count=3")
	wantExit(t, dir, env, 9, `compute "local" has at most 4`, "job", "create", "-f", job, "--set", "resources.instance_count=5")
	wantExit(t, dir, env, 2, `compute "nowhere" does not exist`, "job", "create", "-f", job, "--set", "compute=azureml:nowhere")
	if jobs := decode[[]tandem.Job](t, mustRun(t, dir, env, "job", "list", "-o", "json")); len(jobs) != 0 {
		t.Fatalf("refused jobs were recorded: %+v", jobs)
	}

	// Deleting a cluster frees its cores; its secrets go with a VM.
	mustRun(t, dir, env, "compute", "delete", "--name", "minimal-example", "--yes")
	mustRun(t, dir, env, "compute", "delete", "--name", "vm-example", "--yes")
	if got := runCLI(t, dir, env, "", "secret", "get", "--name", secret); got.code != 3 {
		t.Fatalf("the VM's secret outlived it: exit %d", got.code)
	}
	if q := decode[tandem.Quota](t, mustRun(t, dir, env, "compute", "quota", "-o", "json")); q.UsedCores != 4 {
		t.Fatalf("after delete the quota holds %d cores, want 4", q.UsedCores)
	}
	mustRun(t, dir, env, "compute", "create", "-f", file("cluster-minimal.yml"), "--set", "max_instances=1")

	// Scale-out respects the quota: 4 + 4 in use, basic-example to 2
	// instances needs 4 more than the 10.
	wantExit(t, dir, env, 9, `compute "basic-example" needs 8 cores (max_instances 2 × 4 vCPUs of STANDARD_DS3_v2), but region`, "compute", "update", "--name", "basic-example", "--max-instances", "2")
	if c := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "show", "--name", "basic-example", "-o", "json")); c.MaxInstances != 1 {
		t.Fatalf("a refused update changed max_instances to %d", c.MaxInstances)
	}
	mustRun(t, dir, env, "compute", "delete", "--name", "minimal-example", "--yes")
	up := decode[tandem.Compute](t, mustRun(t, dir, env, "compute", "update", "--name", "basic-example", "--max-instances", "2", "--tags", "team=vision", "-o", "json"))
	if up.MaxInstances != 2 || up.QuotaCores() != 8 || up.Tags["team"] != "vision" {
		t.Fatalf("after update: %+v", up)
	}
	if yml := mustRun(t, dir, env, "compute", "show", "--name", "basic-example", "-o", "yaml").stdout; !strings.Contains(yml, "max_instances: 2") {
		t.Fatalf("the document was not updated: %s", yml)
	}
	wantExit(t, dir, env, 2, "min_instances (3) is more than max_instances (2)", "compute", "update", "--name", "basic-example", "--min-instances", "3")
	wantExit(t, dir, env, 2, "only amlcompute clusters have scale settings", "compute", "update", "--name", "schedule-example-i", "--max-instances", "3")
	wantExit(t, dir, env, 4, "built-in", "compute", "update", "--name", "local", "--max-instances", "3")
}

func runShow(t *testing.T, dir string, env map[string]string, name string) (string, string, int) {
	r := runCLI(t, dir, env, "", "compute", "show", "--name", name)
	return r.stdout, r.stderr, r.code
}
