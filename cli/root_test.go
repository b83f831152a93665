package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/tandemml/tandem"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is what one run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command line in dir with the given environment variables
// and stdin, with neither stdin nor stderr a terminal.
func runCLI(t *testing.T, dir string, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	code := Run(context.Background(), args, Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: mapEnv(env),
		Dir:    dir,
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// closedEndpoint returns the URL of a port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUsageErrors(t *testing.T) {
	env := map[string]string{EnvToken: "t", EnvWorkspace: "ws", EnvEndpoint: "http://127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string // a substring of stderr
	}{
		{"MissingName", []string{"workspace", "create"}, `required flag(s) "name" not set (see 'tandem workspace create --help')`},
		{"MissingTokenName", []string{"token", "create"}, `required flag(s) "name" not set`},
		{"MissingNotebookPath", []string{"notebook", "upload"}, `required flag(s) "path" not set`},
		{"BadOutput", []string{"workspace", "list", "-o", "xml"}, `invalid argument "xml" for "-o, --output" flag: must be one of table, json, yaml`},
		{"UnknownCommand", []string{"workspace", "frobnicate"}, `unknown command "frobnicate" for "tandem workspace"`},
		{"UnknownTopCommand", []string{"frobnicate"}, `unknown command "frobnicate" for "tandem"`},
		{"UnknownFlag", []string{"workspace", "list", "--colour"}, "unknown flag: --colour"},
		{"StrayArgument", []string{"workspace", "show", "mlw-dev"}, `unknown command "mlw-dev"`},
		{"StrayArgumentWithoutTags", []string{"workspace", "create", "--name", "abc", "x=y"}, `unexpected argument "x=y"`},
		{"BadRetention", []string{"server", "--retention-days", "0"}, "--retention-days must be at least 1"},
		{"InvalidWorkspaceName", []string{"workspace", "create", "--name", "-bad"}, `invalid workspace name "-bad"`},
		{"InvalidUpWorkspaceName", []string{"up", "--workspace", "a"}, `invalid workspace name "a"`},
		{"NothingToUpdate", []string{"workspace", "update", "--name", "abc"}, "nothing to update"},
		{"PurgeStorageNeedsPermanent", []string{"workspace", "delete", "--name", "abc", "--purge-storage", "--yes"}, "--purge-storage needs --permanently-delete"},
		{"BadTag", []string{"workspace", "create", "--name", "abc", "--tags", "=v"}, `invalid tag "=v"`},
		{"BadEndpoint", []string{"workspace", "list", "--endpoint", "nohost"}, `invalid endpoint "nohost" in --endpoint`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, t.TempDir(), env, "", tt.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "tandem: ") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting with \"tandem: \"", r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestNoToken(t *testing.T) {
	r := runCLI(t, t.TempDir(), nil, "", "workspace", "list")
	if r.code != 5 || !strings.Contains(r.stderr, "no token found") || !strings.Contains(r.stderr, EnvToken) {
		t.Fatalf("got exit %d, stderr %q; want 5 and a message saying how to provide a token", r.code, r.stderr)
	}
}

func TestTagsAzureStyle(t *testing.T) {
	// Tags listed after one --tags, as in Azure's CLI, are accepted; the run
	// gets as far as needing a token.
	r := runCLI(t, t.TempDir(), nil, "", "workspace", "create", "--name", "abc", "--tags", "a=b", "c=d")
	if r.code != 5 {
		t.Fatalf("exit %d, want 5 (no token) after accepting the tags; stderr: %s", r.code, r.stderr)
	}
}

func TestParseTags(t *testing.T) {
	got, err := parseTags([]string{"team=vision", "stage=", "flag", "url=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "vision", "stage": "", "flag": "", "url": "a=b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got, err := parseTags([]string{""}); got != nil || err != nil {
		t.Fatalf("parseTags('') = %v, %v; want nil, nil (clear)", got, err)
	}
}

func TestConfirmation(t *testing.T) {
	env := map[string]string{EnvToken: "t", EnvWorkspace: "mlw-dev", EnvEndpoint: closedEndpoint(t)}
	t.Run("RefusedWithoutTerminal", func(t *testing.T) {
		for _, args := range [][]string{
			{"workspace", "delete"}, // the name defaults to the configured workspace
			{"workspace", "delete", "--name", "mlw-dev", "--permanently-delete"},
			{"workspace", "purge", "--name", "mlw-dev"},
		} {
			r := runCLI(t, t.TempDir(), env, "y\n", args...)
			if r.code != 2 || !strings.Contains(r.stderr, `without confirmation: stdin is not a terminal; pass --yes`) ||
				!strings.Contains(r.stderr, `workspace "mlw-dev"`) {
				t.Errorf("%v: exit %d, stderr %q; want 2 and a refusal naming the workspace", args, r.code, r.stderr)
			}
		}
	})
	t.Run("YesSkipsPrompt", func(t *testing.T) {
		// With --yes the command goes on to the server, which is down.
		r := runCLI(t, t.TempDir(), env, "", "workspace", "delete", "--yes")
		if r.code != 6 || !strings.Contains(r.stderr, "cannot reach") {
			t.Fatalf("exit %d, stderr %q; want 6 (server unreachable)", r.code, r.stderr)
		}
	})
	for _, tt := range []struct {
		name, answer string
		ok           bool
	}{
		{"Yes", "y\n", true},
		{"YesWord", "YES\n", true},
		{"No", "n\n", false},
		{"Empty", "\n", false},
		{"EOF", "", false},
	} {
		t.Run("Terminal"+tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := &app{env: Env{Stdin: strings.NewReader(tt.answer), Stderr: &stderr, StdinTerminal: true}}
			err := a.confirm(context.Background(), false, "delete workspace \"w\"", "Delete workspace \"w\"?")
			if (err == nil) != tt.ok {
				t.Fatalf("confirm(%q) = %v, want ok=%v", tt.answer, err, tt.ok)
			}
			if !strings.Contains(stderr.String(), "Delete workspace \"w\"? [y/N]: ") {
				t.Fatalf("prompt = %q", stderr.String())
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	env := map[string]string{EnvToken: "t", EnvWorkspace: "w", EnvEndpoint: closedEndpoint(t)}
	for _, args := range [][]string{
		{"workspace", "list"},
		{"notebook", "list"},
		{"token", "list", "-o", "json"},
	} {
		r := runCLI(t, t.TempDir(), env, "", args...)
		if r.code != 6 {
			t.Errorf("%v: exit %d, want 6; stderr: %s", args, r.code, r.stderr)
		}
	}
}

func TestVersionWithoutServer(t *testing.T) {
	env := map[string]string{EnvEndpoint: closedEndpoint(t)}
	r := runCLI(t, t.TempDir(), env, "", "version", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0; stderr: %s", r.code, r.stderr)
	}
	want := fmt.Sprintf("{\n  \"client\": {\n    \"version\": %q\n  }\n}\n", tandem.Version)
	if r.stdout != want {
		t.Fatalf("stdout = %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "no server reachable") {
		t.Fatalf("stderr = %q, want a note that no server is reachable", r.stderr)
	}
}

func TestCompletion(t *testing.T) {
	r := runCLI(t, t.TempDir(), nil, "", "completion", "bash")
	if r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Fatalf("exit %d, stdout starts %.80q; want a bash completion script", r.code, r.stdout)
	}
}

func TestExitCodes(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		err     error
		running bool
		want    int
	}{
		{"OK", ctx, nil, true, 0},
		{"Usage", ctx, errors.New(`unknown flag: --x`), false, 2},
		{"Invalid", ctx, tandem.Errorf(tandem.EInvalid, "bad"), true, 2},
		{"TooLarge", ctx, tandem.Errorf(tandem.ETooLarge, "big"), true, 2},
		{"NotFound", ctx, tandem.Errorf(tandem.ENotFound, "no"), true, 3},
		{"WrappedNotFound", ctx, fmt.Errorf("find: %w", tandem.Errorf(tandem.ENotFound, "no")), true, 3},
		{"Conflict", ctx, tandem.Errorf(tandem.EConflict, "dup"), true, 4},
		{"Unauthorized", ctx, tandem.Errorf(tandem.EUnauthorized, "who"), true, 5},
		{"Forbidden", ctx, tandem.Errorf(tandem.EForbidden, "no"), true, 5},
		{"Unavailable", ctx, tandem.Errorf(tandem.EUnavailable, "down"), true, 6},
		{"LocalSyscallError", ctx, fmt.Errorf("mkdir: %w", syscall.ENOSPC), true, 1},
		{"NotPrimary", ctx, tandem.Errorf(tandem.ENotPrimary, "secondary"), true, 7},
		{"Corrupt", ctx, tandem.Errorf(tandem.ECorrupt, "sha"), true, 8},
		{"Internal", ctx, tandem.Errorf(tandem.EInternal, "bug"), true, 1},
		{"UnknownCode", ctx, tandem.Errorf("FromTheFuture", "x"), true, 1},
		{"Other", ctx, errors.New("boom"), true, 1},
		{"LocalFileMissing", ctx, fmt.Errorf("open: %w", fs.ErrNotExist), true, 3},
		{"Interrupted", canceled, context.Canceled, true, 130},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitStatus(errorCode(tt.ctx, tt.err, tt.running)); got != tt.want {
				t.Fatalf("exit status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Message", tandem.Errorf(tandem.ENotFound, "workspace \"x\" not found"), "workspace \"x\" not found"},
		{"TargetInMessage", tandem.Errorf(tandem.EInvalid, "invalid workspace name").WithTarget("name"), "invalid workspace name"},
		{"TargetAdded", tandem.Errorf(tandem.EConflict, "already exists").WithTarget("mlw-dev"), "already exists (mlw-dev)"},
		{"NotPrimary", tandem.Errorf(tandem.ENotPrimary, "workspace is a read-only secondary").WithTarget("http://east:7070"),
			"workspace is a read-only secondary (primary: http://east:7070)"},
		{"WrappedKeepsContext", fmt.Errorf("create workspace %q: %w", "w", tandem.Errorf(tandem.EConflict, "name in use")),
			"create workspace \"w\": name in use"},
		{"Local", errors.New("open x.ipynb: permission denied"), "open x.ipynb: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := errorCode(context.Background(), tt.err, true)
			if got := errorText(tt.err, code, nil); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
