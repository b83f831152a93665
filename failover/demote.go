package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
)

const divergenceKeyPrefix = "divergence/" // divergence/<workspace-id>/<id> → Divergence

// NoticeEpoch is how a region learns that its peer holds the primary role
// at a higher epoch. A primary (or fenced primary) at a lower epoch stops
// taking writes at once and becomes the secondary; entries it has beyond
// the new primary's promotion point are set aside as a divergence, the
// rows they wrote reverted, so that its log mirrors the new primary's
// again and replication resumes from there.
func (r *Service) NoticeEpoch(ctx context.Context, from, workspaceID string, n tandem.EpochNotice) error {
	p, err := r.ReplicaPair(ctx, from, workspaceID)
	if err != nil {
		return err
	}
	if n.Epoch <= p.Epoch {
		return nil // already known, or stale
	}
	if n.PrimaryRegion != from {
		return tandem.Errorf(tandem.EInvalid, "epoch notice from %q names %q as the primary", from, n.PrimaryRegion)
	}
	// One demotion at a time per workspace, and it runs to the end even if
	// the peer that told us stops waiting: a half-done demotion would
	// leave the workspace fenced with nothing set aside.
	ctx = context.WithoutCancel(ctx)
	unlock := r.LockAsset("", "demote", workspaceID)
	defer unlock()
	if p, err = r.ReplicaPair(ctx, from, workspaceID); err != nil || n.Epoch <= p.Epoch {
		return err
	}
	r.Logger.Warn("higher epoch learned: demoting to secondary", "workspace", p.Workspace, "epoch", p.Epoch, "new_epoch", n.Epoch, "new_primary", from)

	// First stop writes: demote at once, then set aside what diverged.
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		cur, err := tandem.FindPair(ctx, tx, workspaceID)
		if err != nil || cur == nil {
			return err
		}
		// Fenced: no more writes. The role changes with the set-aside, so
		// that no replicator starts pulling before the logs meet again.
		cur.Fenced = true
		return tandem.PutPair(ctx, tx, cur)
	})
	if err != nil {
		return err
	}
	// Its local runs of the workspace stop now, unrecorded: the new
	// primary marks them Interrupted.
	r.demoted(workspaceID, p.Epoch)
	if err := r.setAside(ctx, p, n); err != nil {
		return fmt.Errorf("set aside the divergent writes of %q: %w", p.Workspace, err)
	}
	return nil
}

// setAside moves this region's entries after n.PromotedAtSeq into a
// divergence, reverts their rows to their state at that seq, and records
// the new epoch and primary, in one transaction.
func (r *Service) setAside(ctx context.Context, p *tandem.Pair, n tandem.EpochNotice) error {
	var last int64
	var diverged, history []*tandem.Change
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if last, err = tx.LastChangeSeq(ctx, p.WorkspaceID); err != nil || last <= n.PromotedAtSeq {
			return err
		}
		if diverged, err = region.ChangesBetween(ctx, tx, p.WorkspaceID, n.PromotedAtSeq, last); err != nil {
			return err
		}
		history, err = region.ChangesBetween(ctx, tx, p.WorkspaceID, 0, n.PromotedAtSeq)
		return err
	})
	if err != nil {
		return err
	}
	var div *tandem.Divergence
	reverts := map[string]*tandem.Change{} // resource key → its state at PromotedAtSeq (nil: absent)
	if len(diverged) > 0 {
		div = &tandem.Divergence{
			ID: uuid.NewString(), Workspace: p.Workspace, WorkspaceID: p.WorkspaceID, Region: r.Name,
			Epoch: p.Epoch, NewEpoch: n.Epoch, FromSeq: diverged[0].Seq, ToSeq: last, Changes: diverged,
			DetectedAt: r.Timestamp(),
		}
		div.BlobsFolder = tandem.StoragePrefix(p.WorkspaceID) + "divergence/" + div.ID + "/"
		for _, c := range diverged {
			reverts[changeKey(c)] = nil
		}
		for _, c := range history {
			if _, touched := reverts[changeKey(c)]; touched {
				reverts[changeKey(c)] = c
			}
		}
		// Keep the divergent bytes, then put back the bytes of reverted
		// versions from the new primary (which has them, unless it has
		// replaced them since, in which case a later entry brings them).
		if err := r.keepDivergentBlobs(ctx, diverged, div.BlobsFolder); err != nil {
			return err
		}
		if err := r.restoreRevertedBlobs(ctx, p, reverts); err != nil {
			return err
		}
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		cur, err := tandem.FindPair(ctx, tx, p.WorkspaceID)
		if err != nil || cur == nil {
			return err
		}
		if div != nil {
			for key, prior := range reverts {
				if err := revertRow(ctx, tx, p, r.Name, key, prior); err != nil {
					return err
				}
			}
			if err := tx.TruncateChanges(ctx, p.WorkspaceID, n.PromotedAtSeq); err != nil {
				return err
			}
			b, err := json.Marshal(div)
			if err != nil {
				return err
			}
			if err := tx.PutSetting(ctx, divergenceKeyPrefix+p.WorkspaceID+"/"+div.ID, b); err != nil {
				return err
			}
		}
		cur.Role, cur.Fenced, cur.Epoch = tandem.RoleSecondary, false, n.Epoch
		cur.PrimaryRegion, cur.PrimaryEndpoint, cur.PromotedAtSeq = n.PrimaryRegion, n.PrimaryEndpoint, 0
		return tandem.PutPair(ctx, tx, cur)
	})
	if err == nil && div != nil {
		// Bytes written in the divergence for rows that no longer exist
		// here are kept in the divergence folder only.
		for _, c := range diverged {
			if prior, ok := reverts[changeKey(c)]; !ok || prior != nil {
				continue
			}
			if res, _ := replication.DecodeResource(c); res != nil {
				for _, b := range res.Blobs {
					if derr := r.Blobs.Delete(ctx, b.Key); derr != nil {
						r.Logger.Warn("remove a set-aside blob from its key", "key", b.Key, "err", derr)
					}
				}
			}
		}
		r.Logger.Warn("divergent writes set aside", "workspace", p.Workspace, "divergence", div.ID, "entries", len(div.Changes), "from_seq", div.FromSeq, "to_seq", div.ToSeq)
	}
	return err
}

// changeKey names the row an entry writes.
func changeKey(c *tandem.Change) string {
	return string(c.Kind) + "\x00" + c.Name + "\x00" + c.Version
}

// revertRow puts back the row that prior (an entry at or before the
// promotion point) describes, or removes a row created in the divergence.
func revertRow(ctx context.Context, tx tandem.Tx, p *tandem.Pair, region, key string, prior *tandem.Change) error {
	if prior != nil {
		return replication.ApplyRows(ctx, tx, p, region, prior)
	}
	parts := strings.SplitN(key, "\x00", 3)
	kind, name, version := tandem.Kind(parts[0]), parts[1], parts[2]
	switch kind {
	case tandem.KindWorkspace:
		return nil // the workspace existed before the pair did
	case tandem.KindToken:
		found, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: name})
		for _, t := range found {
			if err == nil {
				err = tx.DeleteToken(ctx, t.ID)
			}
		}
		return err
	}
	err := tx.DeleteResource(ctx, tandem.ResourceKey{WorkspaceID: p.WorkspaceID, Kind: kind, Name: name, Version: version})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil
	}
	return err
}

func (r *Service) keepDivergentBlobs(ctx context.Context, changes []*tandem.Change, folder string) error {
	for _, c := range changes {
		res, err := replication.DecodeResource(c)
		if err != nil || res == nil {
			continue
		}
		for _, b := range res.Blobs {
			_, err := tandem.CopyBlob(ctx, r.Blobs, folder+strings.TrimPrefix(b.Key, tandem.StoragePrefix(c.WorkspaceID)), r.Blobs, b)
			if tandem.IsCode(err, tandem.ENotFound) {
				continue // replaced by a later divergent write, which is kept too
			}
			if err != nil && !tandem.IsCode(err, tandem.ECorrupt) {
				return err
			}
		}
	}
	return nil
}

func (r *Service) restoreRevertedBlobs(ctx context.Context, p *tandem.Pair, reverts map[string]*tandem.Change) error {
	client, _, err := r.DialPeer(ctx, p.PeerRegion)
	if err != nil {
		return err
	}
	for _, prior := range reverts {
		if prior == nil {
			continue // created in the divergence: nothing to put back
		}
		res, err := replication.DecodeResource(prior)
		if err != nil || res == nil {
			continue
		}
		for _, b := range res.Blobs {
			if cur, err := r.Blobs.Stat(ctx, b.Key); err == nil && cur.SHA256 == b.SHA256 {
				continue
			}
			rc, err := client.OpenBlob(ctx, p.WorkspaceID, b.Key, b.SHA256)
			if err != nil {
				continue // superseded there: a later entry brings the current bytes
			}
			_, err = tandem.CopyBlob(ctx, r.Blobs, b.Key, tandem.ReaderSource(rc), b)
			rc.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// RunEpochAnnouncer tells, every interval, the peer of each pair this
// region was promoted in that it holds the primary role at its epoch, so
// that an old primary that was unreachable at failover demotes itself as
// soon as it is back.
func (r *Service) RunEpochAnnouncer(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.CheckEpochs(ctx, interval)
		pairs, err := r.ListPairs(ctx)
		if err != nil {
			continue
		}
		for _, p := range pairs {
			if p.Role != tandem.RolePrimary || p.PromotedAtSeq == 0 || p.Tier == tandem.TierHotHot || p.NoticedEpoch == p.Epoch {
				continue
			}
			client, _, err := r.DialPeer(ctx, p.PeerRegion)
			if err != nil {
				continue
			}
			// Demotion may take a while on a busy old primary: give it time.
			nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = client.NoticeEpoch(nctx, p.WorkspaceID, tandem.EpochNotice{
				Epoch: p.Epoch, PrimaryRegion: r.Name, PrimaryEndpoint: r.Endpoint, PromotedAtSeq: p.PromotedAtSeq,
			})
			cancel()
			if err != nil {
				if !tandem.IsCode(err, tandem.EUnavailable) {
					r.Logger.Warn("the old primary did not take the new epoch", "workspace", p.Workspace, "peer", p.PeerRegion, "err", err)
				}
				continue
			}
			r.noticed(ctx, p.WorkspaceID, p.Epoch)
		}
	}
}

// PeerPair returns this region's side of a pair, for its peer.
func (r *Service) PeerPair(ctx context.Context, from, workspaceID string) (*tandem.Pair, error) {
	return r.ReplicaPair(ctx, from, workspaceID)
}

// CheckEpochs asks the peer of every pair this region holds the primary of
// whether it has moved to a higher epoch (a forced failover while this
// region was down or cut off) and, if so, demotes this side at once. A
// server runs it before it serves, and then every interval, so that a
// returning old primary does not take writes it would have to set aside.
func (r *Service) CheckEpochs(ctx context.Context, timeout time.Duration) {
	pairs, err := r.ListPairs(ctx)
	if err != nil {
		return
	}
	for _, p := range pairs {
		if p.Role != tandem.RolePrimary || p.Tier == tandem.TierHotHot {
			continue
		}
		client, _, err := r.DialPeer(ctx, p.PeerRegion)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		peer, err := client.PeerPair(cctx, p.WorkspaceID)
		cancel()
		if err != nil || peer.Role != tandem.RolePrimary || peer.Epoch <= p.Epoch {
			continue
		}
		n := tandem.EpochNotice{Epoch: peer.Epoch, PrimaryRegion: p.PeerRegion, PrimaryEndpoint: peer.PrimaryEndpoint, PromotedAtSeq: peer.PromotedAtSeq}
		if err := r.NoticeEpoch(ctx, p.PeerRegion, p.WorkspaceID, n); err != nil {
			r.Logger.Error("demote after learning a higher epoch", "workspace", p.Workspace, "err", err)
		}
	}
}

// noticed records that the peer has acknowledged epoch.
func (r *Service) noticed(ctx context.Context, wsID string, epoch int64) {
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		cur, err := tandem.FindPair(ctx, tx, wsID)
		if err != nil || cur == nil || cur.Epoch != epoch {
			return err
		}
		cur.NoticedEpoch = epoch
		return tandem.PutPair(ctx, tx, cur)
	})
	if err != nil {
		r.Logger.Warn("record the peer's acknowledgement of the epoch", "err", err)
	}
}

// ListDivergences returns the divergences kept here, oldest first.
func (r *Service) ListDivergences(ctx context.Context, workspace string) ([]*tandem.Divergence, error) {
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	var out []*tandem.Divergence
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListSettings(ctx, divergenceKeyPrefix+p.WorkspaceID+"/")
		for _, s := range list {
			var d tandem.Divergence
			if err := json.Unmarshal(s.Value, &d); err != nil {
				return err
			}
			out = append(out, &d)
		}
		return err
	})
	return out, err
}

// FindDivergence returns one divergence with its entries.
func (r *Service) FindDivergence(ctx context.Context, workspace, id string) (*tandem.Divergence, error) {
	list, err := r.ListDivergences(ctx, workspace)
	if err != nil {
		return nil, err
	}
	for _, d := range list {
		if d.ID == id {
			return d, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENotFound, "divergence %q not found for workspace %q in region %q", id, workspace, r.Name).WithTarget(id)
}

// DiscardDivergence deletes a divergence and the bytes it kept.
func (r *Service) DiscardDivergence(ctx context.Context, workspace, id string) error {
	if err := region.RequireAdmin(ctx, "discarding a divergence"); err != nil {
		return err
	}
	d, err := r.FindDivergence(ctx, workspace, id)
	if err != nil {
		return err
	}
	if _, err := r.Blobs.DeletePrefix(ctx, d.BlobsFolder); err != nil {
		return err
	}
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		return tx.DeleteSetting(ctx, divergenceKeyPrefix+d.WorkspaceID+"/"+d.ID)
	})
}
