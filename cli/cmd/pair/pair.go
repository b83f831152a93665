package pair

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdRegion returns the region command group: the peer regions this region
// replicates with.
func NewCmdRegion(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("region", "Peer regions this region replicates with")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(regionAddCommand(f), regionListCommand(f))
	return cmd
}

func regionAddCommand(f *cmdutil.Factory) *cobra.Command {
	var name, endpoint, tokenFile string
	cmd := &cobra.Command{
		Use:   "add --name R --endpoint URL --token-file FILE",
		Short: "Register a peer region: its name, endpoint and an admin token of it",
		Long: "Register a peer region on this region's server. The token (an admin token of the peer, e.g. its\n" +
			"DATA/admin.token) is kept sealed in this region's vault and used for replication calls.\n" +
			"The peer must register this region too: a region refuses replication calls from regions it does not know.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the peer region's name")
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the peer region's URL")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding an admin token of the peer region")
	for _, flag := range []string{"name", "endpoint", "token-file"} {
		cmd.MarkFlagRequired(flag)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		b, err := os.ReadFile(f.Path(tokenFile))
		if err != nil {
			return err
		}
		svc, _, err := f.Client()
		if err != nil {
			return err
		}
		p, err := svc.AddRegion(cmd.Context(), name, endpoint, strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, p, cmdutil.Details{{"Region", p.Name}, {"Endpoint", p.Endpoint}, {"Added", cmdutil.FormatTime(p.CreatedAt)}})
	}
	return cmd
}

func regionListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the peer regions", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, _, err := f.Client()
		if err != nil {
			return err
		}
		list, err := svc.ListRegions(cmd.Context())
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"REGION", "ENDPOINT", "ADDED"}}
		for _, p := range list {
			t.Add(p.Name, p.Endpoint, cmdutil.FormatTime(p.CreatedAt))
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

// NewCmdPair returns the pair command group: pairs, their replication, failover
// and divergences.
func NewCmdPair(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("pair", "Pair workspaces across regions and watch their replication")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(pairCreateCommand(f), pairListCommand(f), pairShowCommand(f, "show"), pairShowCommand(f, "status"), pairDeleteCommand(f), pairConflictsCommand(f),
		pairFailoverCommand(f, false), pairFailoverCommand(f, true), pairHistoryCommand(f), pairDivergenceCommand(f))
	return cmd
}

func pairCreateCommand(f *cmdutil.Factory) *cobra.Command {
	var req tandem.PairRequest
	var tier string
	cmd := &cobra.Command{
		Use:   "create --workspace W --secondary-region R [--secondary-workspace W2] --tier hot-warm|hot-hot|hot-cold",
		Short: "Pair a workspace of this region (the primary) with a peer region (the secondary)",
		Long: "Pair a workspace with a peer region: the peer records its side and starts pulling the workspace's\n" +
			"change log and blobs into a workspace of the same name (or --secondary-workspace) with its own storage.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVar(&req.SecondaryRegion, "secondary-region", "", "the peer region that holds the secondary")
	cmd.Flags().StringVar(&req.SecondaryWorkspace, "secondary-workspace", "", "the secondary's name (default: the same name)")
	cmd.Flags().StringVar(&tier, "tier", "hot-warm", "hot-warm, hot-hot or hot-cold")
	cmd.Flags().DurationVar(&req.SnapshotInterval, "snapshot-interval", 15*time.Minute, "hot-cold: how often metadata snapshots are shipped")
	cmd.MarkFlagRequired("secondary-region")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		req.Workspace = ws
		req.Tier = tandem.Tier(tier)
		p, err := svc.CreatePair(cmd.Context(), req)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, p, pairDetails(p))
	}
	return cmd
}

func pairListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List this region's pairs", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, _, err := f.Client()
		if err != nil {
			return err
		}
		list, err := svc.ListPairs(cmd.Context())
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"WORKSPACE", "ROLE", "TIER", "EPOCH", "PEER REGION", "PEER WORKSPACE", "PRIMARY"}}
		for _, p := range list {
			t.Add(p.Workspace, string(p.Role), string(p.Tier), fmt.Sprint(p.Epoch), p.PeerRegion, p.PeerWorkspace, p.PrimaryRegion)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func pairShowCommand(f *cmdutil.Factory, verb string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " --workspace W",
		Short: "Show a pair: roles, epoch, tier, replication state and lag (entries, bytes, seconds)",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	var wait time.Duration
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the secondary to catch up, showing progress (e.g. --wait 10m)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		st, err := svc.PairStatus(cmd.Context(), ws)
		if err != nil {
			return err
		}
		if wait > 0 {
			if st, err = waitCaughtUp(cmd.Context(), f, svc, ws, st, wait); err != nil {
				return err
			}
		}
		d := pairDetails(&st.Pair)
		r := st.Replication
		state := r.State
		if r.Reason != "" {
			state += " (" + r.Reason + ")"
		}
		d = append(d,
			[2]string{"State", state},
			[2]string{"Applied seq", fmt.Sprintf("%d of %d", r.AppliedSeq, r.PrimarySeq)},
			[2]string{"Entries behind", fmt.Sprint(r.EntriesBehind)},
			[2]string{"Bytes behind", cmdutil.FormatSize(r.BytesBehind)},
			[2]string{"Lag (RPO)", fmt.Sprintf("%.1fs", r.LagSeconds)},
			[2]string{"Last applied", cmdutil.FormatTimePtr(r.LastAppliedAt)},
			[2]string{"Blobs copied", fmt.Sprintf("%d (%s), %d superseded", r.BlobsCopied, cmdutil.FormatSize(r.BytesCopied), r.SkippedBlobs)},
		)
		if st.Tier == tandem.TierHotCold {
			d = append(d, [2]string{"Last snapshot", cmdutil.FormatTimePtr(r.LastSnapshotAt)})
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, st, d)
	}
	return cmd
}

// waitCaughtUp polls a secondary's pair status until it has applied the
// primary's last entry, with a progress bar of entries applied.
func waitCaughtUp(ctx context.Context, f *cmdutil.Factory, svc tandem.PairService, ws string, st *tandem.PairStatus, wait time.Duration) (*tandem.PairStatus, error) {
	if st.Role == tandem.RolePrimary && st.Tier != tandem.TierHotHot {
		return st, nil // a primary is never behind itself
	}
	deadline := time.Now().Add(wait)
	start := st.Replication.AppliedSeq
	bar := f.Progress(max(st.Replication.PrimarySeq-start, 1), "catching up "+ws)
	defer bar.Finish()
	shown := int64(0)
	for {
		r := st.Replication
		if done := r.AppliedSeq - start; done > shown {
			bar.Skip(done - shown)
			shown = done
		}
		if r.EntriesBehind == 0 && r.AppliedSeq == r.PrimarySeq && r.State == "replicating" {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, tandem.Errorf(tandem.EUnavailable, "workspace %q is still %d entries (%s) behind after %s: %s %s",
				ws, r.EntriesBehind, cmdutil.FormatSize(r.BytesBehind), wait, r.State, r.Reason)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		var err error
		if st, err = svc.PairStatus(ctx, ws); err != nil {
			return nil, err
		}
	}
}

func pairDeleteCommand(f *cmdutil.Factory) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{Use: "delete --workspace W [--yes]", Short: "Unpair a workspace; both workspaces stay, each writable", Args: cobra.NoArgs}
	cmdutil.AddYesFlag(cmd, &yes)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		if err := f.Confirm(cmd.Context(), yes, fmt.Sprintf("unpair workspace %q", ws), fmt.Sprintf("Unpair workspace %q? Replication stops.", ws)); err != nil {
			return err
		}
		if err := svc.DeletePair(cmd.Context(), ws); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Workspace %q unpaired; both workspaces stay.\n", ws)
		return nil
	}
	return cmd
}

func pairConflictsCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conflicts --workspace W",
		Short: "List the losing writes of a hot/hot pair, kept in this region with their bodies and bytes",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListConflicts(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"DETECTED", "KIND", "NAME", "VERSION", "WINNER", "LOSER", "LOSER'S BYTES KEPT AT"}}
		for _, c := range list {
			t.Add(cmdutil.FormatTime(c.DetectedAt), string(c.Kind), c.Name, c.Version, c.Winner, c.Loser, c.LosingBlobs)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func pairDetails(p *tandem.Pair) cmdutil.Details {
	return cmdutil.Details{
		{"Workspace", p.Workspace},
		{"Region", p.Region},
		{"Role", string(p.Role)},
		{"Tier", string(p.Tier)},
		{"Epoch", fmt.Sprint(p.Epoch)},
		{"Peer", p.PeerRegion + " / " + p.PeerWorkspace},
		{"Primary", p.PrimaryRegion + " at " + p.PrimaryEndpoint},
		{"Created", cmdutil.FormatTime(p.CreatedAt)},
	}
}
