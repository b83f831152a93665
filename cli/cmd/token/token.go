package token

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdToken returns the token command group.
func NewCmdToken(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("token", "Create, list and revoke API tokens")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(
		tokenCreateCommand(f),
		tokenListCommand(f),
		tokenRevokeCommand(f),
	)
	return cmd
}

// Secret is what `token create -o json` prints: the token's name and
// its secret, exactly these two fields.
type Secret struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

func tokenCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "create --name NAME [--workspace W]",
		Short: "Create a token and print its secret once",
		Long: "Create a token and print its secret once; only a hash is stored.\n\n" +
			"With --workspace the token acts only on that workspace; without it, it is a region admin token.\n" +
			"Only the --workspace flag scopes a token: " + cmdutil.EnvWorkspace + " and config.json do not.",
		Example: "  tandem token create --name ci --workspace mlw-dev -o json",
		Args:    cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "token name")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		// The scope is the flag as given, never a configured default: a
		// config.json must not silently turn an admin token into a scoped one.
		var scope string
		if cmd.Flags().Changed("workspace") {
			scope = f.ConnectionFlags().Workspace
		}
		t, secret, err := client.CreateToken(cmd.Context(), name, scope)
		if err != nil {
			return err
		}
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, Secret{Name: t.Name, Token: secret}, cmdutil.Details{
			{"Name", t.Name},
			{"Scope", tokenScope(t)},
			{"Token", secret},
		}); err != nil {
			return err
		}
		f.Note("Store the token now: it is not shown again.")
		return nil
	}
	return cmd
}

func tokenListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens you may see (never their secrets)",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		list, err := client.ListTokens(cmd.Context())
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), tokenTable(list))
	}
	return cmd
}

func tokenRevokeCommand(f *cmdutil.Factory) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "revoke --name NAME",
		Short: "Revoke a token; it stops working at once",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "token name")
	cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		if err := client.RevokeToken(cmd.Context(), name); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Revoked token %q.\n", name)
		return nil
	}
	return cmd
}

// tokenScope describes what a token may act on.
func tokenScope(t *tandem.Token) string {
	if t.Admin() {
		return "region admin"
	}
	if t.Workspace != "" {
		return "workspace " + t.Workspace
	}
	return "workspace id " + t.WorkspaceID
}

// tokenTable is the table form of a token list.
func tokenTable(list []*tandem.Token) *cmdutil.Table {
	t := &cmdutil.Table{Header: []string{"NAME", "SCOPE", "CREATED"}}
	for _, tok := range list {
		t.Add(tok.Name, tokenScope(tok), cmdutil.FormatTime(tok.CreatedAt))
	}
	return t
}
