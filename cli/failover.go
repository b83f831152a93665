package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

func (a *app) pairFailoverCommand(failback bool) *cobra.Command {
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
	out := addOutputFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long a planned failover waits for the secondary to catch up")
	if !failback {
		cmd.Flags().BoolVar(&force, "force", false, "promote the secondary now, without the primary (possible loss, reported)")
		addYesFlag(cmd, &yes)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		if force {
			if err := a.confirm(cmd.Context(), yes, "force a failover", fmt.Sprintf("Promote the secondary of %q now? Writes it has not received are set aside.", ws)); err != nil {
				return err
			}
			// A forced failover runs on the secondary: find it among the
			// configured endpoints.
			if client, err = a.secondaryClient(cmd, client, ws); err != nil {
				return err
			}
		}
		a.note("Failing over %q%s...", ws, map[bool]string{true: " (forced)", false: ""}[force])
		rec, err := client.Failover(cmd.Context(), ws, tandem.FailoverOptions{Force: force, Failback: failback, Timeout: timeout})
		if err != nil {
			return err
		}
		d := failoverDetails(rec)
		if err := writeOutput(a.env.Stdout, *out, rec, d); err != nil {
			return err
		}
		if rec.Kind == tandem.FailoverForced && rec.EntriesAtRisk > 0 {
			a.note("Region %s may hold %d entries (%.1fs of writes) that %s never received; when it is back they are set aside as a divergence (tandem pair divergence list).",
				rec.FromRegion, rec.EntriesAtRisk, rec.SecondsAtRisk, rec.ToRegion)
		}
		return nil
	}
	return cmd
}

// secondaryClient returns a client for the endpoint that holds the
// secondary of ws.
func (a *app) secondaryClient(cmd *cobra.Command, c *httpapi.Client, ws string) (*httpapi.Client, error) {
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

func failoverDetails(r *tandem.FailoverRecord) details {
	d := details{
		{"Kind", r.Kind},
		{"Workspace", r.Workspace},
		{"From", r.FromRegion},
		{"To", r.ToRegion},
		{"Epoch", fmt.Sprintf("%d -> %d", r.OldEpoch, r.NewEpoch)},
		{"RTO", fmt.Sprintf("%.3fs", r.RTOSeconds)},
		{"Applied", fmt.Sprintf("%d of %d entries", r.AppliedSeq, r.PrimarySeq)},
	}
	if r.Kind == tandem.FailoverForced {
		d = append(d, [2]string{"At risk", fmt.Sprintf("%d entries, %.1fs (last applied %s)", r.EntriesAtRisk, r.SecondsAtRisk, formatTimePtr(r.LastAppliedAt))})
	}
	return append(d, [2]string{"Completed", formatTime(r.CompletedAt)})
}

func (a *app) pairHistoryCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "history --workspace W", Short: "List a pair's failovers and failbacks with their RPO and RTO", Args: cobra.NoArgs}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		list, err := client.History(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &table{header: []string{"STARTED", "KIND", "FROM", "TO", "EPOCH", "RTO", "ENTRIES AT RISK", "SECONDS AT RISK"}}
		for _, r := range list {
			t.add(formatTime(r.StartedAt), r.Kind, r.FromRegion, r.ToRegion, fmt.Sprintf("%d->%d", r.OldEpoch, r.NewEpoch),
				fmt.Sprintf("%.3fs", r.RTOSeconds), fmt.Sprint(r.EntriesAtRisk), fmt.Sprintf("%.1f", r.SecondsAtRisk))
		}
		return writeOutput(a.env.Stdout, *out, nonNil(list), t)
	}
	return cmd
}

func (a *app) pairDivergenceCommand() *cobra.Command {
	cmd := groupCommand("divergence", "Writes an old primary held that its peer never received, set aside at demotion")
	var id string
	var yes bool
	list := &cobra.Command{Use: "list --workspace W", Short: "List the divergences kept in this region", Args: cobra.NoArgs}
	listOut := addOutputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		divs, err := client.ListDivergences(cmd.Context(), ws)
		if err != nil {
			return err
		}
		t := &table{header: []string{"ID", "DETECTED", "EPOCH", "ENTRIES", "SEQS", "BYTES KEPT AT"}}
		for _, d := range divs {
			t.add(d.ID, formatTime(d.DetectedAt), fmt.Sprintf("%d (now %d)", d.Epoch, d.NewEpoch), fmt.Sprint(len(d.Changes)), fmt.Sprintf("%d-%d", d.FromSeq, d.ToSeq), d.BlobsFolder)
		}
		return writeOutput(a.env.Stdout, *listOut, nonNil(divs), t)
	}
	show := &cobra.Command{Use: "show --workspace W --id D", Short: "Show a divergence's entries", Args: cobra.NoArgs}
	showOut := addOutputFlag(show)
	show.Flags().StringVar(&id, "id", "", "divergence id")
	show.MarkFlagRequired("id")
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		d, err := client.FindDivergence(cmd.Context(), ws, id)
		if err != nil {
			return err
		}
		t := &table{header: []string{"SEQ", "TIME", "OP", "KIND", "NAME", "VERSION"}}
		for _, c := range d.Changes {
			t.add(fmt.Sprint(c.Seq), formatTime(c.Time), string(c.Op), string(c.Kind), c.Name, c.Version)
		}
		return writeOutput(a.env.Stdout, *showOut, d, t)
	}
	discard := &cobra.Command{Use: "discard --workspace W --id D --yes", Short: "Delete a divergence and the bytes it kept", Args: cobra.NoArgs}
	discard.Flags().StringVar(&id, "id", "", "divergence id")
	discard.MarkFlagRequired("id")
	addYesFlag(discard, &yes)
	discard.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		if err := a.confirm(cmd.Context(), yes, "discard a divergence", fmt.Sprintf("Delete divergence %s of %q and its kept bytes for good?", id, ws)); err != nil {
			return err
		}
		if err := client.DiscardDivergence(cmd.Context(), ws, id); err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "Divergence %s discarded.\n", id)
		return nil
	}
	var seqs []int64
	apply := &cobra.Command{
		Use:   "apply --workspace W --id D [--seq N ...]",
		Short: "Write the set-aside entries (all, or the --seq ones) again in the current primary, as new writes",
		Args:  cobra.NoArgs,
	}
	applyOut := addOutputFlag(apply)
	apply.Flags().StringVar(&id, "id", "", "divergence id")
	apply.Flags().Int64SliceVar(&seqs, "seq", nil, "entries to apply (default: all not yet applied)")
	apply.MarkFlagRequired("id")
	apply.RunE = func(cmd *cobra.Command, _ []string) error {
		client, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		d, err := client.ApplyDivergence(cmd.Context(), ws, id, seqs)
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *applyOut, d, details{{"Divergence", d.ID}, {"Applied", fmt.Sprintf("%d of %d entries", len(d.Applied), len(d.Changes))}})
	}
	cmd.AddCommand(list, show, apply, discard)
	return cmd
}
