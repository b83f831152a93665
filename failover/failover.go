package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

const historyKeyPrefix = "history/" // history/<workspace-id>/<time> → FailoverRecord

// Failover moves a pair's primary role to the other region. The secondary
// coordinates: a request that reaches the primary is forwarded to it.
//
// Planned: the primary is fenced (takes no more writes) and reports its
// last seq; the secondary catches up to exactly that entry; the secondary
// is promoted at epoch+1 and the old primary demoted, its replicator then
// pulling from the new primary where the mirrored logs meet. No
// acknowledged write is lost. If the primary cannot be reached, it refuses
// and says to use Force.
//
// Forced: the secondary is promoted at once at epoch+1; what it may lack
// is recorded (entries and seconds at risk). The old primary learns the
// higher epoch when it is reachable again and sets its unreplicated
// entries aside as a divergence.
func (r *Service) Failover(ctx context.Context, workspace string, opts tandem.FailoverOptions) (*tandem.FailoverRecord, error) {
	if err := region.RequireAdmin(ctx, "failing over a pair"); err != nil {
		return nil, err
	}
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if p.Tier == tandem.TierHotHot {
		return nil, tandem.Errorf(tandem.EInvalid, "workspace %q is paired hot/hot: both regions already take writes; there is no primary to move", workspace)
	}
	if opts.Failback && p.OriginalPrimary == p.PrimaryRegion {
		return nil, tandem.Errorf(tandem.EConflict, "region %q, the original primary of %q, is already its primary: nothing to fail back", p.PrimaryRegion, workspace)
	}
	if p.Role == tandem.RolePrimary {
		client, _, err := r.DialPeer(ctx, p.PeerRegion)
		if err != nil {
			return nil, err
		}
		if opts.Force {
			return nil, tandem.Errorf(tandem.EInvalid,
				"region %q holds the primary of %q; a forced failover promotes the secondary: send it to region %q", r.Name, workspace, p.PeerRegion)
		}
		rec, err := client.ForwardFailover(ctx, p.WorkspaceID, opts)
		if err != nil {
			return nil, fmt.Errorf("region %q (the secondary) could not run the failover: %w", p.PeerRegion, err)
		}
		return rec, nil
	}
	return r.failoverHere(ctx, p, opts)
}

// ForwardedFailover runs a failover a peer (the primary) forwarded here.
func (r *Service) ForwardedFailover(ctx context.Context, from, workspaceID string, opts tandem.FailoverOptions) (*tandem.FailoverRecord, error) {
	p, err := r.ReplicaPair(ctx, from, workspaceID)
	if err != nil {
		return nil, err
	}
	if p.Role != tandem.RoleSecondary {
		return nil, tandem.Errorf(tandem.EConflict, "region %q holds the primary of %q too: run `tandem pair status` on both regions", r.Name, p.Workspace)
	}
	return r.failoverHere(ctx, p, opts)
}

// failoverHere promotes this region's side (the secondary) of p.
func (r *Service) failoverHere(ctx context.Context, p *tandem.Pair, opts tandem.FailoverOptions) (*tandem.FailoverRecord, error) {
	start := r.Now().UTC()
	kind := tandem.FailoverPlanned
	switch {
	case opts.Force:
		kind = tandem.FailoverForced
	case opts.Failback:
		kind = tandem.FailoverFailback
	}
	rec := &tandem.FailoverRecord{
		Kind: kind, Workspace: p.Workspace, FromRegion: p.PrimaryRegion, ToRegion: r.Name,
		OldEpoch: p.Epoch, NewEpoch: p.Epoch + 1, StartedAt: start,
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	st := tandem.ReplicationStatus{}
	if r.ReplicationStatus != nil {
		st = r.ReplicationStatus(p.WorkspaceID)
	}
	client, _, err := r.DialPeer(ctx, p.PeerRegion)
	if err != nil {
		return nil, err
	}
	if opts.Failback && !opts.Force {
		if err := r.checkCaughtUp(ctx, client, p, st); err != nil {
			return nil, err
		}
	}
	if !opts.Force {
		if err := r.fenceAndCatchUp(ctx, client, p, opts.Timeout, rec); err != nil {
			return nil, err
		}
	} else {
		rec.PrimarySeq = st.PrimarySeq
		rec.LastAppliedAt = st.LastAppliedAt
	}

	// No batch from the old primary may land once we take writes.
	if r.StopReplication != nil {
		r.StopReplication(p.WorkspaceID)
	}
	if err := r.promote(ctx, p, rec); err != nil {
		return nil, err
	}
	rec.CompletedAt = r.Now().UTC()
	rec.RTOSeconds = rec.CompletedAt.Sub(start).Seconds()
	if opts.Force {
		rec.EntriesAtRisk = max(rec.PrimarySeq-rec.AppliedSeq, 0)
		if rec.LastAppliedAt != nil && rec.EntriesAtRisk > 0 {
			rec.SecondsAtRisk = rec.CompletedAt.Sub(*rec.LastAppliedAt).Seconds()
		}
	}
	r.Logger.Info("failover: promoted", "workspace", p.Workspace, "kind", kind, "epoch", rec.NewEpoch, "rto_seconds", rec.RTOSeconds)
	// Jobs that were running in the old primary: Interrupted, and
	// resubmitted where they ask for it. After the promotion, not in its
	// way; StartJobs runs the same pass again if this process dies first.
	go r.promoted(context.WithoutCancel(ctx), p.WorkspaceID)

	r.announcePromotion(ctx, client, p, opts.Force)
	if err := r.recordHistory(ctx, p.WorkspaceID, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkCaughtUp refuses a failback while the reverse replication lags:
// it compares this region's log of p's workspace with the primary's now.
func (r *Service) checkCaughtUp(ctx context.Context, client tandem.PeerClient, p *tandem.Pair, st tandem.ReplicationStatus) error {
	var applied int64
	if err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		applied, err = tx.LastChangeSeq(ctx, p.WorkspaceID)
		return err
	}); err != nil {
		return err
	}
	batch, err := client.Changes(ctx, p.WorkspaceID, applied, 1, 0)
	if err != nil {
		return fmt.Errorf("failback: ask region %q how far it is: %w", p.PeerRegion, err)
	}
	if behind := batch.LastSeq - applied; behind > 0 {
		lag := 0.0
		if len(batch.Changes) > 0 {
			lag = r.Now().Sub(batch.Changes[0].Time).Seconds()
		}
		return tandem.Errorf(tandem.EConflict,
			"failback refused: region %q is %d entries (%.1fs, %s bytes in flight) behind region %q; wait until `tandem pair status` shows it caught up",
			r.Name, behind, lag, fmt.Sprint(st.BytesBehind), p.PrimaryRegion)
	}
	return nil
}

// fenceAndCatchUp, for a planned failover, fences the primary, records
// its last seq in rec, and waits up to timeout until this region has
// applied it; when it cannot, it unfences the primary again.
func (r *Service) fenceAndCatchUp(ctx context.Context, client tandem.PeerClient, p *tandem.Pair, timeout time.Duration, rec *tandem.FailoverRecord) error {
	fence, err := client.Fence(ctx, p.WorkspaceID, true)
	if err != nil {
		return tandem.Errorf(tandem.EUnavailable,
			"the primary region %q cannot be reached (%v): no planned failover without it; to promote region %q anyway, accepting possible loss, use --force",
			p.PeerRegion, tandem.ErrorMessage(err), r.Name)
	}
	rec.PrimarySeq = fence.LastSeq
	r.Logger.Info("failover: primary fenced", "workspace", p.Workspace, "primary_last_seq", fence.LastSeq)
	if err := r.waitApplied(ctx, p.WorkspaceID, fence.LastSeq, timeout); err != nil {
		if _, uerr := client.Fence(context.WithoutCancel(ctx), p.WorkspaceID, false); uerr != nil {
			r.Logger.Error("failover abandoned but the primary is still fenced", "workspace", p.Workspace, "err", uerr)
		}
		return fmt.Errorf("failover abandoned, the primary takes writes again: %w", err)
	}
	return nil
}

// promote makes this region p's primary at rec.NewEpoch in one commit,
// from which on it takes writes, and records in rec the last seq it had
// applied. It updates p to the pair as committed.
func (r *Service) promote(ctx context.Context, p *tandem.Pair, rec *tandem.FailoverRecord) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		cur, err := tandem.FindPair(ctx, tx, p.WorkspaceID)
		if err != nil {
			return err
		}
		if cur == nil || cur.Epoch != p.Epoch || cur.Role != tandem.RoleSecondary {
			return tandem.Errorf(tandem.EConflict, "the pair of %q changed during the failover; check `tandem pair status`", p.Workspace)
		}
		if rec.AppliedSeq, err = tx.LastChangeSeq(ctx, p.WorkspaceID); err != nil {
			return err
		}
		cur.Role, cur.Epoch, cur.Fenced = tandem.RolePrimary, rec.NewEpoch, false
		cur.PrimaryRegion, cur.PrimaryEndpoint, cur.PromotedAtSeq = r.Name, r.Endpoint, rec.AppliedSeq
		*p = *cur
		return tandem.PutPair(ctx, tx, cur)
	})
}

// announcePromotion tells the old primary the new epoch (p as promoted).
// After a forced failover it may be gone: the epoch announcer keeps
// telling it until it hears.
func (r *Service) announcePromotion(ctx context.Context, client tandem.PeerClient, p *tandem.Pair, force bool) {
	notice := tandem.EpochNotice{Epoch: p.Epoch, PrimaryRegion: r.Name, PrimaryEndpoint: r.Endpoint, PromotedAtSeq: p.PromotedAtSeq}
	if err := client.NoticeEpoch(ctx, p.WorkspaceID, notice); err != nil {
		if !force {
			r.Logger.Warn("failover: the old primary did not take the new epoch yet; it will be told again", "err", err)
		}
		return
	}
	r.noticed(ctx, p.WorkspaceID, p.Epoch)
}

// waitApplied waits until this region has applied seq of a workspace.
func (r *Service) waitApplied(ctx context.Context, wsID string, seq int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var last int64
		err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			last, err = tx.LastChangeSeq(ctx, wsID)
			return err
		})
		if err != nil {
			return err
		}
		if last >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return tandem.Errorf(tandem.EUnavailable, "caught up to entry %d of %d in %s; giving up", last, seq, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Fence stops (or resumes) writes on this region's primary side of a pair
// for a planned failover and returns its last seq. Writers are serialized,
// so every write either committed before the fence (and is counted in the
// seq returned) or is refused after it.
func (r *Service) Fence(ctx context.Context, from, workspaceID string, fenced bool) (*tandem.FenceResult, error) {
	if _, err := r.ReplicaPair(ctx, from, workspaceID); err != nil {
		return nil, err
	}
	var res tandem.FenceResult
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		p, err := tandem.FindPair(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		if p.Role != tandem.RolePrimary {
			return tandem.Errorf(tandem.EConflict, "region %q is not the primary of %q", r.Name, p.Workspace)
		}
		p.Fenced = fenced
		if res.LastSeq, err = tx.LastChangeSeq(ctx, workspaceID); err != nil {
			return err
		}
		res.Epoch = p.Epoch
		return tandem.PutPair(ctx, tx, p)
	})
	if err == nil {
		r.Logger.Info("pair fenced for failover", "workspace", workspaceID, "fenced", fenced, "last_seq", res.LastSeq)
	}
	return &res, err
}

func (r *Service) recordHistory(ctx context.Context, wsID string, rec *tandem.FailoverRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		return tx.PutSetting(ctx, historyKeyPrefix+wsID+"/"+rec.StartedAt.Format("20060102T150405.000000000Z"), b)
	})
}

// History lists a pair's failovers and failbacks, oldest first.
func (r *Service) History(ctx context.Context, workspace string) ([]*tandem.FailoverRecord, error) {
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	var out []*tandem.FailoverRecord
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListSettings(ctx, historyKeyPrefix+p.WorkspaceID+"/")
		for _, s := range list {
			var rec tandem.FailoverRecord
			if err := json.Unmarshal(s.Value, &rec); err != nil {
				return err
			}
			out = append(out, &rec)
		}
		return err
	})
	return out, err
}
