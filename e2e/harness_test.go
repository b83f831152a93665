package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem/faultproxy"
)

func TestMain(m *testing.M) { Main(m) }

func TestFreePort(t *testing.T) {
	addr := FreePort(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreePort() = %q, want 127.0.0.1:PORT", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreePort() %s: %v", addr, err)
	}
	ln.Close()
}

func TestWaitFor(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		calls := 0
		WaitFor(t, 10*time.Second, "the third call", func() (bool, error) {
			calls++
			if calls < 3 {
				return false, errors.New("not yet")
			}
			return true, nil
		})
		if calls != 3 {
			t.Fatalf("cond called %d times, want 3", calls)
		}
	})
	t.Run("ErrTimeout", func(t *testing.T) {
		msg := fatalOf(t, func(tb testing.TB) {
			WaitFor(tb, 50*time.Millisecond, "the sunrise", func() (bool, error) {
				return false, errors.New("still dark")
			})
		})
		if !strings.Contains(msg, "the sunrise") || !strings.Contains(msg, "still dark") {
			t.Fatalf("failure message %q, want what was awaited and the last error", msg)
		}
	})
}

func TestBuild(t *testing.T) {
	bin := Build(t)
	if again := Build(t); again != bin {
		t.Fatalf("second Build() = %s, want the same binary %s", again, bin)
	}
	// The binary carries the race detector exactly when this test does.
	out, err := exec.Command(goTool(), "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	if got := strings.Contains(string(out), "-race=true"); got != raceEnabled {
		t.Fatalf("binary built with -race: %v, want %v (the test binary's)\n%s", got, raceEnabled, out)
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv(envEndpoint, "http://127.0.0.1:1")
	t.Setenv(envToken, "stale")
	t.Setenv(envWorkspace, "stale")
	t.Setenv("AZURE_STORAGE_ACCOUNT", "kept")
	env := cleanEnv()
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == envEndpoint || k == envToken || k == envWorkspace {
			t.Errorf("cleanEnv() keeps %s", kv)
		}
	}
	if !slices.Contains(env, "AZURE_STORAGE_ACCOUNT=kept") {
		t.Error("cleanEnv() drops AZURE_STORAGE_ACCOUNT, want the rest of the environment kept")
	}
}

// TestRegion walks a region through the life the replication and failover
// tests give it: start, use, kill -9, restart on the same port with its
// data intact, graceful stop, and cleanup with no process left behind.
func TestRegion(t *testing.T) {
	bin := Build(t)
	for _, stack := range Stacks() {
		var pid int
		t.Run(stack, func(t *testing.T) { pid = testRegion(t, bin, stack) })
		if pid != 0 {
			gone(t, pid) // the cleanup of the subtest stopped it
		}
	}
}

func testRegion(t *testing.T, bin, stack string) (lastPID int) {
	db, storage := StackURLs(t, stack)
	r := StartRegion(t, bin, RegionOptions{Name: "eastus", DB: db, Storage: storage})

	t.Run("Fields", func(t *testing.T) {
		if r.Name != "eastus" || r.Endpoint != "http://"+r.Addr || !filepath.IsAbs(r.DataDir) {
			t.Fatalf("region %+v, want name eastus, endpoint http://ADDR and an absolute data dir", r)
		}
		if r.TokenPath != filepath.Join(r.DataDir, "admin.token") || r.Token == "" {
			t.Fatalf("token file %s, token %q; want DATA/admin.token and a token", r.TokenPath, r.Token)
		}
		logs := r.Logs()
		if !strings.Contains(logs, "listening on "+r.Endpoint) {
			t.Fatalf("logs have no listening line:\n%s", logs)
		}
		if strings.Contains(logs, r.Token) {
			t.Fatal("the logs hold the admin token")
		}
		for _, f := range []string{r.DataDir + ".stdout.log", r.DataDir + ".stderr.log"} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("log file: %v", err)
			}
		}
	})

	t.Run("Healthz", func(t *testing.T) { healthy(t, r) })

	t.Run("CLI", func(t *testing.T) {
		r.MustCLI(t, "workspace", "create", "--name", "mlw-before-kill")
		if names := workspaces(t, r); !slices.Equal(names, []string{"mlw-before-kill"}) {
			t.Fatalf("workspaces %v, want [mlw-before-kill]", names)
		}
		_, stderr, code := r.CLI(t, "workspace", "show", "--name", "nope")
		if code != 3 || !strings.Contains(stderr, "nope") {
			t.Fatalf("show of a missing workspace: exit %d, stderr %q; want 3 (NotFound) naming it", code, stderr)
		}
	})

	t.Run("ErrRestartWhileRunning", func(t *testing.T) {
		msg := fatalOf(t, func(tb testing.TB) { r.Restart(tb) })
		if !strings.Contains(msg, "while it runs") {
			t.Fatalf("failure message %q, want a refusal to restart a running region", msg)
		}
	})

	t.Run("Kill", func(t *testing.T) {
		pid := r.PID()
		r.Kill()
		if r.Running() {
			t.Fatal("Running() = true after Kill")
		}
		gone(t, pid)
		closed(t, r.Addr)
		r.Kill() // idempotent
		if err := r.Stop(); err != nil {
			t.Fatalf("Stop after Kill: %v, want nil", err)
		}
	})

	t.Run("RestartAfterKill", func(t *testing.T) {
		endpoint, token, pid := r.Endpoint, r.Token, r.PID()
		r.Restart(t)
		if r.Endpoint != endpoint || r.Token != token || r.PID() == pid || !r.Running() {
			t.Fatalf("restarted at %s, pid %d (before: %s, pid %d); want the same endpoint and token, a new pid",
				r.Endpoint, r.PID(), endpoint, pid)
		}
		healthy(t, r)
		// Durable across kill -9: the workspace acknowledged before the
		// kill is there.
		if names := workspaces(t, r); !slices.Equal(names, []string{"mlw-before-kill"}) {
			t.Fatalf("workspaces after kill -9 and restart %v, want [mlw-before-kill]", names)
		}
		r.MustCLI(t, "workspace", "create", "--name", "mlw-after-kill")
	})

	t.Run("Stop", func(t *testing.T) {
		pid := r.PID()
		if err := r.Stop(); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
		if r.Running() {
			t.Fatal("Running() = true after Stop")
		}
		gone(t, pid)
		closed(t, r.Addr)
	})

	t.Run("RestartAfterStop", func(t *testing.T) {
		r.Restart(t)
		want := []string{"mlw-after-kill", "mlw-before-kill"}
		if names := workspaces(t, r); !slices.Equal(names, want) {
			t.Fatalf("workspaces after stop and restart %v, want %v", names, want)
		}
		if n := strings.Count(r.Logs(), "listening on "+r.Endpoint); n != 3 {
			t.Fatalf("logs show %d starts on %s, want 3", n, r.Endpoint)
		}
	})
	// Left running: the test's cleanup stops it.
	return r.PID()
}

func TestRegionFixedListen(t *testing.T) {
	bin := Build(t)
	addr := FreePort(t)
	r := StartRegion(t, bin, RegionOptions{Name: "westus", Listen: addr})
	if r.Addr != addr {
		t.Fatalf("Addr = %s, want the fixed %s", r.Addr, addr)
	}
	// A keep-alive connection open when the server is killed leaves the
	// server's side in TIME_WAIT on the port; the restart must still bind.
	healthy(t, r)
	r.Kill()
	r.Restart(t)
	if r.Addr != addr {
		t.Fatalf("Addr after restart = %s, want %s", r.Addr, addr)
	}
	healthy(t, r)

	// While something else holds the port, Restart keeps trying; once it
	// is free the region comes back on it. The port is released only after
	// a start has failed on it.
	r.Kill()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan bool, 1)
	go func() {
		defer ln.Close()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(r.Logs(), "address already in use") {
				released <- true
				return
			}
		}
		released <- false
	}()
	r.Restart(t)
	if !<-released {
		t.Fatal("no start failed on the taken port")
	}
	healthy(t, r)
}

func TestStartRegionFails(t *testing.T) {
	bin := Build(t)
	msg := fatalOf(t, func(tb testing.TB) {
		StartRegion(tb, bin, RegionOptions{Name: "broken", DB: "bogus://x"})
	})
	// The message says what happened and holds the server's own error.
	if !strings.Contains(msg, "exited") || !strings.Contains(msg, "bogus://x") {
		t.Fatalf("failure message %q, want the exit and the server's error naming bogus://x", msg)
	}
}

// TestRegionThroughProxy puts a fault proxy between a client and a region,
// as the replication tests put one between regions.
func TestRegionThroughProxy(t *testing.T) {
	bin := Build(t)
	r := StartRegion(t, bin, RegionOptions{Name: "eastus"})
	p := faultproxy.New(r.Addr)
	if err := p.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	env := []string{envEndpoint + "=http://" + p.Addr(), envToken + "=" + r.Token}
	cli := func(args ...string) (string, int) {
		stdout, stderr, code := RunCLI(t, bin, "", env, args...)
		return stdout + stderr, code
	}

	if out, code := cli("workspace", "create", "--name", "mlw-proxied"); code != 0 {
		t.Fatalf("create through the proxy: exit %d\n%s", code, out)
	}
	p.Cut()
	if out, code := cli("workspace", "list"); code != 6 {
		t.Fatalf("list through a cut link: exit %d, want 6 (Unavailable)\n%s", code, out)
	}
	p.Restore()
	p.SetDelay(5 * time.Millisecond)
	if out, code := cli("workspace", "list"); code != 0 || !strings.Contains(out, "mlw-proxied") {
		t.Fatalf("list after restore: exit %d, want 0 and the workspace\n%s", code, out)
	}
	if s := p.Stats(); s.Refused == 0 || s.Forwarded < 2 || s.BytesToTarget == 0 || s.BytesToClient == 0 {
		t.Fatalf("proxy stats %+v, want refused and forwarded connections with bytes both ways", s)
	}
}

// healthy fails t unless the region answers GET /healthz with 200.
func healthy(t *testing.T, r *Region) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(r.URL("/healthz"))
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("GET /healthz: %s %s, want 200 ok", resp.Status, body)
	}
}

// workspaces returns the sorted names of the region's workspaces.
func workspaces(t *testing.T, r *Region) []string {
	t.Helper()
	out := r.MustCLI(t, "workspace", "list", "-o", "json")
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("workspace list -o json: %v\n%s", err, out)
	}
	var names []string
	for _, w := range list {
		names = append(names, w.Name)
	}
	slices.Sort(names)
	return names
}

// gone fails t unless no process has pid and no process is in its group.
func gone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("pid %d, want a process id", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still exists: kill -0 = %v", pid, err)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still has processes: kill -0 = %v", pid, err)
	}
}

// closed fails t unless nothing listens on addr.
func closed(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

// fatalTB is a testing.TB whose Fatal ends only the goroutine of the
// function under test, recording the message, so that tests can check how
// helpers fail. Everything else goes to the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fatalTB) FailNow()          { f.Fatalf("FailNow") }

// fatalOf runs fn and returns the message it failed with; it fails t if fn
// returns without failing.
func fatalOf(t *testing.T, fn func(testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msg == "" {
		t.Fatal("the helper returned without failing")
	}
	return f.msg
}
