package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// Environment variables read or set by this package.
const (
	// EnvBinary names a tandem binary for Build to return instead of
	// building one, e.g. for a soak script that builds once for many runs.
	EnvBinary = "TANDEM_E2E_BINARY"

	// The CLI's connection settings, set by Region.CLI and removed from
	// the environment RunCLI inherits.
	envEndpoint  = "TANDEM_ENDPOINT"
	envToken     = "TANDEM_TOKEN"
	envWorkspace = "TANDEM_WORKSPACE"
)

const (
	// StartTimeout is how long StartRegion and Restart wait for a server
	// to print its address.
	StartTimeout = 30 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	StopTimeout = 15 * time.Second
	// CLITimeout bounds one CLI command; a command still running after it
	// is killed and fails the test.
	CLITimeout = 2 * time.Minute
	// restartPortWait is how long Restart retries while the region's port
	// is still taken.
	restartPortWait = 10 * time.Second
	// logTail is how much of each log is copied into a failed test's log.
	logTail = 64 << 10
)

// FreePort returns a loopback address, 127.0.0.1:PORT, that was free a
// moment ago. Another process may take it before it is used: prefer port 0
// where the listener reports the port it got.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("e2e: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitFor calls cond until it returns true, at growing intervals of 10ms up
// to 250ms, and fails the test if timeout passes first, naming what was
// awaited and the last error cond returned. An error from cond does not end
// the wait: it is kept for the message.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 250*time.Millisecond) {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		left := time.Until(deadline)
		if left <= 0 {
			if last != nil {
				t.Fatalf("e2e: timed out after %v waiting for %s; last error: %v", timeout, what, last)
			}
			t.Fatalf("e2e: timed out after %v waiting for %s", timeout, what)
			return
		}
		time.Sleep(min(pause, left))
	}
}

// Backend stacks a region can run on.
const (
	// StackSQLiteFile is the embedded default: SQLite and files in the
	// region's data dir.
	StackSQLiteFile = "sqlite+file"
	// StackPostgresAzblob is PostgreSQL and Azure Blob (Azurite), started
	// by scripts/test.
	StackPostgresAzblob = "postgres+azblob"
)

// Stacks returns the backend stacks tests should run regions on:
// StackSQLiteFile always, and StackPostgresAzblob when PostgreSQL and
// Azurite are available (scripts/with-postgres and scripts/with-azurite)
// or required (TANDEM_TEST_REQUIRE_SERVICES=1, as scripts/test sets).
func Stacks() []string {
	stacks := []string{StackSQLiteFile}
	available := os.Getenv(sqltest.EnvPostgresURL) != "" && os.Getenv("TANDEM_TEST_AZURITE") == "1"
	if available || os.Getenv(sqltest.EnvRequireServices) == "1" {
		stacks = append(stacks, StackPostgresAzblob)
	}
	return stacks
}

// StackURLs returns the --db and --storage URLs of a fresh database and
// container on stack, removed when t ends, for RegionOptions.DB and
// Storage. Call it once per region, before StartRegion and with the same t,
// so that the region stops before its database is dropped. For
// StackSQLiteFile both are "": the region keeps them in its data dir.
// It skips t when a service is missing, or fails it when services are
// required.
func StackURLs(t testing.TB, stack string) (db, storage string) {
	t.Helper()
	switch stack {
	case StackSQLiteFile:
		return "", ""
	case StackPostgresAzblob:
		return sqltest.DSN(t, sqltest.Postgres), blobtest.URL(t, "azblob")
	}
	t.Fatalf("e2e: unknown stack %q: want %q or %q", stack, StackSQLiteFile, StackPostgresAzblob)
	return "", ""
}

// RegionOptions say how to start a region. Only Name matters for most
// tests.
type RegionOptions struct {
	// Name is the region name (--region); default "local".
	Name string
	// DataDir is the data directory (--data); default a directory named
	// Name in a new t.TempDir(). The server's stdout and stderr are
	// appended to DATADIR.stdout.log and DATADIR.stderr.log beside it.
	DataDir string
	// Listen is the address (--listen); default 127.0.0.1:0. After the
	// first start the region keeps the port it got, for Restart.
	Listen string
	// DB and Storage are the metadata database and blob storage URLs
	// (--db, --storage); "" keeps them in the data dir. See StackURLs.
	DB, Storage string
	// ExtraArgs are more `tandem server` arguments.
	ExtraArgs []string
	// Env holds KEY=VALUE pairs added to the test's own environment, which
	// the server inherits (AZURE_STORAGE_* from scripts/with-azurite, for
	// instance).
	Env []string
}

// Region is a `tandem server` process started by StartRegion. Its fields
// do not change after StartRegion returns (Restart keeps the same port and
// token). Its methods are safe to call from any goroutine, except those
// that take a testing.TB, which follow the rules of package testing.
type Region struct {
	Name      string // region name
	Endpoint  string // http://127.0.0.1:PORT
	Addr      string // 127.0.0.1:PORT
	DataDir   string // absolute data directory
	TokenPath string // the region admin token's file
	Token     string // the region admin token

	bin                    string
	args                   []string // the server's arguments, with the port fixed after the first start
	env                    []string
	cliDir                 string // the CLI's working directory: empty, so no config.json applies
	stdoutPath, stderrPath string

	mu     sync.Mutex
	proc   *process // the current or last process
	starts int
}

// StartRegion starts `tandem server` with opts as a real process in its
// own process group and waits until it prints its address. It fails t with
// the server's output if the server exits or prints nothing within
// StartTimeout. The region is stopped (SIGTERM, then SIGKILL) when t ends;
// its logs go to the test log if t failed.
func StartRegion(t testing.TB, bin string, opts RegionOptions) *Region {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "local"
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), opts.Name)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		t.Fatalf("e2e: data dir: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		t.Fatalf("e2e: data dir: %v", err)
	}
	r := &Region{
		Name:       opts.Name,
		DataDir:    dataDir,
		bin:        bin,
		env:        append(processEnv(), opts.Env...),
		cliDir:     t.TempDir(),
		stdoutPath: dataDir + ".stdout.log",
		stderrPath: dataDir + ".stderr.log",
	}
	r.args = []string{"server", "--region", opts.Name, "--data", dataDir, "--listen", opts.Listen}
	if opts.DB != "" {
		r.args = append(r.args, "--db", opts.DB)
	}
	if opts.Storage != "" {
		r.args = append(r.args, "--storage", opts.Storage)
	}
	r.args = append(r.args, opts.ExtraArgs...)
	t.Cleanup(func() { r.cleanup(t) })
	if err := r.start(); err != nil {
		t.Fatalf("e2e: start region %s: %v", r.Name, err)
	}
	return r
}

// Restart starts the region again after Kill or Stop (or a crash), with
// the same arguments: the same data dir, port, database and storage. While
// the port is still taken it retries for a few seconds. It fails t if the
// region is running.
func (r *Region) Restart(t testing.TB) {
	t.Helper()
	if r.Running() {
		t.Fatalf("e2e: restart of region %s while it runs (pid %d): Kill or Stop it first", r.Name, r.PID())
	}
	if p := r.current(); p != nil {
		p.reap()
	}
	deadline := time.Now().Add(restartPortWait)
	for {
		err := r.start()
		if err == nil {
			return
		}
		var se *startError
		if errors.As(err, &se) && se.addrInUse() && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("e2e: restart region %s: %v", r.Name, err)
	}
}

// Kill sends SIGKILL to the region's whole process group, as a crash
// would, and waits until the server has exited. It does nothing if the
// region is not running.
func (r *Region) Kill() {
	p := r.current()
	if p == nil {
		return
	}
	p.signal(-p.pid, syscall.SIGKILL)
	p.reap()
}

// Stop sends SIGTERM to the server and waits up to StopTimeout for it to
// exit, then kills its process group. It returns an error if the server
// had to be killed or exited with a non-zero status, including a crash
// before Stop. It returns nil if the region was already stopped or killed.
func (r *Region) Stop() error {
	p := r.current()
	if p == nil || p.handled() {
		return nil
	}
	select {
	case <-p.exited:
	default:
		p.signal(p.pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(StopTimeout):
			p.signal(-p.pid, syscall.SIGKILL)
			p.reap()
			return fmt.Errorf("region %s (pid %d) did not stop within %v of SIGTERM: killed", r.Name, p.pid, StopTimeout)
		}
	}
	if state := p.reap(); !state.Success() {
		return fmt.Errorf("region %s (pid %d) %v", r.Name, p.pid, state)
	}
	return nil
}

// Running reports whether the server process is running.
func (r *Region) Running() bool {
	p := r.current()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID returns the process id of the current or last server process, which
// is also its process group id.
func (r *Region) PID() int {
	if p := r.current(); p != nil {
		return p.pid
	}
	return 0
}

// URL returns the region's endpoint followed by path, e.g. r.URL("/healthz").
func (r *Region) URL(path string) string { return r.Endpoint + path }

// Logs returns everything the region's servers printed so far, across
// restarts: stdout, then stderr.
func (r *Region) Logs() string {
	return r.logs(-1)
}

// logs returns the logs, each cut to its last max bytes when max >= 0.
func (r *Region) logs(max int64) string {
	var b strings.Builder
	for _, path := range []string{r.stdoutPath, r.stderrPath} {
		fmt.Fprintf(&b, "==> %s <==\n", path)
		data, err := readTail(path, max)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
			continue
		}
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// CLI runs the tandem binary as a client of this region, with
// TANDEM_ENDPOINT and TANDEM_TOKEN (the admin token) set, empty stdin and
// an empty working directory, and returns its output and exit code.
func (r *Region) CLI(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return RunCLI(t, r.bin, r.cliDir, []string{envEndpoint + "=" + r.Endpoint, envToken + "=" + r.Token}, args...)
}

// MustCLI is CLI for commands that must succeed: it fails t, with the
// command's output, unless the exit code is 0, and returns stdout.
func (r *Region) MustCLI(t testing.TB, args ...string) string {
	t.Helper()
	stdout, stderr, code := r.CLI(t, args...)
	if code != 0 {
		t.Fatalf("e2e: tandem %s against region %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Name, code, stdout, stderr)
	}
	return stdout
}

// RunCLI runs bin with args in dir (a new temp dir if "") and returns its
// output and exit code. The command inherits the test's environment without
// TANDEM_ENDPOINT, TANDEM_TOKEN and TANDEM_WORKSPACE, so that the
// developer's shell cannot change the result, plus env (KEY=VALUE). Stdin
// is empty. It fails t if the command cannot start or runs longer than
// CLITimeout.
func RunCLI(t testing.TB, bin, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), CLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("e2e: tandem %s did not finish within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), CLITimeout, &out, &errOut)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("e2e: run tandem %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// cleanEnv is the test's environment without the CLI's connection
// settings.
func cleanEnv() []string {
	return slices.DeleteFunc(processEnv(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == envEndpoint || k == envToken || k == envWorkspace
	})
}

// raceExitSleep is the GORACE setting the processes of a race-enabled
// binary get unless GORACE is set: the race runtime's default waits a
// whole second at every exit, for reports from other goroutines, which
// would make each CLI command and each stop take a second.
const raceExitSleep = "GORACE=atexit_sleep_ms=100"

// processEnv is the environment of the processes this package starts: the
// test's own, with raceExitSleep for a race-enabled binary.
func processEnv() []string {
	env := os.Environ()
	if _, set := os.LookupEnv("GORACE"); raceEnabled && !set {
		env = append(env, raceExitSleep)
	}
	return env
}

// current returns the current or last process, or nil before the first
// start.
func (r *Region) current() *process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

var (
	listeningRE  = regexp.MustCompile(`(?m)^listening on (http://\S+)$`)
	adminTokenRE = regexp.MustCompile(`(?m)^admin token: (.+?)(?: \(created\))?$`)
)

// start starts a server process and waits for its address and admin token
// lines. On failure the process is gone and the error holds its output.
func (r *Region) start() error {
	r.mu.Lock()
	r.starts++
	n := r.starts
	r.mu.Unlock()

	stdout, err := os.OpenFile(r.stdoutPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	stderr, err := os.OpenFile(r.stderrPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return err
	}
	outStart, errStart := fileSize(stdout), fileSize(stderr)
	fmt.Fprintf(stderr, "=== e2e: start %d of region %s at %s: tandem %s\n",
		n, r.Name, time.Now().Format(time.RFC3339Nano), strings.Join(r.args, " "))

	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = filepath.Dir(r.DataDir)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		return err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), files: []*os.File{stdout, stderr}}
	go p.monitor()
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()

	fail := func(why string) error {
		p.signal(-p.pid, syscall.SIGKILL)
		p.reap()
		return &startError{
			why:    why,
			stdout: readFrom(r.stdoutPath, outStart),
			stderr: readFrom(r.stderrPath, errStart),
		}
	}
	deadline := time.Now().Add(StartTimeout)
	for {
		out := readFrom(r.stdoutPath, outStart)
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			out = out[:i+1] // whole lines only
		} else {
			out = ""
		}
		listening, token := listeningRE.FindStringSubmatch(out), adminTokenRE.FindStringSubmatch(out)
		if listening != nil && token != nil {
			if err := r.started(listening[1], token[1]); err != nil {
				return fail(err.Error())
			}
			return nil
		}
		select {
		case <-p.exited:
			return fail("the server exited: " + p.reap().String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Sprintf("no address and admin token printed within %v", StartTimeout))
		}
	}
}

// started records what a server printed on start: the first time, its
// endpoint and token; after that it checks they did not change.
func (r *Region) started(endpoint, tokenPath string) error {
	addr, ok := strings.CutPrefix(endpoint, "http://")
	if !ok {
		return fmt.Errorf("endpoint %s is not http://", endpoint)
	}
	data, err := os.ReadFile(tokenPath)
	if err != nil {
		return fmt.Errorf("read the admin token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if r.Endpoint == "" {
		r.Endpoint, r.Addr, r.TokenPath, r.Token = endpoint, addr, tokenPath, token
		// Keep the port for Restart.
		r.args = slices.Clone(r.args)
		for i := range r.args {
			if r.args[i] == "--listen" && i+1 < len(r.args) {
				r.args[i+1] = addr
				break
			}
		}
		return nil
	}
	if endpoint != r.Endpoint || tokenPath != r.TokenPath || token != r.Token {
		return fmt.Errorf("restarted as %s with token file %s, want %s and %s with the same token", endpoint, tokenPath, r.Endpoint, r.TokenPath)
	}
	return nil
}

// cleanup stops the region when its test ends, fails the test on a data
// race in the server, and copies the logs into the test log if it failed.
func (r *Region) cleanup(t testing.TB) {
	if err := r.Stop(); err != nil {
		t.Errorf("e2e: stop at the end of the test: %v", err)
	}
	if data, err := os.ReadFile(r.stderrPath); err == nil && bytes.Contains(data, []byte("WARNING: DATA RACE")) {
		t.Errorf("e2e: the race detector found a data race in region %s: see %s", r.Name, r.stderrPath)
	}
	if t.Failed() {
		t.Logf("e2e: logs of region %s (last %d KiB of each):\n%s", r.Name, logTail>>10, r.logs(logTail))
	}
}

// startError is a failed start, with what the server printed.
type startError struct {
	why            string
	stdout, stderr string
}

func (e *startError) Error() string {
	return fmt.Sprintf("%s\nstdout:\n%s\nstderr:\n%s", e.why, e.stdout, e.stderr)
}

func (e *startError) addrInUse() bool {
	return strings.Contains(e.stderr, "address already in use")
}

// process is one server process.
type process struct {
	cmd    *exec.Cmd
	pid    int
	exited chan struct{} // closed when the process has exited
	files  []*os.File    // its stdout and stderr, closed when reaped

	mu         sync.Mutex
	reaped     bool // its status is collected: its pid may be reused
	reapedByUs bool // reap has run
	state      *os.ProcessState
}

// monitor closes p.exited when the process exits. Where it can, it leaves
// the process unreaped until reap, so that its process group can still be
// signalled safely.
func (p *process) monitor() {
	if err := awaitExit(p.pid); err != nil {
		p.wait()
	}
	close(p.exited)
}

// signal sends sig to pid (the process, or -pid for its group) unless the
// process has been reaped, after which its pid may belong to another.
func (p *process) signal(pid int, sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		syscall.Kill(pid, sig)
	}
}

// reap waits for the process to exit, kills what is left of its process
// group, collects its status and closes its log files. It returns the
// status; every call returns the same one.
func (p *process) reap() *os.ProcessState {
	<-p.exited
	p.signal(-p.pid, syscall.SIGKILL) // children the server left behind
	state := p.wait()
	p.mu.Lock()
	p.reapedByUs = true
	p.mu.Unlock()
	return state
}

// wait collects the exit status once.
func (p *process) wait() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		p.cmd.Wait() // an exit status other than 0 is in ProcessState
		p.state = p.cmd.ProcessState
		p.reaped = true
		for _, f := range p.files {
			f.Close()
		}
	}
	return p.state
}

// handled reports whether reap has run: Kill, Stop, Restart or a failed
// start has dealt with the process.
func (p *process) handled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reapedByUs
}

func fileSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns the content of path from offset on.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// readTail returns the last max bytes of path, or all of it if max < 0.
func readTail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && max >= 0 && fi.Size() > max {
		if _, err := f.Seek(fi.Size()-max, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}
