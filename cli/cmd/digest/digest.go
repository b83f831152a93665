package digest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdDigest returns `workspace digest`.
func NewCmdDigest(f *cmdutil.Factory) *cobra.Command {
	var (
		name string
		opts tandem.DigestOptions
	)
	cmd := &cobra.Command{
		Use:   "digest [--name NAME] [--verify-blobs]",
		Short: "Print a deterministic sha256 over everything a workspace holds, to compare the two workspaces of a pair",
		Long: "Print a sha256 over the workspace's replicable settings, resources, workspace tokens and blobs,\n" +
			"computed from the sha256 recorded with each blob. The two workspaces of a converged pair print\n" +
			"the same digest. What is region-local (the name, the region, row times, staging and snapshots)\n" +
			"is left out; -o json lists it under \"excluded\".\n\n" +
			"--verify-blobs also reads every blob again and checks its bytes; blobs that fail are listed\n" +
			"and the command exits with status 8 (Corrupt).",
		Example: "  tandem workspace digest --name mlw-prod\n  tandem workspace digest --name mlw-prod --verify-blobs -o json",
		Args:    cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmdutil.AddWorkspaceNameFlag(cmd, &name)
	cmd.Flags().BoolVar(&opts.Content, "content", false, "the content digest: independent of the workspace id, to compare a workspace with its import (tokens and secret values left out)")
	cmd.Flags().BoolVar(&opts.VerifyBlobs, "verify-blobs", false, "read every blob again and check its sha256 and size (slow: reads all bytes)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, conn, err := f.Client()
		if err != nil {
			return err
		}
		if name, err = cmdutil.WorkspaceName(name, conn); err != nil {
			return err
		}
		d, err := client.DigestWorkspace(cmd.Context(), name, opts)
		if err != nil {
			return err
		}
		if d.Counts == nil {
			d.Counts = map[string]int64{}
		}
		if d.Excluded == nil {
			d.Excluded = []string{}
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, d, digestView{d})
	}
	return cmd
}

// digestView is the table form of a digest: the digest and its workspace,
// then the counts per kind.
type digestView struct{ d *tandem.WorkspaceDigest }

func (v digestView) WriteTable(w io.Writer) error {
	d := v.d
	verified := "no (recorded sha256s)"
	if d.VerifiedBlobs {
		verified = "yes (every blob read again)"
	}
	if err := (cmdutil.Details{
		{"Workspace", d.Workspace},
		{"ID", d.ID},
		{"Digest", d.Digest},
		{"Format", d.Format},
		{"Blob bytes", cmdutil.FormatSize(d.Bytes)},
		{"Blobs verified", verified},
		{"Computed", cmdutil.FormatTime(d.ComputedAt)},
	}).WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t := &cmdutil.Table{Header: []string{"KIND", "COUNT"}}
	for _, k := range slices.Sorted(maps.Keys(d.Counts)) {
		t.Add(k, strconv.FormatInt(d.Counts[k], 10))
	}
	if err := t.WriteTable(w); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nNot covered (region-local):\n")
	for _, e := range d.Excluded {
		if err == nil {
			_, err = fmt.Fprintf(w, "  - %s\n", e)
		}
	}
	return err
}
