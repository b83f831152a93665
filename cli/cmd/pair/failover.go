package pair

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/httpapi"
)

func pairFailoverCommand(f *cmdutil.Factory, failback bool) *cobra.Command {
	var force, yes bool
	var timeout time.Duration
	use, short := "failover --workspace W [--force [--yes]]", "Move the primary role of a pair to the other region"
	if failback {
		use, short = "failback --workspace W", "Return the primary role to the region that held it when the pair was created"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: "A planned failover fences the primary (it stops taking writes), lets the secondary catch up to\n" +
			"the primary's last entry, promotes it at epoch+1 and demotes the old primary, which then replicates\n" +
			"from the new one: no acknowledged write is lost. It refuses when the primary cannot be reached.\n\n" +
			"--force promotes the secondary at once (epoch+1) and reports what it may lack; the old primary,\n" +
			"when back, demotes itself and sets its unreplicated writes aside as a divergence.\n\n" +
			"failback is a planned failover back to the original primary, refused until it has caught up.",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long a planned failover waits for the secondary to catch up")
	if !failback {
		cmd.Flags().BoolVar(&force, "force", false, "promote the secondary now, without the primary (possible loss, reported)")
		cmdutil.AddYesFlag(cmd, &yes)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		if force {
			if err := f.Confirm(cmd.Context(), yes, "force a failover", fmt.Sprintf("Promote the secondary of %q now? Writes it has not received are set aside.", ws)); err != nil {
				return err
			}
			// A forced failover runs on the secondary: find it among the
			// configured endpoints.
			if client, err = secondaryClient(f, cmd, client, ws); err != nil {
				return err
			}
		}
		f.Note("Failing over %q%s...", ws, map[bool]string{true: " (forced)", false: ""}[force])
		rec, err := client.Failover(cmd.Context(), ws, tandem.FailoverOptions{Force: force, Failback: failback, Timeout: timeout})
		if err != nil {
			return err
		}
		d := failoverDetails(rec)
		if err := cmdutil.WriteOutput(f.Env.Stdout, *out, rec, d); err != nil {
			return err
		}
		if rec.Kind == tandem.FailoverForced && rec.EntriesAtRisk > 0 {
			f.Note("Region %s may hold %d entries (%.1fs of writes) that %s never received; when it is back they are set aside as a divergence (tandem pair divergence list).",
				rec.FromRegion, rec.EntriesAtRisk, rec.SecondsAtRisk, rec.ToRegion)
		}
		return nil
	}
	return cmd
}

// secondaryClient returns a client for the endpoint that holds the
// secondary of ws.
func secondaryClient(f *cmdutil.Factory, cmd *cobra.Command, c *httpapi.Client, ws string) (*httpapi.Client, error) {
	var lastErr error
	for _, ep := range c.Endpoints {
		one := httpapi.NewClient([]string{ep}, c.Token)
		st, err := one.PairStatus(cmd.Context(), ws)
		if err != nil {
			lastErr = err
			continue
		}
		if st.Role == tandem.RoleSecondary {
			return one, nil
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("no configured endpoint answered as the secondary of %q: %w", ws, lastErr)
	}
	return nil, tandem.Errorf(tandem.EInvalid, "no configured endpoint holds the secondary of %q: list its endpoint with --endpoint or in config.json", ws)
}

func failoverDetails(r *tandem.FailoverRecord) cmdutil.Details {
	d := cmdutil.Details{
		{"Kind", r.Kind},
		{"Workspace", r.Workspace},
		{"From", r.FromRegion},
		{"To", r.ToRegion},
		{"Epoch", fmt.Sprintf("%d -> %d", r.OldEpoch, r.NewEpoch)},
		{"RTO", fmt.Sprintf("%.3fs", r.RTOSeconds)},
		{"Applied", fmt.Sprintf("%d of %d entries", r.AppliedSeq, r.PrimarySeq)},
	}
	if r.Kind == tandem.FailoverForced {
		d = append(d, [2]string{"At risk", fmt.Sprintf("%d entries, %.1fs (last applied %s)", r.EntriesAtRisk, r.SecondsAtRisk, cmdutil.FormatTimePtr(r.LastAppliedAt))})
	}
	return append(d, [2]string{"Completed", cmdutil.FormatTime(r.CompletedAt)})
}

func pairHistoryCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "history --workspace W", Short: "List a pair's failovers and failbacks with their RPO and RTO", Args: cobra.NoArgs}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := client.History(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"STARTED", "KIND", "FROM", "TO", "EPOCH", "RTO", "ENTRIES AT RISK", "SECONDS AT RISK"}}
		for _, r := range list {
			t.Add(cmdutil.FormatTime(r.StartedAt), r.Kind, r.FromRegion, r.ToRegion, fmt.Sprintf("%d->%d", r.OldEpoch, r.NewEpoch),
				fmt.Sprintf("%.3fs", r.RTOSeconds), fmt.Sprint(r.EntriesAtRisk), fmt.Sprintf("%.1f", r.SecondsAtRisk))
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), t)
	}
	return cmd
}

func pairDivergenceCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("divergence", "Writes an old primary held that its peer never received, set aside at demotion")
	cmd.AddCommand(divergenceListCommand(f), divergenceShowCommand(f), divergenceApplyCommand(f), divergenceDiscardCommand(f))
	return cmd
}

func divergenceListCommand(f *cmdutil.Factory) *cobra.Command {
	list := &cobra.Command{Use: "list --workspace W", Short: "List the divergences kept in this region", Args: cobra.NoArgs}
	listOut := cmdutil.AddOutputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		divs, err := client.ListDivergences(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"ID", "DETECTED", "EPOCH", "ENTRIES", "SEQS", "BYTES KEPT AT"}}
		for _, d := range divs {
			t.Add(d.ID, cmdutil.FormatTime(d.DetectedAt), fmt.Sprintf("%d (now %d)", d.Epoch, d.NewEpoch), fmt.Sprint(len(d.Changes)), fmt.Sprintf("%d-%d", d.FromSeq, d.ToSeq), d.BlobsFolder)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *listOut, cmdutil.NonNil(divs), t)
	}
	return list
}

func divergenceShowCommand(f *cmdutil.Factory) *cobra.Command {
	var id string
	show := &cobra.Command{Use: "show --workspace W --id D", Short: "Show a divergence's entries", Args: cobra.NoArgs}
	showOut := cmdutil.AddOutputFlag(show)
	show.Flags().StringVar(&id, "id", "", "divergence id")
	show.MarkFlagRequired("id")
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		d, err := client.FindDivergence(cmd.Context(), ws, id)
		if err != nil {
			return err
		}
		t := &cmdutil.Table{Header: []string{"SEQ", "TIME", "OP", "KIND", "NAME", "VERSION"}}
		for _, c := range d.Changes {
			t.Add(fmt.Sprint(c.Seq), cmdutil.FormatTime(c.Time), string(c.Op), string(c.Kind), c.Name, c.Version)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *showOut, d, t)
	}
	return show
}

func divergenceApplyCommand(f *cmdutil.Factory) *cobra.Command {
	var id string
	var seqs []int64
	apply := &cobra.Command{
		Use:   "apply --workspace W --id D [--seq N ...]",
		Short: "Write the set-aside entries (all, or the --seq ones) again in the current primary, as new writes",
		Args:  cobra.NoArgs,
	}
	applyOut := cmdutil.AddOutputFlag(apply)
	apply.Flags().StringVar(&id, "id", "", "divergence id")
	apply.Flags().Int64SliceVar(&seqs, "seq", nil, "entries to apply (default: all not yet applied)")
	apply.MarkFlagRequired("id")
	apply.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		d, err := client.ApplyDivergence(cmd.Context(), ws, id, seqs)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *applyOut, d, cmdutil.Details{{"Divergence", d.ID}, {"Applied", fmt.Sprintf("%d of %d entries", len(d.Applied), len(d.Changes))}})
	}
	return apply
}

func divergenceDiscardCommand(f *cmdutil.Factory) *cobra.Command {
	var id string
	var yes bool
	discard := &cobra.Command{Use: "discard --workspace W --id D --yes", Short: "Delete a divergence and the bytes it kept", Args: cobra.NoArgs}
	discard.Flags().StringVar(&id, "id", "", "divergence id")
	discard.MarkFlagRequired("id")
	cmdutil.AddYesFlag(discard, &yes)
	discard.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		if err := f.Confirm(cmd.Context(), yes, "discard a divergence", fmt.Sprintf("Delete divergence %s of %q and its kept bytes for good?", id, ws)); err != nil {
			return err
		}
		if err := client.DiscardDivergence(cmd.Context(), ws, id); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Divergence %s discarded.\n", id)
		return nil
	}
	return discard
}
