package compute

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeRuntime writes a stand-in for docker/podman: no container runtime
// can start containers on the machines these tests run on (docker has no
// daemon, podman cannot set rlimits in the sandbox), so this script plays
// the runtime's part of the contract Local relies on — `info`, `run` with
// its flags, `rm -f`, and exit 125 when run itself fails — and records the
// arguments. It runs the command on the host, in the working directory and
// with only the variables given by -e, the way a container would see them.
func fakeRuntime(t *testing.T, runExit int) (bin, argsFile string) {
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := `#!/bin/bash
case "$1" in
info) exit 0 ;;
rm) exit 0 ;;
run)
  printf '%s\n' "$@" > ` + argsFile + `
  if [ ` + itoa(runExit) + ` -ne 0 ]; then echo "Error: cannot start container" >&2; exit ` + itoa(runExit) + `; fi
  shift
  envs=(); wd=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --rm) shift ;;
      --name|--network|-v|--entrypoint) shift 2 ;;
      -w) wd="$2"; shift 2 ;;
      -e) envs+=("$2"); shift 2 ;;
      *) break ;;
    esac
  done
  image="$1"; shift  # then: -c SCRIPT tandem COMMAND
  cd "$wd" && exec env -i PATH="$PATH" IMAGE="$image" "${envs[@]}" /bin/sh "$@"
  ;;
esac
exit 2
`
	bin = filepath.Join(dir, "fakert")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

func itoa(n int) string { return strconv.Itoa(n) }

func runLog(t *testing.T, l *Local, job *Job) (*Result, string) {
	t.Helper()
	res := l.Run(context.Background(), job, nil)
	t.Cleanup(res.Cleanup)
	b, err := os.ReadFile(res.Log)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestLocalRunsInContainer(t *testing.T) {
	bin, argsFile := fakeRuntime(t, 0)
	l := &Local{Runtime: bin}
	job := &Job{Name: "j1", Image: "library/python:3.11", Command: `echo "in $IMAGE as $TANDEM_RUN_ID with $GREETING" > ${{outputs.out}}/x.txt; cat ${{outputs.out}}/x.txt`,
		Env: map[string]string{"GREETING": "hello"}, Outputs: []string{"out"}}
	res, log := runLog(t, l, job)
	if res.ExitCode != 0 || res.Err != nil {
		t.Fatalf("exit %d, %v\n%s", res.ExitCode, res.Err, log)
	}
	if first := strings.SplitN(log, "\n", 2)[0]; first != "tandem: job j1 runs in container library/python:3.11 (fakert)" {
		t.Fatalf("first log line %q", first)
	}
	if !strings.Contains(log, "\ntandem: the container started\nin library/python:3.11 as j1 with hello") {
		t.Fatalf("log %q", log)
	}
	args, _ := os.ReadFile(argsFile)
	for _, want := range []string{"run\n--rm\n--name\ntandem-j1-", "--network\nhost\n", "-v\n" + res.Root + ":" + res.Root + "\n", "-w\n" + filepath.Join(res.Root, "code") + "\n",
		"-e\nGREETING=hello\n", "-e\nTANDEM_RUN_ID=j1\n", "\nlibrary/python:3.11\n-c\n"} {
		if !strings.Contains(string(args), want) {
			t.Fatalf("runtime arguments lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(string(args), "PATH=") {
		t.Fatal("the host's environment was passed into the container")
	}
}

func TestLocalContainerFallsBackToHost(t *testing.T) {
	bin, _ := fakeRuntime(t, ExitRuntimeFailed)
	res, log := runLog(t, &Local{Runtime: bin}, &Job{Name: "j2", Image: "img:1", Command: "echo on the host"})
	if res.ExitCode != 0 || !strings.Contains(log, "cannot start container") || !strings.Contains(log, "fakert could not run the container (exit 125, above); job j2 runs on the host instead") || !strings.Contains(log, "on the host\n") {
		t.Fatalf("exit %d; log:\n%s", res.ExitCode, log)
	}
	// A command that itself exits 127 in a container that started is the
	// job's failure, not the runtime's: it is not run again on the host.
	ok, _ := fakeRuntime(t, 0)
	res, log = runLog(t, &Local{Runtime: ok}, &Job{Name: "j3", Image: "img:1", Command: "echo ran; exit 127"})
	if res.ExitCode != 127 || strings.Count(log, "ran\n") != 1 || strings.Contains(log, "instead") {
		t.Fatalf("exit %d; log:\n%s", res.ExitCode, log)
	}
}

func TestLocalHostReasons(t *testing.T) {
	for _, c := range []struct {
		l    *Local
		job  *Job
		want string
	}{
		{&Local{Runtime: "none"}, &Job{Name: "a", Image: "img:1", Command: "true"}, "tandem: job a runs on the host: container runtimes are turned off (--container-runtime none); the environment's image img:1 only labels it"},
		{&Local{Runtime: "/nonexistent/docker"}, &Job{Name: "b", Image: "img:1", Command: "true"}, "tandem: job b runs on the host: no container runtime works here (/nonexistent/docker: not installed)"},
		{&Local{}, &Job{Name: "c", Environment: "azureml://registries/azureml/environments/sklearn-1.5/labels/latest", Command: "true"}, "tandem: job c runs on the host: its environment azureml://registries/azureml/environments/sklearn-1.5/labels/latest has no image to run in"},
	} {
		res, log := runLog(t, c.l, c.job)
		if res.ExitCode != 0 || !strings.HasPrefix(log, c.want) {
			t.Fatalf("exit %d; log %q, want it to start with %q", res.ExitCode, log, c.want)
		}
	}
}
