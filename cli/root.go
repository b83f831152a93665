package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmd/agent"
	"github.com/tandemml/tandem/cli/cmd/archive"
	"github.com/tandemml/tandem/cli/cmd/asset"
	"github.com/tandemml/tandem/cli/cmd/compute"
	"github.com/tandemml/tandem/cli/cmd/datastore"
	"github.com/tandemml/tandem/cli/cmd/digest"
	"github.com/tandemml/tandem/cli/cmd/job"
	"github.com/tandemml/tandem/cli/cmd/notebook"
	"github.com/tandemml/tandem/cli/cmd/pair"
	"github.com/tandemml/tandem/cli/cmd/secret"
	"github.com/tandemml/tandem/cli/cmd/serve"
	"github.com/tandemml/tandem/cli/cmd/token"
	"github.com/tandemml/tandem/cli/cmd/validate"
	"github.com/tandemml/tandem/cli/cmd/vault"
	"github.com/tandemml/tandem/cli/cmd/version"
	"github.com/tandemml/tandem/cli/cmd/workspace"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// Env is what one run of the program sees of the outside world.
type Env = cmdutil.Env

// Main runs the tandem command line with args (without the program name) in
// the process's environment and working directory, and returns the exit
// status.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "tandem: %v\n", err)
		return cmdutil.ExitStatus(tandem.EInternal)
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
	f := cmdutil.NewFactory(env)
	root := rootCommand(f)
	running := false // a command's RunE has started
	markRunning(root, &running)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := cmdutil.ErrorCode(ctx, err, running)
	fmt.Fprintf(f.Env.Stderr, "tandem: %s\n", cmdutil.ErrorText(err, code, cmd))
	return cmdutil.ExitStatus(code)
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func rootCommand(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "tandem",
		Short: "Tandem: self-hosted ML workspaces with built-in disaster recovery",
		Long: "Tandem runs ML workspaces modelled on Azure Machine Learning, with disaster recovery built in.\n\n" +
			"Start a local region with 'tandem up', then use the workspace, notebook and token commands.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(f.Env.Stdin)
	root.SetOut(f.Env.Stdout)
	root.SetErr(f.Env.Stderr)
	root.AddCommand(
		serve.NewCmdServer(f),
		serve.NewCmdUp(f),
		workspace.NewCmdWorkspace(f,
			digest.NewCmdDigest(f),
			archive.NewCmdExport(f),
			archive.NewCmdImport(f),
			archive.NewCmdRestore(f),
			archive.NewCmdSnapshot(f),
			archive.NewCmdArchiveKey(f),
		),
		notebook.NewCmdNotebook(f),
		token.NewCmdToken(f),
		secret.NewCmdSecret(f),
		vault.NewCmdVault(f),
		version.NewCmdVersion(f),
		validate.NewCmdValidate(f),
	)
	root.AddCommand(asset.NewCmdAssets(f)...)
	root.AddCommand(datastore.NewCmdDatastore(f))
	root.AddCommand(compute.NewCmdCompute(f))
	root.AddCommand(agent.NewCmdAgent(f))
	root.AddCommand(job.NewCmdJob(f))
	root.AddCommand(pair.NewCmdRegion(f), pair.NewCmdPair(f))
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
