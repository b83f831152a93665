package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

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

// Main runs the tandem command line with args (without the program name) in
// the process's environment and working directory, and returns the exit
// status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "tandem: %v\n", err)
		return exitCodes[tandem.EInternal]
	}
	return Run(ctx, args, Env{
		Stdin:          stdin,
		Stdout:         stdout,
		Stderr:         stderr,
		Getenv:         os.Getenv,
		Dir:            dir,
		StdinTerminal:  isTerminal(stdin),
		StderrTerminal: isTerminal(stderr),
	})
}

// Run runs the tandem command line with args in env and returns the exit
// status. Errors are printed to env.Stderr as one line, "tandem: MESSAGE".
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	a := &app{env: env}
	root := a.rootCommand()
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := errorCode(ctx, err, a.running)
	fmt.Fprintf(env.Stderr, "tandem: %s\n", errorText(err, code, cmd))
	return exitStatus(code)
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// codeInterrupted is the CLI's own code for a run stopped by SIGINT or
// SIGTERM; it never comes from a server.
const codeInterrupted = "Interrupted"

// exitCodes maps error codes to exit statuses. It is the only place exit
// statuses are chosen; docs/cli.md lists it. A code missing here (one a newer
// server sends) exits 1.
var exitCodes = map[string]int{
	"":                    0,
	tandem.EInternal:      1,
	tandem.EInvalid:       2, // includes usage errors: bad flags, arguments or values
	tandem.ETooLarge:      2,
	tandem.ENotFound:      3,
	tandem.EConflict:      4,
	tandem.EUnauthorized:  5,
	tandem.EForbidden:     5,
	tandem.EUnavailable:   6, // includes a server that cannot be reached
	tandem.ENotPrimary:    7,
	tandem.ECorrupt:       8,
	tandem.EQuotaExceeded: 9,
	codeInterrupted:       130,
}

func exitStatus(code string) int {
	if s, ok := exitCodes[code]; ok {
		return s
	}
	return exitCodes[tandem.EInternal]
}

// errorCode classifies err. running tells whether a command's own code ran:
// an error before that (unknown command or flag, missing required flag,
// stray argument) is a usage error. The client reports servers it cannot
// reach as EUnavailable; other errors without a code happened here.
func errorCode(ctx context.Context, err error, running bool) string {
	switch {
	case err == nil:
		return ""
	case !running:
		return tandem.EInvalid
	case ctx.Err() != nil:
		return codeInterrupted
	case errors.As(err, new(*tandem.Error)):
		return tandem.ErrorCode(err)
	case errors.Is(err, fs.ErrNotExist):
		return tandem.ENotFound
	}
	return tandem.EInternal
}

// errorText is the one-line message for err. Messages of *tandem.Error are
// written for users; anything else happened in this process and its text is
// shown as it is.
func errorText(err error, code string, cmd *cobra.Command) string {
	var e *tandem.Error
	switch {
	case code == tandem.EInvalid && !errors.As(err, &e) && cmd != nil:
		return fmt.Sprintf("%v (see '%s --help')", err, cmd.CommandPath())
	case code == codeInterrupted:
		return "interrupted"
	}
	return describe(err)
}

// describe returns err's text with the user's message of any *tandem.Error
// in it in place of that error's code-prefixed form, keeping the context
// that wrappers added.
func describe(err error) string {
	var e *tandem.Error
	if errors.As(err, &e) {
		return strings.Replace(err.Error(), e.Error(), userMessage(e), 1)
	}
	return err.Error()
}

// userMessage is e's message with its target, when the target adds
// something.
func userMessage(e *tandem.Error) string {
	switch {
	case e.Target == "" || strings.Contains(e.Message, e.Target):
		return e.Message
	case e.Code == tandem.ENotPrimary:
		return fmt.Sprintf("%s (primary: %s)", e.Message, e.Target)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Target)
}

// app is the state of one run: its environment and the values of the flags
// shared by the client commands.
type app struct {
	env     Env
	conn    ConnectionFlags
	running bool // a command's RunE has started
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Tandem: self-hosted ML workspaces with built-in disaster recovery",
		Long: "Tandem runs ML workspaces modelled on Azure Machine Learning, with disaster recovery built in.\n\n" +
			"Start a local region with 'tandem up', then use the workspace, notebook and token commands.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(a.env.Stdin)
	root.SetOut(a.env.Stdout)
	root.SetErr(a.env.Stderr)
	root.AddCommand(
		a.serverCommand(),
		a.upCommand(),
		a.workspaceCommand(),
		a.notebookCommand(),
		a.tokenCommand(),
		a.secretCommand(),
		a.vaultCommand(),
		a.versionCommand(),
		a.validateCommand(),
	)
	root.AddCommand(a.assetCommands()...)
	root.AddCommand(a.datastoreCommand())
	root.AddCommand(a.computeCommand())
	root.AddCommand(a.agentCommand())
	root.AddCommand(a.jobCommand())
	root.AddCommand(a.regionCommand(), a.pairCommand())
	markRunning(root, &a.running)
	return root
}

// markRunning wraps the RunE of cmd and its subcommands so that running is
// set once a command's own code starts. Errors returned before that come
// from cobra's parsing and are usage errors.
func markRunning(cmd *cobra.Command, running *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*running = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		markRunning(sub, running)
	}
}

// groupCommand returns a command that groups subcommands: alone it prints
// its help; with an unknown subcommand it is a usage error.
func groupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// addConnectionFlags adds the flags that say which server, token and
// workspace to use to cmd and its subcommands.
func (a *app) addConnectionFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringSliceVar(&a.conn.Endpoints, "endpoint", nil,
		"server URL; repeat or separate with commas, in preference order (env "+EnvEndpoint+")")
	f.StringVar(&a.conn.Token, "token", "", "bearer token (env "+EnvToken+")")
	f.StringVar(&a.conn.Workspace, "workspace", "", "workspace name (env "+EnvWorkspace+")")
	f.StringVar(&a.conn.ConfigPath, "config", "",
		"config file (default: config.json, .tandem/config.json or .azureml/config.json here or in a parent directory)")
}

// connection resolves the connection settings of this run.
func (a *app) connection() (*Connection, error) {
	return ResolveConnection(a.conn, a.env.Getenv, a.env.Dir)
}

// client resolves the connection settings and returns a client for them.
// It fails when no token was found.
func (a *app) client() (*httpapi.Client, *Connection, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, nil, err
	}
	if err := conn.RequireToken(); err != nil {
		return nil, nil, err
	}
	c := httpapi.NewClient(conn.Endpoints, conn.Token)
	c.OnFallback = func(first, used string) {
		a.note("note: %s cannot be reached; answered by %s (possibly a read-only secondary)", first, used)
	}
	c.OnFollow = func(from, primary string) {
		a.note("note: %s is not the primary; following the primary at %s", from, primary)
	}
	return c, conn, nil
}

// path returns p made absolute against the working directory.
// workspaceClient returns a client and the configured workspace, for the
// commands that act inside one workspace.
func (a *app) workspaceClient() (*httpapi.Client, string, error) {
	client, conn, err := a.client()
	if err != nil {
		return nil, "", err
	}
	if err := conn.RequireWorkspace(); err != nil {
		return nil, "", err
	}
	return client, conn.Workspace, nil
}

func (a *app) path(p string) string { return absPath(a.env.Dir, p) }

// note writes a line meant for people to stderr, keeping stdout for data.
func (a *app) note(format string, args ...any) {
	fmt.Fprintf(a.env.Stderr, format+"\n", args...)
}

// confirm asks question on stderr and waits for a yes on stdin, unless yes
// is set. When stdin is not a terminal it refuses: a script must say --yes.
// action names what is refused, as in "delete workspace \"x\"".
func (a *app) confirm(ctx context.Context, yes bool, action, question string) error {
	if yes {
		return nil
	}
	if !a.env.StdinTerminal {
		return tandem.Errorf(tandem.EInvalid,
			"refusing to %s without confirmation: stdin is not a terminal; pass --yes to confirm", action)
	}
	fmt.Fprintf(a.env.Stderr, "%s [y/N]: ", question)
	answer := make(chan string, 1)
	go func() { // a blocked read must not keep Ctrl+C from stopping the run
		line, _ := bufio.NewReader(a.env.Stdin).ReadString('\n')
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
