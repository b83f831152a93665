package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
)

// GroupCommand returns a command that groups subcommands: alone it prints
// its help; with an unknown subcommand it is a usage error.
func GroupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// AddWorkspaceNameFlag adds -n/--name, naming a workspace, to cmd.
func AddWorkspaceNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "workspace name (default: the configured workspace)")
}

// AddYesFlag adds -y/--yes, which skips confirmation, to cmd.
func AddYesFlag(cmd *cobra.Command, yes *bool) {
	cmd.Flags().BoolVarP(yes, "yes", "y", false, "do not ask for confirmation")
}

// WorkspaceName returns name, or the configured workspace when name is "".
func WorkspaceName(name string, conn *Connection) (string, error) {
	if name != "" {
		return name, nil
	}
	if err := conn.RequireWorkspace(); err != nil {
		return "", tandem.Errorf(tandem.EInvalid, "no workspace given: pass --name, or configure one (--workspace, %s or config.json)", EnvWorkspace)
	}
	return conn.Workspace, nil
}

// ParseTags turns key=value strings into a map; "key" alone has an empty
// value. A single "" means no tags and returns nil.
func ParseTags(tags []string) (map[string]string, error) {
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
