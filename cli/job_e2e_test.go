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

// TestE2EJobs runs corpus command jobs on local compute through the CLI.
func TestE2EJobs(t *testing.T) {
	corpus := corpusDir(t)
	_, endpoint, token := startServer(t)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
	mustRun(t, dir, env, "workspace", "create", "--name", "jobs")
	env[cmdutil.EnvWorkspace] = "jobs"

	waitDone := func(name string) tandem.Job {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
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

	for _, c := range []struct{ file, want string }{
		{"jobs/basics/hello-world.yml", "hello world"},
		{"jobs/basics/hello-world-input.yml", "hello world\n42"},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			file := filepath.Join(corpus, c.file)
			args := []string{"job", "create", "-f", file, "-o", "json"}
			if b, _ := os.ReadFile(file); strings.Contains(string(b), "compute: azureml:") {
				args = append(args, "--set", "compute=local")
			}
			created := decode[tandem.Job](t, mustRun(t, dir, env, args...))
			if created.Name == "" || created.Status != tandem.JobQueued {
				t.Fatalf("created %+v", created)
			}
			j := waitDone(created.Name)
			if j.Status != tandem.JobCompleted || j.ExitCode == nil || *j.ExitCode != 0 {
				t.Fatalf("job ended %s (%s)", j.Status, j.Error)
			}
			out := mustRun(t, dir, env, "job", "stream", "--name", created.Name)
			if !strings.Contains(out.stdout, c.want) || !strings.Contains(out.stdout, "runs on the host") {
				t.Fatalf("stream printed %q, want %q", out.stdout, c.want)
			}
			if list := mustRun(t, dir, env, "job", "list"); !strings.Contains(list.stdout, created.Name) {
				t.Fatalf("list %q lacks %s", list.stdout, created.Name)
			}
		})
	}

	t.Run("stream and cancel", func(t *testing.T) {
		yml := filepath.Join(dir, "code-job.yml")
		src := filepath.Join(dir, "src")
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "main.sh"), []byte("echo from code $MSG\n"), 0o644)
		os.WriteFile(yml, []byte("$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\ncode: src\ncommand: bash main.sh\nenvironment:\n  image: library/python:latest\nenvironment_variables:\n  MSG: hi\ncompute: azureml:cpu-cluster\n"), 0o644)
		wantExit(t, dir, env, 2, "cpu-cluster", "job", "create", "-f", yml)
		r := mustRun(t, dir, env, "job", "create", "-f", yml, "--set", "compute=local", "--stream", "-o", "json")
		if !strings.Contains(r.stdout, "from code hi") {
			t.Fatalf("--stream printed %q", r.stdout)
		}
		long := mustRun(t, dir, env, "job", "create", "-f", yml, "--set", "command=sleep 60", "--set", "compute=local", "-o", "json")
		j := decode[tandem.Job](t, long)
		canceled := decode[tandem.Job](t, mustRun(t, dir, env, "job", "cancel", "--name", j.Name, "-o", "json"))
		if canceled.Status != tandem.JobCanceled {
			t.Fatalf("after cancel: %s", canceled.Status)
		}
	})
}
