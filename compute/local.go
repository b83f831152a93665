// Package compute runs job commands. Local runs them as processes on the
// server host.
package compute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Job is one command to run.
type Job struct {
	Name    string            // the job's name, given as TANDEM_RUN_ID
	Command string            // bash command; ${{outputs.y}} is replaced by y's directory
	Env     map[string]string // added to the server's environment
	Outputs []string          // output names: one empty directory each
	Timeout time.Duration     // 0: none
	// Code writes the job's code snapshot into dir, the command's working
	// directory, before the command starts.
	Code func(dir string) error
	// Inputs, when set, writes the job's data and model inputs under dir
	// (beside the working directory) and returns each input's local path,
	// which replaces ${{inputs.NAME}} in the command.
	Inputs func(dir string) (map[string]string, error)
	// Notes are written to the log, one line each, before the command runs.
	Notes []string
	// PrepareOutputs, when set, is called with the output directories
	// (name -> directory) once they exist and before the command starts:
	// to seed them (a resubmitted job resumes from its predecessor's
	// outputs) or to watch them while the command runs. log is the job's
	// log, for notes.
	PrepareOutputs func(dirs map[string]string, log io.Writer) error
	// Image is the environment's image: the job runs in it when a
	// container runtime works here. Environment names the environment for
	// the log when there is no image (a registry reference, say).
	Image       string
	Environment string
}

// ArtifactsOutput is Azure's default output of a command: when a job
// declares it, it receives the run's ./outputs and ./logs folders.
const ArtifactsOutput = "artifacts"

// Result is how a run ended. Root holds the log and the outputs until the
// caller removes it with Cleanup.
type Result struct {
	Root     string
	Log      string            // path of the combined stdout and stderr
	Outputs  map[string]string // output name -> directory
	ExitCode int               // -1 when the command did not exit by itself
	TimedOut bool
	Canceled bool  // ctx ended before the command did
	Err      error // a failure to prepare or start the command
}

// Cleanup removes the run's directory (read-only input folders included).
func (r *Result) Cleanup() {
	if r.Root != "" {
		_ = filepath.WalkDir(r.Root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(r.Root)
	}
}

// Local runs jobs as bash processes on this host, one temporary directory
// per run.
type Local struct {
	TempDir string // parent of the runs' directories; default os.TempDir()
	// Runtime is the container runtime for jobs whose environment has an
	// image: "" or "auto" (docker, else podman, whichever answers `info`),
	// "none", or a command. Without one, jobs run on the host.
	Runtime string
}

var (
	outputRE = regexp.MustCompile(`\$\{\{\s*outputs\.([A-Za-z0-9_.-]+)\s*\}\}`)
	inputRE  = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_.-]+)\s*\}\}`)
)

// Run runs job until it exits, its timeout passes or ctx ends (which kills
// its whole process group). started is called with the log's path once the
// process runs.
func (l *Local) Run(ctx context.Context, job *Job, started func(log string)) *Result {
	res := &Result{ExitCode: -1, Outputs: map[string]string{}}
	root, err := os.MkdirTemp(l.TempDir, "tandem-job-")
	if err != nil {
		res.Err = err
		return res
	}
	res.Root = root
	res.Log = filepath.Join(root, "std_log.txt")
	logf, err := os.Create(res.Log)
	if err != nil {
		res.Err = err
		return res
	}
	defer logf.Close()
	runtime := l.logWhere(job, logf)
	work, inputs, err := prepareRun(job, root, res, logf)
	if err != nil {
		res.Err = err
		return res
	}
	command := expandCommand(job.Command, res.Outputs, inputs)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if job.Timeout > 0 {
		var c2 context.CancelFunc
		runCtx, c2 = context.WithTimeout(runCtx, job.Timeout)
		defer c2()
	}
	vars := runVars(job, res.Outputs, inputs)
	var cmd *exec.Cmd
	startCmd := func(container bool) error {
		if container {
			name := containerName(job.Name)
			cmd = exec.CommandContext(runCtx, runtime, containerArgs(name, job.Image, root, work, vars, command)...)
			cmd.Env = os.Environ()
			cmd.Cancel = func() error {
				rm, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = exec.CommandContext(rm, runtime, "rm", "-f", name).Run()
				return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		} else {
			cmd = exec.CommandContext(runCtx, "bash", "-c", command)
			cmd.Env = append(os.Environ(), vars...)
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		}
		cmd.Dir = work
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = procAttr()
		cmd.WaitDelay = 5 * time.Second
		return cmd.Start()
	}
	logStart, _ := logf.Seek(0, io.SeekCurrent)
	if err := startCmd(runtime != ""); err != nil {
		res.Err = fmt.Errorf("start the command: %w", err)
		return res
	}
	if started != nil {
		started(res.Log)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if runtime != "" && runCtx.Err() == nil && errors.As(err, &ee) && runtimeFailed(ee.ExitCode()) && !loggedSince(res.Log, logStart, containerStarted) {
		// The runtime could not start the container: the command did not
		// run. Run it on the host, and say so.
		fmt.Fprintf(logf, "tandem: %s could not run the container (exit %d, above); job %s runs on the host instead\n", filepath.Base(runtime), ee.ExitCode(), job.Name)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err := startCmd(false); err != nil {
			res.Err = fmt.Errorf("start bash: %w", err)
			return res
		}
		err = cmd.Wait()
	}
	// Whatever the shell left behind in its group goes too.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if dir, ok := res.Outputs[ArtifactsOutput]; ok {
		if cerr := copyArtifacts(work, dir); cerr != nil {
			fmt.Fprintf(logf, "tandem: cannot keep ./outputs and ./logs as the artifacts output: %v\n", cerr)
		}
	}
	endRun(ctx, runCtx, err, job, res, logf)
	return res
}

// logWhere writes the log's first lines: where the job runs (in a
// container of its image, or on the host and why) and the job's notes. It
// returns the container runtime to use, "" for the host.
func (l *Local) logWhere(job *Job, logf io.Writer) (runtime string) {
	why := ""
	if job.Image != "" {
		runtime, why = l.containerRuntime()
	}
	switch {
	case runtime != "":
		fmt.Fprint(logf, containerLine(job.Name, job.Image, filepath.Base(runtime)))
	case job.Image != "":
		fmt.Fprintf(logf, "tandem: job %s runs on the host: %s; the environment's image %s only labels it\n", job.Name, why, job.Image)
	default:
		env := job.Environment
		if env == "" {
			env = "(none)"
		}
		fmt.Fprintf(logf, "tandem: job %s runs on the host: its environment %s has no image to run in\n", job.Name, env)
	}
	for _, n := range job.Notes {
		fmt.Fprintf(logf, "tandem: %s\n", n)
	}
	return runtime
}

// prepareRun lays out a run's folder under root: the code in code/ (with
// Azure's ./outputs and ./logs), the inputs, and one folder per output
// (recorded in res.Outputs). It returns the working directory and where
// each input is.
func prepareRun(job *Job, root string, res *Result, logf io.Writer) (work string, inputs map[string]string, err error) {
	work = filepath.Join(root, "code")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, err
	}
	if job.Code != nil {
		if err := job.Code(work); err != nil {
			return "", nil, fmt.Errorf("prepare code: %w", err)
		}
	}
	// Azure gives every command a ./outputs and a ./logs folder.
	for _, d := range []string{"outputs", "logs"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return "", nil, err
		}
	}
	inputs = map[string]string{}
	if job.Inputs != nil {
		if inputs, err = job.Inputs(filepath.Join(root, "inputs")); err != nil {
			return "", nil, fmt.Errorf("prepare inputs: %w", err)
		}
	}
	names := append([]string(nil), job.Outputs...)
	sort.Strings(names)
	for _, o := range names {
		dir := filepath.Join(root, "outputs", o)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		res.Outputs[o] = dir
	}
	if job.PrepareOutputs != nil {
		dirs := make(map[string]string, len(res.Outputs))
		for o, dir := range res.Outputs {
			dirs[o] = dir
		}
		if err := job.PrepareOutputs(dirs, logf); err != nil {
			return "", nil, fmt.Errorf("prepare outputs: %w", err)
		}
	}
	return work, inputs, nil
}

// expandCommand replaces ${{outputs.x}} and ${{inputs.x}} in a command by
// the folders of the run.
func expandCommand(command string, outputs, inputs map[string]string) string {
	command = outputRE.ReplaceAllStringFunc(command, func(m string) string {
		name := outputRE.FindStringSubmatch(m)[1]
		if dir, ok := outputs[name]; ok {
			return dir
		}
		return m
	})
	command = inputRE.ReplaceAllStringFunc(command, func(m string) string {
		if p, ok := inputs[inputRE.FindStringSubmatch(m)[1]]; ok {
			return p
		}
		return m
	})
	return command
}

// runVars is the environment a run's command gets besides the server's:
// the job's variables (sorted), its run id, and where its inputs and
// outputs are.
func runVars(job *Job, outputs, inputs map[string]string) []string {
	var vars []string
	keys := make([]string, 0, len(job.Env))
	for k := range job.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vars = append(vars, k+"="+job.Env[k])
	}
	vars = append(vars, "TANDEM_RUN_ID="+job.Name, "AZUREML_RUN_ID="+job.Name)
	for o, dir := range outputs {
		vars = append(vars, "AZUREML_OUTPUT_"+strings.ToUpper(o)+"="+dir)
	}
	for i, p := range inputs {
		vars = append(vars, "AZUREML_INPUT_"+strings.ToUpper(i)+"="+p)
	}
	return vars
}

// endRun records how the command ended: canceled, timed out, its exit
// code, or the error that kept it from running.
func endRun(ctx, runCtx context.Context, err error, job *Job, res *Result, logf io.Writer) {
	switch {
	case ctx.Err() != nil:
		res.Canceled = true
		fmt.Fprintf(logf, "tandem: job canceled\n")
	case runCtx.Err() != nil:
		res.TimedOut = true
		fmt.Fprintf(logf, "tandem: job timed out after %s\n", job.Timeout)
	case err == nil:
		res.ExitCode = 0
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() >= 0 {
			res.ExitCode = ee.ExitCode()
		} else {
			res.Err = err
		}
	}
}

// loggedSince reports whether line was written to the log at or after
// offset.
func loggedSince(log string, offset int64, line string) bool {
	f, err := os.Open(log)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	return err == nil && strings.Contains(string(b), line+"\n")
}

// copyArtifacts copies the run's ./outputs and ./logs folders into dir.
func copyArtifacts(work, dir string) error {
	for _, d := range []string{"outputs", "logs"} {
		src := filepath.Join(work, d)
		err := filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(work, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(dir, rel)
			switch {
			case e.IsDir():
				return os.MkdirAll(dst, 0o755)
			case !e.Type().IsRegular():
				return nil
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			out, err := os.Create(dst)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		})
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
