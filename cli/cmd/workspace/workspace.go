package workspace

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdWorkspace returns the workspace command group with its own verbs
// (create, list, show, update, delete, recover, purge) and, after them,
// the workspace verbs other packages implement (digest, export, import,
// ...), which the caller makes and passes in.
func NewCmdWorkspace(f *cmdutil.Factory, more ...*cobra.Command) *cobra.Command {
	cmd := cmdutil.GroupCommand("workspace", "Create, list, show, update, delete, recover and purge workspaces")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(
		workspaceCreateCommand(f),
		workspaceListCommand(f),
		workspaceShowCommand(f),
		workspaceUpdateCommand(f),
		workspaceDeleteCommand(f),
		workspaceRecoverCommand(f),
		workspacePurgeCommand(f),
	)
	cmd.AddCommand(more...)
	return cmd
}

func workspaceCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		w           tandem.Workspace
		tags        []string
		writeConfig bool
	)
	cmd := &cobra.Command{
		Use:     "create --name NAME",
		Short:   "Create a workspace and its associated resources",
		Example: "  tandem workspace create --name mlw-dev --description 'dev work' --tags team=vision --write-config",
		Args:    tagArgs(&tags),
	}
	out := cmdutil.AddOutputFlag(cmd)
	flags := cmd.Flags()
	flags.StringVarP(&w.Name, "name", "n", "", "workspace name (3-33 letters, digits, '-' or '_')")
	flags.StringVar(&w.Description, "description", "", "description")
	flags.StringVar(&w.DisplayName, "display-name", "", "display name")
	flags.StringArrayVar(&tags, "tags", nil, "tags as key=value; repeat the flag or list them after it")
	flags.BoolVar(&writeConfig, "write-config", false, "write ./config.json for the new workspace")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := tandem.ValidateWorkspaceName(w.Name); err != nil {
			return err
		}
		var err error
		if w.Tags, err = cmdutil.ParseTags(tags); err != nil {
			return err
		}
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if err := client.CreateWorkspace(cmd.Context(), &w); err != nil {
			return err
		}
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, &w, workspaceDetails(&w)); err != nil {
			return err
		}
		if writeConfig {
			return writeWorkspaceConfig(f, w.Name, conn)
		}
		return nil
	}
	return cmd
}

// writeWorkspaceConfig writes ./config.json for workspace, with the
// endpoints in use and the token file, if the token came from one. A token
// given directly is never written.
func writeWorkspaceConfig(f *cmdutil.Factory, workspace string, conn *cmdutil.Connection) error {
	path := f.Path("config.json")
	cfg := &cmdutil.ConfigFile{WorkspaceName: workspace, Endpoints: conn.Endpoints, TokenFile: conn.TokenFile}
	if err := cmdutil.WriteConfig(path, cfg); err != nil {
		return fmt.Errorf("workspace %q was created, but config.json was not written: %w", workspace, err)
	}
	f.Note("Wrote %s.", path)
	if cfg.TokenFile == "" {
		f.Note("It names no token file (the token was given directly): keep passing --token or setting %s.", cmdutil.EnvToken)
	}
	return nil
}

func workspaceListCommand(f *cmdutil.Factory) *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List workspaces, or soft-deleted ones with --deleted",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().BoolVar(&deleted, "deleted", false, "list soft-deleted workspaces, with deletion and purge times")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		list, err := client.ListWorkspaces(cmd.Context(), tandem.WorkspaceFilter{Deleted: deleted})
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), workspaceTable(list, deleted))
	}
	return cmd
}

func workspaceShowCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "show [--name NAME]",
		Short: "Show a workspace (default: the configured one)",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		w, err := client.FindWorkspace(cmd.Context(), name)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func workspaceUpdateCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		name, description, displayName string
		tags                           []string
	)
	cmd := &cobra.Command{
		Use:     "update [--name NAME] [--description D] [--display-name X] [--tags k=v ...]",
		Short:   "Change a workspace's description, display name or tags",
		Example: "  tandem workspace update --name mlw-dev --tags team=vision stage=dev\n  tandem workspace update --name mlw-dev --tags ''   # clear the tags",
		Args:    tagArgs(&tags),
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	flags := cmd.Flags()
	flags.StringVar(&description, "description", "", "new description")
	flags.StringVar(&displayName, "display-name", "", "new display name")
	flags.StringArrayVar(&tags, "tags", nil, "new tags as key=value, replacing all tags; '' clears them")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var upd tandem.WorkspaceUpdate
		if flags.Changed("description") {
			upd.Description = &description
		}
		if flags.Changed("display-name") {
			upd.DisplayName = &displayName
		}
		if flags.Changed("tags") {
			parsed, err := cmdutil.ParseTags(tags)
			if err != nil {
				return err
			}
			upd.Tags = parsed
			if upd.Tags == nil {
				upd.Tags = map[string]string{}
			}
		}
		if upd.Description == nil && upd.DisplayName == nil && upd.Tags == nil {
			return tandem.Errorf(tandem.EInvalid, "nothing to update: pass --description, --display-name or --tags")
		}
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		w, err := client.UpdateWorkspace(cmd.Context(), name, upd)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func workspaceDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		name string
		opts tandem.DeleteOptions
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "delete [--name NAME] [--permanently-delete [--purge-storage]] [--yes]",
		Short: "Delete a workspace: recoverable until purged, unless --permanently-delete",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	flags := cmd.Flags()
	flags.BoolVar(&opts.Permanent, "permanently-delete", false, "purge at once instead of keeping it recoverable")
	flags.BoolVar(&opts.PurgeStorage, "purge-storage", false, "with --permanently-delete: also remove its storage (notebooks)")
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if opts.PurgeStorage && !opts.Permanent {
			return tandem.Errorf(tandem.EInvalid,
				"--purge-storage needs --permanently-delete; a soft-deleted workspace keeps its storage until 'tandem workspace purge --purge-storage'")
		}
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		question := fmt.Sprintf("Delete workspace %q? It stays recoverable until it is purged.", name)
		if opts.Permanent {
			question = fmt.Sprintf("Permanently delete workspace %q? It cannot be recovered%s.", name, storageClause(opts.PurgeStorage))
		}
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("delete workspace %q", name), question); err != nil {
			return err
		}
		w, err := client.DeleteWorkspace(cmd.Context(), name, opts)
		if err != nil {
			return err
		}
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, w, workspaceDetails(w)); err != nil {
			return err
		}
		if !opts.Permanent {
			f.Note("Workspace %q is deleted. Recover it with 'tandem workspace recover --name %s' before %s.",
				name, name, cmdutil.OrDash(cmdutil.FormatTimePtr(w.PurgeAt)))
		}
		return nil
	}
	return cmd
}

func workspaceRecoverCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "recover --name NAME",
		Short: "Recover a soft-deleted workspace with everything in it",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		w, err := client.RecoverWorkspace(cmd.Context(), name)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func workspacePurgeCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		name string
		opts tandem.PurgeOptions
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "purge --name NAME [--purge-storage] [--yes]",
		Short: "Purge a soft-deleted workspace now; it cannot be recovered afterwards",
		Args:  cobra.NoArgs,
	}
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	cmd.MarkFlagRequired("name")
	cmd.Flags().BoolVar(&opts.Storage, "purge-storage", false, "also remove its storage (notebooks); kept by default")
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Purge workspace %q? It cannot be recovered afterwards%s.", name, storageClause(opts.Storage))
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("purge workspace %q", name), question); err != nil {
			return err
		}
		if err := client.PurgeWorkspace(cmd.Context(), name, opts); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Purged workspace %q.\n", name)
		return nil
	}
	return cmd
}

func storageClause(purgeStorage bool) string {
	if purgeStorage {
		return ", and its storage (notebooks) is removed"
	}
	return "; its storage (notebooks) is kept"
}

// tagArgs accepts positional arguments only as further key=value tags after
// --tags, as in Azure's CLI: "--tags a=b c=d".
func tagArgs(tags *[]string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		for _, arg := range args {
			if !cmd.Flags().Changed("tags") || !strings.Contains(arg, "=") {
				return fmt.Errorf("unexpected argument %q", arg)
			}
		}
		*tags = append(*tags, args...)
		return nil
	}
}

// workspaceTable is the table form of a workspace list.
func workspaceTable(list []*tandem.Workspace, deleted bool) *cmdutil.Table {
	if deleted {
		t := &cmdutil.Table{Header: []string{"NAME", "REGION", "DELETED", "PURGE AT"}}
		for _, w := range list {
			t.Add(w.Name, w.Region, cmdutil.FormatTimePtr(w.DeletedAt), cmdutil.FormatTimePtr(w.PurgeAt))
		}
		return t
	}
	t := &cmdutil.Table{Header: []string{"NAME", "DISPLAY NAME", "REGION", "CREATED"}}
	for _, w := range list {
		t.Add(w.Name, w.DisplayName, w.Region, cmdutil.FormatTime(w.CreatedAt))
	}
	return t
}

// workspaceDetails is the table form of one workspace.
func workspaceDetails(w *tandem.Workspace) cmdutil.Details {
	d := cmdutil.Details{
		{"Name", w.Name},
		{"ID", w.ID},
		{"Display name", w.DisplayName},
		{"Description", w.Description},
		{"Region", w.Region},
		{"Tags", cmdutil.FormatTags(w.Tags)},
		{"Storage", w.Resources.Storage},
		{"Key vault", w.Resources.KeyVault},
		{"Application insights", w.Resources.ApplicationInsights},
		{"Container registry", w.Resources.ContainerRegistry},
		{"MLflow tracking URI", w.MLflowTrackingURI},
		{"Created", cmdutil.FormatTime(w.CreatedAt)},
		{"Updated", cmdutil.FormatTime(w.UpdatedAt)},
	}
	if w.Deleted() {
		d = append(d, [2]string{"Deleted", cmdutil.FormatTimePtr(w.DeletedAt)}, [2]string{"Purge at", cmdutil.FormatTimePtr(w.PurgeAt)})
	}
	return d
}
