package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Build builds ./cmd/tandem of the module this package belongs to, once
// per test binary, and returns the binary's path. When the test binary has
// the race detector, so does tandem. With EnvBinary set it returns that
// binary instead. Concurrent callers wait for the one build.
func Build(t testing.TB) string {
	t.Helper()
	built.once.Do(func() { built.dir, built.path, built.err = buildBinary() })
	if built.err != nil {
		t.Fatalf("e2e: %v", built.err)
	}
	return built.path
}

// Main runs the tests of m and then removes the binary Build made. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { e2e.Main(m) }
//
// Without it the binary stays in the temp dir until a later Build of any
// test binary finds its process gone and removes it.
func Main(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func buildBinary() (dir, bin string, err error) {
	if bin := os.Getenv(EnvBinary); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", EnvBinary, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", "", fmt.Errorf("%s: %w", EnvBinary, err)
		}
		return "", abs, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	removeStaleBuilds()
	dir, err = os.MkdirTemp("", buildDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", "", fmt.Errorf("build tandem: %w", err)
	}
	bin = filepath.Join(dir, "tandem")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/tandem")
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go %s in %s: %v\n%s", strings.Join(args, " "), root, err, out)
	}
	return dir, bin, nil
}

// removeStaleBuilds removes the build dirs of test binaries that have
// exited without Main.
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), buildDirPrefix), "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 || n == os.Getpid() {
			continue
		}
		if err := syscall.Kill(n, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

// moduleRoot returns the directory of the go.mod that holds ./cmd/tandem:
// the one `go env GOMOD` names, else the nearest one above the working
// directory.
func moduleRoot() (string, error) {
	if out, err := exec.Command(goTool(), "env", "GOMOD").Output(); err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			if root := filepath.Dir(mod); hasTandemMain(root) {
				return root, nil
			}
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && hasTandemMain(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the module root: no go.mod with cmd/tandem above the working directory")
		}
		dir = parent
	}
}

func hasTandemMain(root string) bool {
	fi, err := os.Stat(filepath.Join(root, "cmd", "tandem"))
	return err == nil && fi.IsDir()
}

// goTool returns the go command: the one on PATH, else GOROOT's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

var built struct {
	once sync.Once
	dir  string // the temp dir holding a binary built here, "" for EnvBinary
	path string
	err  error
}

// buildDirPrefix starts the name of Build's temp dirs, followed by the pid
// of the test binary that made it.
const buildDirPrefix = "tandem-e2e-"
