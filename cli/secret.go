package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
)

func (a *app) secretCommand() *cobra.Command {
	cmd := groupCommand("secret", "Set, list, show, get and delete the secrets of a workspace's vault")
	cmd.Long = "Manage the secrets of the configured workspace's vault.\n\n" +
		"Values are encrypted at rest (AES-256-GCM under a per-secret data key, wrapped by the server's key file).\n" +
		"Only 'secret get' prints a value; list and show print metadata."
	a.addConnectionFlags(cmd)
	cmd.AddCommand(
		a.secretSetCommand(),
		a.secretListCommand(),
		a.secretShowCommand(),
		a.secretGetCommand(),
		a.secretDeleteCommand(),
	)
	return cmd
}

func addSecretNameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", "", "secret name (1-127 letters, digits and '-')")
	cmd.MarkFlagRequired("name")
}

func (a *app) secretSetCommand() *cobra.Command {
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
	out := addOutputFlag(cmd)
	addSecretNameFlag(cmd, &name)
	f := cmd.Flags()
	f.StringVar(&value, "value", "", "the value")
	f.StringVarP(&file, "file", "f", "", "read the value from this file; - reads stdin")
	cmd.MarkFlagsOneRequired("value", "file")
	cmd.MarkFlagsMutuallyExclusive("value", "file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := tandem.ValidateSecretName(name); err != nil {
			return err
		}
		data := []byte(value)
		if cmd.Flags().Changed("file") {
			var err error
			if data, err = a.readSecretFile(file); err != nil {
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
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		sec, err := svc.SetSecret(cmd.Context(), ws, name, data)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, sec, secretDetails(sec))
	}
	return cmd
}

// readSecretFile reads a value from path, or stdin for "-", refusing more
// than tandem.MaxSecretValue bytes without reading them all.
func (a *app) readSecretFile(path string) ([]byte, error) {
	var r io.Reader = a.env.Stdin
	if path != "-" {
		f, err := os.Open(a.path(path))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
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

func (a *app) secretListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the workspace's secrets (never their values)",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListSecrets(cmd.Context(), ws)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, nonNil(list), secretTable(list))
	}
	return cmd
}

func (a *app) secretShowCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "show --name NAME",
		Short: "Show a secret's metadata (never its value; see 'secret get')",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	addSecretNameFlag(cmd, &name)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		sec, err := svc.FindSecret(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, sec, secretDetails(sec))
	}
	return cmd
}

func (a *app) secretGetCommand() *cobra.Command {
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
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		value, err := svc.GetSecretValue(cmd.Context(), ws, name)
		if err != nil {
			return err
		}
		defer clear(value)
		_, err = a.env.Stdout.Write(value)
		return err
	}
	return cmd
}

func (a *app) secretDeleteCommand() *cobra.Command {
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
	addYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		question := fmt.Sprintf("Delete secret %q of workspace %q? Its value cannot be recovered.", name, ws)
		if err := a.confirm(cmd.Context(), yes, fmt.Sprintf("delete secret %q", name), question); err != nil {
			return err
		}
		if err := svc.DeleteSecret(cmd.Context(), ws, name); err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "Deleted secret %q from workspace %q.\n", name, ws)
		return nil
	}
	return cmd
}

// secretDetails is the table form of one secret's metadata.
func secretDetails(s *tandem.Secret) details {
	return details{
		{"Name", s.Name},
		{"Version", fmt.Sprint(s.Version)},
		{"Key", s.KeyID},
		{"Created", formatTime(s.CreatedAt)},
		{"Updated", formatTime(s.UpdatedAt)},
	}
}

// secretTable is the table form of a secret list.
func secretTable(list []*tandem.Secret) *table {
	t := &table{header: []string{"NAME", "VERSION", "KEY", "UPDATED"}}
	for _, s := range list {
		t.add(s.Name, fmt.Sprint(s.Version), s.KeyID, formatTime(s.UpdatedAt))
	}
	return t
}
