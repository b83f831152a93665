package secret

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdSecret returns the secret command group.
func NewCmdSecret(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("secret", "Set, list, show, get and delete the secrets of a workspace's vault")
	cmd.Long = "Manage the secrets of the configured workspace's vault.\n\n" +
		"Values are encrypted at rest (AES-256-GCM under a per-secret data key, wrapped by the server's key file).\n" +
		"Only 'secret get' prints a value; list and show print metadata."
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(
		secretSetCommand(f),
		secretListCommand(f),
		secretShowCommand(f),
		secretGetCommand(f),
		secretDeleteCommand(f),
	)
	return cmd
}

func addSecretNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "secret name (1-127 letters, digits and '-')")
	cmd.MarkFlagRequired("name")
}

func secretSetCommand(f *cmdutil.Factory) *cobra.Command {
	var name, value, file string
	cmd := &cobra.Command{
		Use:   "set --name NAME (--value VALUE | --file PATH)",
		Short: "Create a secret or replace its value",
		Long: "Create a secret or replace its value. The value is taken as given, byte for byte (up to 64 KiB).\n\n" +
			"--value puts the value in your shell history and the process list; prefer --file,\n" +
			"or --file - to read it from stdin.",
		Example: "  tandem secret set --name storage-key --file ./key.txt\n" +
			"  printf %s \"$KEY\" | tandem secret set --name storage-key --file -",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	addSecretNameFlag(cmd, &name)
	flags := cmd.Flags()
	flags.StringVar(&value, "value", "", "the value")
	flags.StringVarP(&file, "file", "f", "", "read the value from this file; - reads stdin")
	cmd.MarkFlagsOneRequired("value", "file")
	cmd.MarkFlagsMutuallyExclusive("value", "file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := tandem.ValidateSecretName(name); err != nil {
			return err
		}
		data := []byte(value)
		if cmd.Flags().Changed("file") {
			var err error
			if data, err = readSecretFile(f, file); err != nil {
				return err
			}
		}
		defer clear(data)
		switch {
		case len(data) == 0:
			return tandem.Errorf(tandem.EInvalid, "secret value is empty")
		case len(data) > tandem.MaxSecretValue:
			return tandem.Errorf(tandem.ETooLarge, "secret value is larger than %d bytes (64 KiB)", tandem.MaxSecretValue)
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		sec, err := svc.SetSecret(cmd.Context(), ws, name, data)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, sec, secretDetails(sec))
	}
	return cmd
}

// readSecretFile reads a value from path, or stdin for "-", refusing more
// than tandem.MaxSecretValue bytes without reading them all.
func readSecretFile(f *cmdutil.Factory, path string) ([]byte, error) {
	var r io.Reader = f.Env.Stdin
	if path != "-" {
		fh, err := os.Open(f.Path(path))
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	data, err := io.ReadAll(io.LimitReader(r, tandem.MaxSecretValue+1))
	if err != nil {
		return nil, fmt.Errorf("read secret value: %w", err)
	}
	if len(data) > tandem.MaxSecretValue {
		clear(data)
		return nil, tandem.Errorf(tandem.ETooLarge, "%s holds more than %d bytes (64 KiB), the largest secret value", path, tandem.MaxSecretValue)
	}
	return data, nil
}

func secretListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the workspace's secrets (never their values)",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListSecrets(cmd.Context(), ws)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), secretTable(list))
	}
	return cmd
}

func secretShowCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "show --name NAME",
		Short: "Show a secret's metadata (never its value; see 'secret get')",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	addSecretNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		sec, err := svc.FindSecret(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, sec, secretDetails(sec))
	}
	return cmd
}

func secretGetCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "get --name NAME",
		Short: "Print a secret's value to stdout, byte for byte",
		Long: "Print a secret's value to stdout exactly as it was set: no newline is added,\n" +
			"so 'tandem secret get --name N > file' restores the bytes given to 'secret set --file'.",
		Example: "  tandem secret get --name storage-key > key.txt",
		Args:    cobra.NoArgs,
	}
	addSecretNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		value, err := svc.GetSecretValue(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		defer clear(value)
		_, err = f.Env.Stdout.Write(value)
		return err
	}
	return cmd
}

func secretDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	var (
		name string
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "delete --name NAME [--yes]",
		Short: "Delete a secret; its value cannot be recovered",
		Args:  cobra.NoArgs,
	}
	addSecretNameFlag(cmd, &name)
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Delete secret %q of workspace %q? Its value cannot be recovered.", name, ws)
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("delete secret %q", name), question); err != nil {
			return err
		}
		if err := svc.DeleteSecret(cmd.Context(), ws, name); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Deleted secret %q from workspace %q.\n", name, ws)
		return nil
	}
	return cmd
}

// secretDetails is the table form of one secret's metadata.
func secretDetails(s *tandem.Secret) cmdutil.Details {
	return cmdutil.Details{
		{"Name", s.Name},
		{"Version", fmt.Sprint(s.Version)},
		{"Key", s.KeyID},
		{"Created", cmdutil.FormatTime(s.CreatedAt)},
		{"Updated", cmdutil.FormatTime(s.UpdatedAt)},
	}
}

// secretTable is the table form of a secret list.
func secretTable(list []*tandem.Secret) *cmdutil.Table {
	t := &cmdutil.Table{Header: []string{"NAME", "VERSION", "KEY", "UPDATED"}}
	for _, s := range list {
		t.Add(s.Name, fmt.Sprint(s.Version), s.KeyID, cmdutil.FormatTime(s.UpdatedAt))
	}
	return t
}
