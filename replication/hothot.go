package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
)

// In hot/hot both workspaces take writes and each pulls the other's. Each
// region's log holds its own writes and the peer's, applied as new local
// entries that keep their origin, time and base; the feed never sends a
// region its own entries back. The checkpoint is the last peer seq looked
// at (hh/<workspace-id>), advanced in the transaction that applies the
// entry.
//
// A write of a resource whose Base is not the version this region last
// recorded, and that comes from another origin than that version, raced
// with a write here: a conflict. Both regions keep the winner
// (tandem.WriteVersion.Beats) and record the loser, with its body, as a
// tandem.Conflict; a loser's blobs are copied aside under
// workspaces/<id>/conflicts/<conflict-id>/ before anything overwrites them.

func checkpointKey(wsID string) string { return "hh/" + wsID }

var errRaced = errors.New("a local write raced with the replicated one; retrying")

func (r *replicator) stepHotHot(ctx context.Context) error {
	client, err := r.m.client(ctx, r.pair.PeerRegion)
	if err != nil {
		return err
	}
	var after int64
	err = r.m.Store.View(ctx, func(tx tandem.Tx) error {
		b, err := tx.GetSetting(ctx, checkpointKey(r.pair.WorkspaceID))
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		} else if err != nil {
			return err
		}
		after, err = strconv.ParseInt(string(b), 10, 64)
		return err
	})
	if err != nil {
		return err
	}
	batch, err := client.ChangesInline(ctx, r.pair.WorkspaceID, after, batchSize, longPoll,
		tandem.InlineLimits{MaxBlob: inlineMaxBlob, MaxTotal: inlineMaxTotal})
	if err != nil {
		return fmt.Errorf("fetch changes after %d from %s: %w", after, r.pair.PeerRegion, err)
	}
	now := r.m.now()
	r.setStatus(func(s *tandem.ReplicationStatus) {
		s.AppliedSeq, s.PrimarySeq = after, batch.LastSeq
		s.EntriesBehind = max(batch.LastSeq-after, 0)
		s.LastContactAt = &now
		if s.EntriesBehind == 0 {
			s.State, s.Reason, s.LagSeconds = "replicating", "", 0
		} else {
			s.State, s.Reason = "catching-up", ""
			if len(batch.Changes) > 0 {
				s.LagSeconds = now.Sub(batch.Changes[0].Time).Seconds()
			}
		}
	})
	shipped := inlined(batch.Blobs)
	for _, c := range batch.Changes {
		if c.Seq <= after {
			continue
		}
		for attempt := 0; ; attempt++ {
			err := r.applyHotHot(ctx, client, c, shipped)
			if errors.Is(err, errRaced) && attempt < 5 {
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		after = c.Seq
	}
	if batch.ScannedTo > after {
		// Entries of our own, echoed nowhere: just move past them.
		err = r.m.Store.Update(ctx, func(tx tandem.Tx) error {
			return tx.PutSetting(ctx, checkpointKey(r.pair.WorkspaceID), []byte(strconv.FormatInt(batch.ScannedTo, 10)))
		})
		if err != nil {
			return err
		}
		after = batch.ScannedTo
	}
	appliedAt := r.m.now()
	r.setStatus(func(s *tandem.ReplicationStatus) {
		s.AppliedSeq = after
		s.EntriesBehind = max(batch.LastSeq-after, 0)
		if len(batch.Changes) > 0 {
			s.LastAppliedAt = &appliedAt
		}
		if s.EntriesBehind == 0 {
			s.State, s.LagSeconds = "replicating", 0
		}
	})
	return nil
}

// versionKeyOf returns the key of the resource an entry writes.
func versionKeyOf(c *tandem.Change) string {
	switch c.Kind {
	case tandem.KindWorkspace:
		return tandem.VersionKey(c.WorkspaceID, tandem.KindWorkspace, "", "")
	case tandem.KindToken:
		return tandem.VersionKey(c.WorkspaceID, tandem.KindToken, c.Name, "")
	}
	return tandem.VersionKey(c.WorkspaceID, c.Kind, c.Name, c.Version)
}

func getVersion(ctx context.Context, tx tandem.Tx, key string) (*tandem.WriteVersion, error) {
	b, err := tx.GetSetting(ctx, key)
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var v tandem.WriteVersion
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return &v, nil
}

// applyHotHot applies one peer entry: decide, keep the loser's bytes,
// copy the winner's, then write rows, log, version, conflict and
// checkpoint in one transaction (retried if a local write raced).
func (r *replicator) applyHotHot(ctx context.Context, client tandem.PeerClient, c *tandem.Change, shipped map[tandem.BlobRef][]byte) error {
	key := versionKeyOf(c)
	incoming := tandem.WriteVersion{Origin: c.Origin, Time: c.Time}
	var local *tandem.WriteVersion
	var localRes *tandem.Resource
	err := r.m.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if local, err = getVersion(ctx, tx, key); err != nil || local == nil {
			return err
		}
		if c.Kind != tandem.KindWorkspace && c.Kind != tandem.KindToken {
			localRes, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: c.WorkspaceID, Kind: c.Kind, Name: c.Name, Version: c.Version})
			if tandem.IsCode(err, tandem.ENotFound) {
				localRes, err = nil, nil
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	conflict := local != nil && local.Origin != c.Origin && c.Base != local.String()
	wins := !conflict || incoming.Beats(*local)

	var rec *tandem.Conflict
	if conflict {
		rec = &tandem.Conflict{
			ID: uuid.NewString(), Kind: c.Kind, Name: c.Name, Version: c.Version,
			DetectedAt: r.m.now(), DetectedIn: r.m.Region,
		}
		folder := tandem.StoragePrefix(c.WorkspaceID) + "conflicts/" + rec.ID + "/"
		if wins {
			rec.Winner, rec.Loser, rec.LosingOp = incoming.String(), local.String(), tandem.OpUpdate
			if localRes != nil {
				rec.LosingBody, _ = json.Marshal(localRes)
				if err := r.keepLocalBlobs(ctx, localRes, folder); err != nil {
					return err
				}
				rec.LosingBlobs = folder
			}
		} else {
			rec.Winner, rec.Loser, rec.LosingOp, rec.LosingBody = local.String(), incoming.String(), c.Op, c.Body
			kept, missed, err := r.keepPeerBlobs(ctx, client, c, folder)
			switch {
			case err != nil:
				return err
			case kept > 0:
				rec.LosingBlobs = folder
			case missed > 0:
				// The origin has already taken the winner and moved its own
				// bytes aside: they are kept there, not here.
				rec.LosingBlobs = "region " + c.Origin + ": " + tandem.StoragePrefix(c.WorkspaceID) + "conflicts/"
			}
		}
		r.logger().Warn("hot/hot conflict", "kind", c.Kind, "name", c.Name, "version", c.Version, "winner", rec.Winner, "loser", rec.Loser)
	}
	if wins {
		if err := r.copyBlobs(ctx, client, []*tandem.Change{c}, shipped); err != nil {
			return err
		}
	}
	return r.m.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := r.stillSecondary(ctx, tx); err != nil {
			return err
		}
		now, err := getVersion(ctx, tx, key)
		if err != nil {
			return err
		}
		if (now == nil) != (local == nil) || (now != nil && *now != *local) {
			return errRaced
		}
		if wins {
			if err := applyRows(ctx, tx, &r.pair, r.m.Region, c); err != nil {
				return err
			}
			entry := *c
			entry.Seq = 0
			if err := tx.AppendChange(ctx, &entry); err != nil {
				return err
			}
			vb, _ := json.Marshal(incoming)
			if err := tx.PutSetting(ctx, key, vb); err != nil {
				return err
			}
		}
		if rec != nil {
			cb, _ := json.Marshal(rec)
			if err := tx.PutSetting(ctx, tandem.ConflictKeyPrefix(c.WorkspaceID)+rec.DetectedAt.Format("20060102T150405.000000Z")+"-"+rec.ID, cb); err != nil {
				return err
			}
		}
		return tx.PutSetting(ctx, checkpointKey(c.WorkspaceID), []byte(strconv.FormatInt(c.Seq, 10)))
	})
}

// keepLocalBlobs copies the blobs of a losing local version aside, so the
// winner's bytes can take their keys.
func (r *replicator) keepLocalBlobs(ctx context.Context, res *tandem.Resource, folder string) error {
	prefix := tandem.StoragePrefix(res.WorkspaceID)
	for _, b := range res.Blobs {
		_, err := tandem.CopyBlob(ctx, r.m.Blobs, folder+strings.TrimPrefix(b.Key, prefix), r.m.Blobs, b)
		if tandem.IsCode(err, tandem.ENotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("keep losing blob %s: %w", b.Key, err)
		}
	}
	return nil
}

// keepPeerBlobs copies the blobs of a losing peer version aside, from the
// peer, and returns how many it kept and how many the peer had replaced.
func (r *replicator) keepPeerBlobs(ctx context.Context, client tandem.PeerClient, c *tandem.Change, folder string) (kept, missed int, err error) {
	res, err := decodeResource(c)
	if err != nil || res == nil {
		return 0, 0, err
	}
	prefix := tandem.StoragePrefix(c.WorkspaceID)
	for _, b := range res.Blobs {
		rc, err := client.OpenBlob(ctx, c.WorkspaceID, b.Key, b.SHA256)
		if tandem.IsCode(err, tandem.EConflict) {
			missed++ // replaced at the peer since
			continue
		} else if err != nil {
			return kept, missed, err
		}
		_, err = tandem.CopyBlob(ctx, r.m.Blobs, folder+strings.TrimPrefix(b.Key, prefix), tandem.ReaderSource(rc), b)
		rc.Close()
		if err != nil {
			return kept, missed, fmt.Errorf("keep losing blob %s: %w", b.Key, err)
		}
		kept++
	}
	return kept, missed, nil
}
