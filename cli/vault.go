package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
)

func (a *app) vaultCommand() *cobra.Command {
	cmd := groupCommand("vault", "Manage the region's vault keys")
	a.addConnectionFlags(cmd)
	cmd.AddCommand(a.vaultRotateKeyCommand())
	return cmd
}

func (a *app) vaultRotateKeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Rewrap every secret's data key under a new key-encryption key",
		Long: "Add a new key-encryption key to the server's key file, rewrap the data key of every secret\n" +
			"of the region under it, and remove the keys no secret uses any more. Values do not change.\n" +
			"Needs a region admin token. If it fails part way, every value still opens: run it again.",
		Args: cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, _, err := a.client()
		if err != nil {
			return err
		}
		rot, err := client.RotateKey(cmd.Context())
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, rot, rotationDetails(rot))
	}
	return cmd
}

func rotationDetails(r *tandem.KeyRotation) details {
	return details{
		{"Key", r.KeyID},
		{"Secrets rewrapped", fmt.Sprint(r.Secrets)},
		{"Workspaces", fmt.Sprint(r.Workspaces)},
		{"Retired keys", strings.Join(r.RetiredKeys, ", ")},
	}
}
