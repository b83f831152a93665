package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
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
		Getenv: cmdtest.MapEnv(env),
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
	env := map[string]string{cmdutil.EnvToken: "t", cmdutil.EnvWorkspace: "ws", cmdutil.EnvEndpoint: "http://127.0.0.1:1"}
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
	if r.code != 5 || !strings.Contains(r.stderr, "no token found") || !strings.Contains(r.stderr, cmdutil.EnvToken) {
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

func TestConfirmation(t *testing.T) {
	env := map[string]string{cmdutil.EnvToken: "t", cmdutil.EnvWorkspace: "mlw-dev", cmdutil.EnvEndpoint: closedEndpoint(t)}
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
			f := cmdutil.NewFactory(cmdutil.Env{Stdin: strings.NewReader(tt.answer), Stderr: &stderr, StdinTerminal: true})
			err := f.Confirm(context.Background(), false, "delete workspace \"w\"", "Delete workspace \"w\"?")
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
	env := map[string]string{cmdutil.EnvToken: "t", cmdutil.EnvWorkspace: "w", cmdutil.EnvEndpoint: closedEndpoint(t)}
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
	env := map[string]string{cmdutil.EnvEndpoint: closedEndpoint(t)}
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
