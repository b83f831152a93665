package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

// TestE2ECodeSnapshot: a job's code snapshot leaves out what .amlignore
// names, and a code directory holding a link to a file outside it is
// refused at job create, before anything is uploaded or runs.
func TestE2ECodeSnapshot(t *testing.T) {
	_, endpoint, token := startServer(t)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "code-ws"}
	mustRun(t, dir, env, "workspace", "create", "--name", "code-ws")
	cmdtest.WriteFiles(t, dir, map[string]string{
		"src/main.sh":      "ls -A | sort\n",
		"src/.amlignore":   "*.ckpt\ncache/\n",
		"src/model.ckpt":   "big",
		"src/cache/x.bin":  "big",
		"src/lib/util.sh":  "true",
		"job.yml":          "command: bash main.sh\ncode: src\nenvironment:\n  image: library/python:latest\n",
		"outside/password": "hunter2",
	})
	j := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", "job.yml", "-o", "json"))
	deadline := time.Now().Add(60 * time.Second)
	for !tandem.JobDone(j.Status) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		j = decode[tandem.Job](t, mustRun(t, dir, env, "job", "show", "--name", j.Name, "-o", "json"))
	}
	if j.Status != tandem.JobCompleted {
		t.Fatalf("job %s (%s)", j.Status, j.Error)
	}
	log := mustRun(t, dir, env, "job", "stream", "--name", j.Name).stdout
	if !strings.Contains(log, "\nlib\n") || !strings.Contains(log, "\nmain.sh\n") || strings.Contains(log, "model.ckpt") || strings.Contains(log, "cache") {
		t.Fatalf("the run saw %q; want lib and main.sh without the ignored files", log)
	}

	// The job again, in another workspace, from its own YAML.
	y := mustRun(t, dir, env, "job", "show", "--name", j.Name, "-o", "yaml").stdout
	cmdtest.WriteFiles(t, dir, map[string]string{"copy.yml": y})
	mustRun(t, dir, env, "workspace", "create", "--name", "code-ws2")
	env2 := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token, cmdutil.EnvWorkspace: "code-ws2"}
	c := decode[tandem.Job](t, mustRun(t, dir, env2, "job", "create", "-f", "copy.yml", "-o", "json"))
	for !tandem.JobDone(c.Status) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		c = decode[tandem.Job](t, mustRun(t, dir, env2, "job", "show", "--name", c.Name, "-o", "json"))
	}
	if log := mustRun(t, dir, env2, "job", "stream", "--name", c.Name).stdout; c.Status != tandem.JobCompleted || !strings.Contains(log, "\nmain.sh\n") || strings.Contains(log, "model.ckpt") {
		t.Fatalf("the copy ended %s and saw %q", c.Status, log)
	}

	if err := os.Symlink(filepath.Join(dir, "outside", "password"), filepath.Join(dir, "src", "creds")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	wantExit(t, dir, env, 2, "job.yml:2:7: code: src: symbolic link creds points outside the directory", "job", "create", "-f", "job.yml")
	if jobs := decode[[]tandem.Job](t, mustRun(t, dir, env, "job", "list", "-o", "json")); len(jobs) != 1 {
		t.Fatalf("a refused job was recorded: %d jobs", len(jobs))
	}
}
