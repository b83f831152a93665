package vault

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdVault returns the vault command group.
func NewCmdVault(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("vault", "Manage the region's vault keys")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(vaultRotateKeyCommand(f))
	return cmd
}

func vaultRotateKeyCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Rewrap every secret's data key under a new key-encryption key",
		Long: "Add a new key-encryption key to the server's key file, rewrap the data key of every secret\n" +
			"of the region under it, and remove the keys no secret uses any more. Values do not change.\n" +
			"Needs a region admin token. If it fails part way, every value still opens: run it again.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := f.Client()
		if err != nil {
			return err
		}
		rot, err := client.RotateKey(cmd.Context())
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, rot, rotationDetails(rot))
	}
	return cmd
}

func rotationDetails(r *tandem.KeyRotation) cmdutil.Details {
	return cmdutil.Details{
		{"Key", r.KeyID},
		{"Secrets rewrapped", fmt.Sprint(r.Secrets)},
		{"Workspaces", fmt.Sprint(r.Workspaces)},
		{"Retired keys", strings.Join(r.RetiredKeys, ", ")},
	}
}
