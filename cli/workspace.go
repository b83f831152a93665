package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
)

func (a *app) workspaceCommand() *cobra.Command {
	cmd := groupCommand("workspace", "Create, list, show, update, delete, recover and purge workspaces")
	a.addConnectionFlags(cmd)
	cmd.AddCommand(
		a.workspaceCreateCommand(),
		a.workspaceListCommand(),
		a.workspaceShowCommand(),
		a.workspaceUpdateCommand(),
		a.workspaceDeleteCommand(),
		a.workspaceRecoverCommand(),
		a.workspacePurgeCommand(),
		a.workspaceDigestCommand(),
		a.workspaceExportCommand(),
		a.workspaceImportCommand(),
		a.workspaceRestoreCommand(),
		a.workspaceSnapshotCommand(),
		a.workspaceArchiveKeyCommand(),
	)
	return cmd
}

func (a *app) workspaceCreateCommand() *cobra.Command {
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
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVarP(&w.Name, "name", "n", "", "workspace name (3-33 letters, digits, '-' or '_')")
	f.StringVar(&w.Description, "description", "", "description")
	f.StringVar(&w.DisplayName, "display-name", "", "display name")
	f.StringArrayVar(&tags, "tags", nil, "tags as key=value; repeat the flag or list them after it")
	f.BoolVar(&writeConfig, "write-config", false, "write ./config.json for the new workspace")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := tandem.ValidateWorkspaceName(w.Name); err != nil {
			return err
		}
		var err error
		if w.Tags, err = parseTags(tags); err != nil {
			return err
		}
		client, conn, err := a.client()
		if err != nil {
			return err
		}
		if err := client.CreateWorkspace(cmd.Context(), &w); err != nil {
			return err
		}
		if err := writeOutput(a.env.Stdout, *out, &w, workspaceDetails(&w)); err != nil {
			return err
		}
		if writeConfig {
			return a.writeWorkspaceConfig(w.Name, conn)
		}
		return nil
	}
	return cmd
}

// writeWorkspaceConfig writes ./config.json for workspace, with the
// endpoints in use and the token file, if the token came from one. A token
// given directly is never written.
func (a *app) writeWorkspaceConfig(workspace string, conn *Connection) error {
	path := a.path("config.json")
	cfg := &ConfigFile{WorkspaceName: workspace, Endpoints: conn.Endpoints, TokenFile: conn.TokenFile}
	if err := WriteConfig(path, cfg); err != nil {
		return fmt.Errorf("workspace %q was created, but config.json was not written: %w", workspace, err)
	}
	a.note("Wrote %s.", path)
	if cfg.TokenFile == "" {
		a.note("It names no token file (the token was given directly): keep passing --token or setting %s.", EnvToken)
	}
	return nil
}

func (a *app) workspaceListCommand() *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List workspaces, or soft-deleted ones with --deleted",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.Flags().BoolVar(&deleted, "deleted", false, "list soft-deleted workspaces, with deletion and purge times")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := a.client()
		if err != nil {
			return err
		}
		list, err := client.ListWorkspaces(cmd.Context(), tandem.WorkspaceFilter{Deleted: deleted})
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, nonNil(list), workspaceTable(list, deleted))
	}
	return cmd
}

func (a *app) workspaceShowCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "show [--name NAME]",
		Short: "Show a workspace (default: the configured one)",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	addNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, conn, err := a.client()
		if err != nil {
			return err
		}
		if name, err = workspaceName(name, conn); err != nil {
			return err
		}
		w, err := client.FindWorkspace(cmd.Context(), name)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func (a *app) workspaceUpdateCommand() *cobra.Command {
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
	out := addOutputFlag(cmd)
	addNameFlag(cmd, &name)
	f := cmd.Flags()
	f.StringVar(&description, "description", "", "new description")
	f.StringVar(&displayName, "display-name", "", "new display name")
	f.StringArrayVar(&tags, "tags", nil, "new tags as key=value, replacing all tags; '' clears them")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var upd tandem.WorkspaceUpdate
		if f.Changed("description") {
			upd.Description = &description
		}
		if f.Changed("display-name") {
			upd.DisplayName = &displayName
		}
		if f.Changed("tags") {
			parsed, err := parseTags(tags)
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
		client, conn, err := a.client()
		if err != nil {
			return err
		}
		if name, err = workspaceName(name, conn); err != nil {
			return err
		}
		w, err := client.UpdateWorkspace(cmd.Context(), name, upd)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func (a *app) workspaceDeleteCommand() *cobra.Command {
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
	out := addOutputFlag(cmd)
	addNameFlag(cmd, &name)
	f := cmd.Flags()
	f.BoolVar(&opts.Permanent, "permanently-delete", false, "purge at once instead of keeping it recoverable")
	f.BoolVar(&opts.PurgeStorage, "purge-storage", false, "with --permanently-delete: also remove its storage (notebooks)")
	addYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if opts.PurgeStorage && !opts.Permanent {
			return tandem.Errorf(tandem.EInvalid,
				"--purge-storage needs --permanently-delete; a soft-deleted workspace keeps its storage until 'tandem workspace purge --purge-storage'")
		}
		client, conn, err := a.client()
		if err != nil {
			return err
		}
		if name, err = workspaceName(name, conn); err != nil {
			return err
		}
		question := fmt.Sprintf("Delete workspace %q? It stays recoverable until it is purged.", name)
		if opts.Permanent {
			question = fmt.Sprintf("Permanently delete workspace %q? It cannot be recovered%s.", name, storageClause(opts.PurgeStorage))
		}
		if err := a.confirm(cmd.Context(), yes, fmt.Sprintf("delete workspace %q", name), question); err != nil {
			return err
		}
		w, err := client.DeleteWorkspace(cmd.Context(), name, opts)
		if err != nil {
			return err
		}
		if err := writeOutput(a.env.Stdout, *out, w, workspaceDetails(w)); err != nil {
			return err
		}
		if !opts.Permanent {
			a.note("Workspace %q is deleted. Recover it with 'tandem workspace recover --name %s' before %s.",
				name, name, orDash(formatTimePtr(w.PurgeAt)))
		}
		return nil
	}
	return cmd
}

func (a *app) workspaceRecoverCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "recover --name NAME",
		Short: "Recover a soft-deleted workspace with everything in it",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	addNameFlag(cmd, &name)
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := a.client()
		if err != nil {
			return err
		}
		w, err := client.RecoverWorkspace(cmd.Context(), name)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, w, workspaceDetails(w))
	}
	return cmd
}

func (a *app) workspacePurgeCommand() *cobra.Command {
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
	addNameFlag(cmd, &name)
	cmd.MarkFlagRequired("name")
	cmd.Flags().BoolVar(&opts.Storage, "purge-storage", false, "also remove its storage (notebooks); kept by default")
	addYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := a.client()
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Purge workspace %q? It cannot be recovered afterwards%s.", name, storageClause(opts.Storage))
		if err := a.confirm(cmd.Context(), yes, fmt.Sprintf("purge workspace %q", name), question); err != nil {
			return err
		}
		if err := client.PurgeWorkspace(cmd.Context(), name, opts); err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "Purged workspace %q.\n", name)
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

func addNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "workspace name (default: the configured workspace)")
}

func addYesFlag(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do not ask for confirmation")
}

// workspaceName returns name, or the configured workspace when name is "".
func workspaceName(name string, conn *Connection) (string, error) {
	if name != "" {
		return name, nil
	}
	if err := conn.RequireWorkspace(); err != nil {
		return "", tandem.Errorf(tandem.EInvalid, "no workspace given: pass --name, or configure one (--workspace, %s or config.json)", EnvWorkspace)
	}
	return conn.Workspace, nil
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

// parseTags turns key=value strings into a map; "key" alone has an empty
// value. A single "" means no tags and returns nil.
func parseTags(tags []string) (map[string]string, error) {
	if len(tags) == 1 && tags[0] == "" {
		return nil, nil
	}
	var m map[string]string
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, tandem.Errorf(tandem.EInvalid, "invalid tag %q: want key=value", t)
		}
		if m == nil {
			m = make(map[string]string)
		}
		m[k] = v
	}
	return m, nil
}

// workspaceTable is the table form of a workspace list.
func workspaceTable(list []*tandem.Workspace, deleted bool) *table {
	if deleted {
		t := &table{header: []string{"NAME", "REGION", "DELETED", "PURGE AT"}}
		for _, w := range list {
			t.add(w.Name, w.Region, formatTimePtr(w.DeletedAt), formatTimePtr(w.PurgeAt))
		}
		return t
	}
	t := &table{header: []string{"NAME", "DISPLAY NAME", "REGION", "CREATED"}}
	for _, w := range list {
		t.add(w.Name, w.DisplayName, w.Region, formatTime(w.CreatedAt))
	}
	return t
}

// workspaceDetails is the table form of one workspace.
func workspaceDetails(w *tandem.Workspace) details {
	d := details{
		{"Name", w.Name},
		{"ID", w.ID},
		{"Display name", w.DisplayName},
		{"Description", w.Description},
		{"Region", w.Region},
		{"Tags", formatTags(w.Tags)},
		{"Storage", w.Resources.Storage},
		{"Key vault", w.Resources.KeyVault},
		{"Application insights", w.Resources.ApplicationInsights},
		{"Container registry", w.Resources.ContainerRegistry},
		{"Created", formatTime(w.CreatedAt)},
		{"Updated", formatTime(w.UpdatedAt)},
	}
	if w.Deleted() {
		d = append(d, [2]string{"Deleted", formatTimePtr(w.DeletedAt)}, [2]string{"Purge at", formatTimePtr(w.PurgeAt)})
	}
	return d
}
