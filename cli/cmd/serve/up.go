package serve

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
)

// NewCmdUp returns `tandem up`, which starts a local region (or two paired
// ones) with a workspace and a config.json.
func NewCmdUp(f *cmdutil.Factory) *cobra.Command {
	var (
		cfg       server.Config
		workspace string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local region with a workspace and a config.json, until interrupted",
		Long: "Start a local region on the embedded defaults (SQLite and the filesystem, in ./tandem-data),\n" +
			"create a workspace in it if it does not exist, and write ./config.json pointing at it,\n" +
			"so that the other commands work from this directory. Runs until interrupted.\n\n" +
			"An existing config.json that is not Tandem's is left unchanged.",
		Args: cobra.NoArgs,
	}
	flags := cmd.Flags()
	addLocalServerFlags(flags, &cfg)
	flags.StringVar(&workspace, "workspace", "default", "workspace to create if it does not exist")
	var regions int
	var names []string
	flags.IntVar(&regions, "regions", 1, "1: one local region; 2: two paired regions (hot/warm) on two ports")
	flags.StringSliceVar(&names, "region-names", []string{"eastus", "westus"}, "names of the regions with --regions 2 (primary first)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if err := tandem.ValidateWorkspaceName(workspace); err != nil {
			return err
		}
		switch regions {
		case 1:
		case 2:
			if len(names) != 2 || names[0] == names[1] {
				return tandem.Errorf(tandem.EInvalid, "--region-names needs two different names, got %v", names)
			}
			return upPair(ctx, f, cfg, workspace, names)
		default:
			return tandem.Errorf(tandem.EInvalid, "--regions must be 1 or 2, got %d", regions)
		}
		s, err := openServer(ctx, f, cfg)
		if err != nil {
			return err
		}
		if err := setUpLocal(ctx, f, s, workspace); err != nil {
			closeServer(ctx, s)
			return err
		}
		return serveUntilDone(ctx, f, s)
	}
	return cmd
}

// setUpLocal creates the workspace in the freshly started server s unless
// it exists, writes ./config.json and prints what to do next.
func setUpLocal(ctx context.Context, f *cmdutil.Factory, s *server.Server, workspace string) error {
	token, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		return fmt.Errorf("read admin token: %w", err)
	}
	client := httpapi.NewClient([]string{s.Endpoint()}, strings.TrimSpace(string(token)))
	created := false
	if _, err := client.FindWorkspace(ctx, workspace); tandem.IsCode(err, tandem.ENotFound) {
		if err := client.CreateWorkspace(ctx, &tandem.Workspace{Name: workspace}); err != nil {
			return fmt.Errorf("create workspace %q: %w", workspace, err)
		}
		created = true
	} else if err != nil {
		return fmt.Errorf("find workspace %q: %w", workspace, err)
	}

	configPath := f.Path("config.json")
	cfg := &cmdutil.ConfigFile{WorkspaceName: workspace, Endpoints: []string{s.Endpoint()}, TokenFile: s.AdminTokenPath(),
		MLflowTrackingURI: tandem.MLflowTrackingURI(s.Endpoint(), workspace)}
	configNote := configPath + " (written)"
	written := true
	if cmdutil.StatConfig(configPath) == cmdutil.ConfigForeign {
		configNote = configPath + " exists and is not Tandem's: left it unchanged"
		written = false
	} else if err := cmdutil.WriteConfig(configPath, cfg); err != nil {
		return fmt.Errorf("write config: %w", err)
	}

	w := f.Env.Stdout
	fmt.Fprintf(w, "listening on %s\n", s.Endpoint())
	fmt.Fprintf(w, "Tandem is up: region %s, data in %s.\n\n", s.Config.Region, s.Config.DataDir)
	fmt.Fprintf(w, "  Endpoint:    %s\n", s.Endpoint())
	fmt.Fprintf(w, "  Token file:  %s%s\n", s.AdminTokenPath(), createdNote(s.AdminTokenCreated()))
	fmt.Fprintf(w, "  Workspace:   %s%s\n", workspace, createdNote(created))
	fmt.Fprintf(w, "  MLflow URI:  %s\n", cfg.MLflowTrackingURI)
	fmt.Fprintf(w, "  Config:      %s\n\n", configNote)
	if !written {
		fmt.Fprintf(w, "Connect from this shell with:\n  export %s=%s %s=%s %s=\"$(cat %s)\"\n\n",
			cmdutil.EnvEndpoint, s.Endpoint(), cmdutil.EnvWorkspace, workspace, cmdutil.EnvToken, s.AdminTokenPath())
	}
	printNextSteps(w, workspace)
	return nil
}

func printNextSteps(w io.Writer, workspace string) {
	fmt.Fprintln(w, "Try, from this directory in another terminal:")
	for _, c := range []string{
		"tandem workspace list",
		"tandem workspace show --name " + workspace,
		"tandem notebook upload --path x.ipynb",
		"tandem notebook list",
		"tandem token create --name ci --workspace " + workspace,
	} {
		fmt.Fprintln(w, "  "+c)
	}
	fmt.Fprintln(w, "\nPress Ctrl+C to stop.")
}
