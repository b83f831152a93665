package cmdutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// Env is what one run of the program sees of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv looks up an environment variable; nil is an empty environment.
	Getenv func(string) string
	// Dir is the working directory: relative paths are resolved against
	// it and the walk up for config.json starts there.
	Dir string
	// StdinTerminal allows confirmation prompts; StderrTerminal turns on
	// progress bars.
	StdinTerminal  bool
	StderrTerminal bool
}

// Factory is what the commands of one run share: its environment and the
// values of the connection flags, from which it makes API clients. A run
// makes one; nothing in it outlives the run.
type Factory struct {
	Env  Env
	conn ConnectionFlags
}

// NewFactory returns the factory of one run in env. A nil Getenv is an
// empty environment and a nil Stdin is empty.
func NewFactory(env Env) *Factory {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	return &Factory{Env: env}
}

// AddConnectionFlags adds the flags that say which server, token and
// workspace to use to cmd and its subcommands.
func (f *Factory) AddConnectionFlags(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringSliceVar(&f.conn.Endpoints, "endpoint", nil,
		"server URL; repeat or separate with commas, in preference order (env "+EnvEndpoint+")")
	fs.StringVar(&f.conn.Token, "token", "", "bearer token (env "+EnvToken+")")
	fs.StringVar(&f.conn.Workspace, "workspace", "", "workspace name (env "+EnvWorkspace+")")
	fs.StringVar(&f.conn.ConfigPath, "config", "",
		"config file (default: config.json, .tandem/config.json or .azureml/config.json here or in a parent directory)")
}

// ConnectionFlags returns the connection flags as given on the command
// line, before the environment and config.json fill them in.
func (f *Factory) ConnectionFlags() ConnectionFlags { return f.conn }

// Connection resolves the connection settings of this run.
func (f *Factory) Connection() (*Connection, error) {
	return ResolveConnection(f.conn, f.Env.Getenv, f.Env.Dir)
}

// Client resolves the connection settings and returns a client for them.
// It fails when no token was found.
func (f *Factory) Client() (*httpapi.Client, *Connection, error) {
	conn, err := f.Connection()
	if err != nil {
		return nil, nil, err
	}
	if err := conn.RequireToken(); err != nil {
		return nil, nil, err
	}
	c := httpapi.NewClient(conn.Endpoints, conn.Token)
	c.OnFallback = func(first, used string) {
		f.Note("note: %s cannot be reached; answered by %s (possibly a read-only secondary)", first, used)
	}
	c.OnFollow = func(from, primary string) {
		f.Note("note: %s is not the primary; following the primary at %s", from, primary)
	}
	return c, conn, nil
}

// WorkspaceClient returns a client and the configured workspace, for the
// commands that act inside one workspace.
func (f *Factory) WorkspaceClient() (*httpapi.Client, string, error) {
	client, conn, err := f.Client()
	if err != nil {
		return nil, "", err
	}
	if err := conn.RequireWorkspace(); err != nil {
		return nil, "", err
	}
	return client, conn.Workspace, nil
}

// Path returns p made absolute against the working directory.
func (f *Factory) Path(p string) string { return absPath(f.Env.Dir, p) }

// Note writes a line meant for people to stderr, keeping stdout for data.
func (f *Factory) Note(format string, args ...any) {
	fmt.Fprintf(f.Env.Stderr, format+"\n", args...)
}

// Confirm asks question on stderr and waits for a yes on stdin, unless yes
// is set. When stdin is not a terminal it refuses: a script must say --yes.
// action names what is refused, as in "delete workspace \"x\"".
func (f *Factory) Confirm(ctx context.Context, yes bool, action, question string) error {
	if yes {
		return nil
	}
	if !f.Env.StdinTerminal {
		return tandem.Errorf(tandem.EInvalid,
			"refusing to %s without confirmation: stdin is not a terminal; pass --yes to confirm", action)
	}
	fmt.Fprintf(f.Env.Stderr, "%s [y/N]: ", question)
	answer := make(chan string, 1)
	go func() { // a blocked read must not keep Ctrl+C from stopping the run
		line, _ := bufio.NewReader(f.Env.Stdin).ReadString('\n')
		answer <- strings.ToLower(strings.TrimSpace(line))
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case ans := <-answer:
		if ans == "y" || ans == "yes" {
			return nil
		}
		return fmt.Errorf("aborted: did not %s", action)
	}
}
