package replication

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tandemml/tandem"
)

// Hot/cold (docs/design.md, "Hot/cold and snapshots"): the secondary does
// not follow the primary's log. It polls for the primary's newest metadata
// snapshot and, when that is newer than the one it applied, copies the
// blobs the snapshot references that it lacks and replaces the workspace's
// metadata with the snapshot's in one transaction, which also appends one
// local OpSnapshot entry and records the snapshot applied. Its log is
// therefore its own (one entry per applied snapshot), not a mirror.

// coldPollMax bounds the time between two polls of the primary.
const coldPollMax = time.Minute

// coldKey is the settings key of the last snapshot applied to a workspace.
func coldKey(wsID string) string { return "cold/" + wsID }

// coldPoll is how often a hot/cold secondary asks for a new snapshot:
// Manager.ColdPoll when set, else the pair's snapshot interval, at most a
// minute.
func (r *replicator) coldPoll() time.Duration {
	if r.m.ColdPoll > 0 {
		return r.m.ColdPoll
	}
	if iv := r.pair.SnapshotInterval; iv > 0 && iv < coldPollMax {
		return iv
	}
	return coldPollMax
}

// stepCold runs one round, then waits for the next poll.
func (r *replicator) stepCold(ctx context.Context) error {
	if err := r.coldRound(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(r.coldPoll()):
	}
	return nil
}

// coldApplied returns the record of the last snapshot applied under the
// current pair, or nil.
func (r *replicator) coldApplied(ctx context.Context) (*tandem.SnapshotApplied, error) {
	var b []byte
	err := r.m.Store.View(ctx, func(tx tandem.Tx) (err error) {
		b, err = tx.GetSetting(ctx, coldKey(r.pair.WorkspaceID))
		return err
	})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var a tandem.SnapshotApplied
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("decode %s: %w", coldKey(r.pair.WorkspaceID), err)
	}
	if !a.PairedAt.Equal(r.pair.CreatedAt) {
		return nil, nil // applied under an earlier pair of the same workspace
	}
	return &a, nil
}

// coldRound applies the primary's newest snapshot if it is newer than the
// last one applied, and refreshes the figures.
func (r *replicator) coldRound(ctx context.Context) error {
	client, err := r.m.client(ctx, r.pair.PeerRegion)
	if err != nil {
		return err
	}
	peer, ok := client.(tandem.SnapshotPeer)
	if !ok {
		return fmt.Errorf("the client of region %q cannot read snapshots", r.pair.PeerRegion)
	}
	applied, err := r.coldApplied(ctx)
	if err != nil {
		return err
	}
	man, err := peer.LatestSnapshot(ctx, r.pair.WorkspaceID)
	switch {
	case tandem.IsCode(err, tandem.ENotFound):
		man = nil // none written yet: wait for it
	case err != nil:
		return fmt.Errorf("ask %s for its newest snapshot: %w", r.pair.PeerRegion, err)
	case man.Format != tandem.SnapshotFormat:
		return fmt.Errorf("the newest snapshot of %s in %s has format %q; this server reads %q", r.pair.Workspace, r.pair.PeerRegion, man.Format, tandem.SnapshotFormat)
	case man.WorkspaceID != r.pair.WorkspaceID:
		return fmt.Errorf("%s answered with a snapshot of workspace %s, not %s", r.pair.PeerRegion, man.WorkspaceID, r.pair.WorkspaceID)
	case applied != nil && man.LastSeq < applied.LastSeq:
		return fmt.Errorf("the primary's newest snapshot %s (up to entry %d) is older than the one applied here (%s, up to entry %d); not applied", man.Name, man.LastSeq, applied.Snapshot, applied.LastSeq)
	case applied == nil || man.LastSeq > applied.LastSeq:
		if applied, err = r.applySnapshot(ctx, client, peer, man); err != nil {
			return err
		}
	}
	return r.coldFigures(ctx, client, applied)
}

// coldFigures asks the primary for its log's end and sets the figures:
// entries behind the last applied snapshot, and the age of the oldest of
// them (the live RPO).
func (r *replicator) coldFigures(ctx context.Context, client tandem.PeerClient, applied *tandem.SnapshotApplied) error {
	var appliedSeq int64
	if applied != nil {
		appliedSeq = applied.LastSeq
	}
	batch, err := client.Changes(ctx, r.pair.WorkspaceID, appliedSeq, 1, 0)
	if err != nil {
		return fmt.Errorf("ask %s for its log's end: %w", r.pair.PeerRegion, err)
	}
	now := r.m.now()
	r.setStatus(func(s *tandem.ReplicationStatus) {
		s.AppliedSeq, s.PrimarySeq = appliedSeq, batch.LastSeq
		s.EntriesBehind = max(batch.LastSeq-appliedSeq, 0)
		s.LastContactAt = &now
		s.BytesBehind = 0
		s.LagSeconds = 0
		if s.EntriesBehind > 0 && len(batch.Changes) > 0 {
			s.LagSeconds = max(now.Sub(batch.Changes[0].Time).Seconds(), 0)
		}
		if applied == nil {
			s.State, s.Reason = "catching-up", "waiting for the primary's first snapshot"
			return
		}
		// Between snapshots the secondary is behind by design: that is
		// the tier working, not catching up.
		s.State, s.Reason = "replicating", ""
		at, snap := applied.AppliedAt, applied.Time
		s.LastAppliedAt, s.LastSnapshotAt = &at, &snap
	})
	return nil
}

// applySnapshot fetches a snapshot's metadata (verified), copies the blobs
// it references that this region lacks, and applies it.
func (r *replicator) applySnapshot(ctx context.Context, client tandem.PeerClient, peer tandem.SnapshotPeer, man *tandem.SnapshotManifest) (*tandem.SnapshotApplied, error) {
	log := r.logger().With("snapshot", man.Name, "last_seq", man.LastSeq)
	r.setStatus(func(s *tandem.ReplicationStatus) { s.State, s.Reason = "catching-up", "applying snapshot "+man.Name })
	meta, err := r.fetchSnapshotFile(ctx, peer, man, tandem.SnapshotMetadataFile)
	if err != nil {
		return nil, err
	}
	defer func() { meta.Close(); os.Remove(meta.Name()) }()

	// First pass: check the records and find the blobs to copy.
	need := map[string]tandem.BlobRef{}
	var order []string
	var bytes int64
	err = readSnapshot(meta, man, func(rec *tandem.SnapshotRecord) error {
		if rec.Resource == nil {
			return nil
		}
		for _, b := range rec.Resource.Blobs {
			if _, ok := need[b.Key]; ok {
				continue
			}
			cur, err := r.m.Blobs.Stat(ctx, b.Key)
			if err == nil && cur.SHA256 == b.SHA256 && cur.Size == b.Size {
				continue
			} else if err != nil && !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			need[b.Key] = b
			order = append(order, b.Key)
			bytes += b.Size
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.setStatus(func(s *tandem.ReplicationStatus) { s.BytesBehind = bytes })
	var copied int64
	for _, key := range order {
		b := need[key]
		err := r.copyBlob(ctx, client, b)
		if tandem.IsCode(err, tandem.EConflict) {
			// Replaced at the primary since the snapshot: a later snapshot
			// names its new bytes.
			r.setStatus(func(s *tandem.ReplicationStatus) { s.SkippedBlobs++ })
			continue
		} else if err != nil {
			return nil, err
		}
		copied++
		bytes -= b.Size
		r.setStatus(func(s *tandem.ReplicationStatus) { s.BlobsCopied++; s.BytesCopied += b.Size; s.BytesBehind = bytes })
	}

	// Second pass: apply, in one transaction with its log entry and the
	// record of the snapshot applied.
	var sum *tandem.SnapshotApplied
	err = r.m.Store.Update(ctx, func(tx tandem.Tx) error {
		if _, err := meta.Seek(0, io.SeekStart); err != nil {
			return err
		}
		sum = &tandem.SnapshotApplied{
			Snapshot: man.Name, Region: man.Region, Time: man.Time, LastSeq: man.LastSeq, LastChangeAt: man.LastChangeAt,
			Counts: man.Counts, AppliedAt: r.m.now().Truncate(time.Microsecond), PairedAt: r.pair.CreatedAt, BlobsCopied: copied,
		}
		return r.applySnapshotTx(ctx, tx, meta, man, sum)
	})
	if err != nil {
		return nil, fmt.Errorf("apply snapshot %s: %w", man.Name, err)
	}
	log.Info("snapshot applied", "resources_put", sum.Put, "resources_deleted", sum.Deleted, "tokens", sum.Tokens, "blobs_copied", copied)
	return sum, nil
}

// fetchSnapshotFile downloads one file of a snapshot into a temporary file,
// verified against the manifest's sha256 and size, and returns it.
func (r *replicator) fetchSnapshotFile(ctx context.Context, peer tandem.SnapshotPeer, man *tandem.SnapshotManifest, name string) (*os.File, error) {
	want := man.File(name)
	if want == nil {
		return nil, fmt.Errorf("snapshot %s of %s lists no %s", man.Name, r.pair.Workspace, name)
	}
	rc, err := peer.OpenSnapshotFile(ctx, r.pair.WorkspaceID, man.Name, name)
	if err != nil {
		return nil, fmt.Errorf("fetch %s of snapshot %s: %w", name, man.Name, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "tandem-snapshot-*.jsonl")
	if err != nil {
		return nil, err
	}
	v := tandem.VerifyReader(rc, tandem.BlobRef{SHA256: want.SHA256, Size: want.Size}, "in transit")
	_, err = io.Copy(f, v)
	if tandem.IsCode(err, tandem.ECorrupt) {
		r.logger().Error("snapshot file failed verification in transit; not applied", "snapshot", man.Name, "file", name, "err", err)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("fetch %s of snapshot %s: %w", name, man.Name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// readSnapshot decodes metadata.jsonl record by record, checking that it
// is well formed and matches the manifest's counts, and calls fn for each.
func readSnapshot(rd io.Reader, man *tandem.SnapshotManifest, fn func(*tandem.SnapshotRecord) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(rd, 64<<10))
	counts := map[string]int64{}
	for n := 1; ; n++ {
		var rec tandem.SnapshotRecord
		if err := dec.Decode(&rec); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s record %d: %w", tandem.SnapshotMetadataFile, n, err)
		}
		bad := func(what string) error {
			return fmt.Errorf("%s record %d: %s", tandem.SnapshotMetadataFile, n, what)
		}
		switch {
		case (n == 1) != (rec.Type == tandem.SnapshotRecordWorkspace):
			return bad("the workspace must be the first record, and only it")
		case rec.Type == tandem.SnapshotRecordWorkspace:
			if rec.Workspace == nil || rec.Workspace.ID != man.WorkspaceID {
				return bad("not the workspace of the manifest")
			}
			counts["workspace"]++
		case rec.Type == tandem.SnapshotRecordResource:
			res := rec.Resource
			if res == nil || res.Kind == "" || res.Name == "" || res.Kind == tandem.KindWorkspace || res.Kind == tandem.KindToken {
				return bad("a resource without kind or name")
			}
			res.WorkspaceID = man.WorkspaceID
			counts[string(res.Kind)]++
		case rec.Type == tandem.SnapshotRecordToken:
			t := rec.Token
			if t == nil || t.Name == "" || t.Hash == "" || t.ID == "" {
				return bad("a token without id, name or hash")
			}
			t.WorkspaceID, t.Workspace = man.WorkspaceID, ""
			t.Token.Hash = t.Hash
			counts["token"]++
		default:
			return bad(fmt.Sprintf("unknown record type %q", rec.Type))
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	if counts["workspace"] != 1 {
		return fmt.Errorf("%s holds no workspace record", tandem.SnapshotMetadataFile)
	}
	for k, v := range man.Counts {
		if counts[k] != v {
			return fmt.Errorf("%s holds %d records of %s; the manifest says %d", tandem.SnapshotMetadataFile, counts[k], k, v)
		}
	}
	for k, v := range counts {
		if man.Counts[k] != v {
			return fmt.Errorf("%s holds %d records of %s; the manifest says %d", tandem.SnapshotMetadataFile, v, k, man.Counts[k])
		}
	}
	return nil
}

// applySnapshotTx replaces the workspace's metadata with the snapshot's:
// the workspace row (keeping this side's name and region), the resource
// set and the workspace tokens, and appends the one local entry.
func (r *replicator) applySnapshotTx(ctx context.Context, tx tandem.Tx, meta io.Reader, man *tandem.SnapshotManifest, sum *tandem.SnapshotApplied) error {
	wsID := r.pair.WorkspaceID
	var local map[tandem.ResourceKey]*tandem.Resource
	seen := map[tandem.ResourceKey]bool{}
	var tokens []*tandem.SnapshotToken
	err := readSnapshot(meta, man, func(rec *tandem.SnapshotRecord) error {
		switch {
		case rec.Workspace != nil:
			w := *rec.Workspace
			w.Name, w.Region = r.pair.Workspace, r.m.Region
			if _, err := tx.FindWorkspaceByID(ctx, wsID); tandem.IsCode(err, tandem.ENotFound) {
				if err := tx.CreateWorkspace(ctx, &w); err != nil {
					return fmt.Errorf("create workspace %q: %w", w.Name, err)
				}
			} else if err != nil {
				return err
			} else if err := tx.UpdateWorkspace(ctx, &w); err != nil {
				return err
			}
			list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID})
			if err != nil {
				return err
			}
			local = make(map[tandem.ResourceKey]*tandem.Resource, len(list))
			for _, res := range list {
				local[res.Key()] = res
			}
		case rec.Resource != nil:
			res := rec.Resource
			key := res.Key()
			seen[key] = true
			if cur, ok := local[key]; ok && sameJSON(cur, res) {
				return nil
			}
			sum.Put++
			return tx.PutResource(ctx, res)
		case rec.Token != nil:
			tokens = append(tokens, rec.Token)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for key := range local {
		if !seen[key] {
			if err := tx.DeleteResource(ctx, key); err != nil && !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			sum.Deleted++
		}
	}
	if err := replaceTokens(ctx, tx, wsID, tokens); err != nil {
		return err
	}
	sum.Tokens = int64(len(tokens))

	body, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	c := &tandem.Change{
		WorkspaceID: wsID, Kind: tandem.KindWorkspace, Name: r.pair.Workspace, Op: tandem.OpSnapshot,
		Origin: r.m.Region, Epoch: r.pair.Epoch, Time: sum.AppliedAt, Body: body,
	}
	if err := tx.AppendChange(ctx, c); err != nil {
		return err
	}
	return tx.PutSetting(ctx, coldKey(wsID), body)
}

// replaceTokens makes the workspace's tokens those of the snapshot. Token
// names are unique in a region: a snapshot token whose name another token
// here holds (a region admin token, or another workspace's) is a conflict
// that stops the apply with an error saying so, rather than a token
// silently revoked.
func replaceTokens(ctx context.Context, tx tandem.Tx, wsID string, want []*tandem.SnapshotToken) error {
	byName := make(map[string]*tandem.SnapshotToken, len(want))
	for _, t := range want {
		byName[t.Name] = t
	}
	have, err := tx.ListTokens(ctx, tandem.TokenFilter{WorkspaceID: wsID})
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, t := range have {
		if w, ok := byName[t.Name]; ok && w.ID == t.ID && w.Hash == t.Hash {
			keep[t.Name] = true
			continue
		}
		if err := tx.DeleteToken(ctx, t.ID); err != nil {
			return err
		}
	}
	for _, t := range want {
		if keep[t.Name] {
			continue
		}
		others, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: t.Name})
		if err != nil {
			return err
		}
		if len(others) > 0 { // ours were deleted above: this one is the region's or another workspace's
			return tandem.Errorf(tandem.EConflict, "token %q of workspace %s has the name of another token in this region; revoke one of them", t.Name, wsID)
		}
		tok := t.Token
		if err := tx.CreateToken(ctx, &tok); err != nil {
			return fmt.Errorf("token %q: %w", t.Name, err)
		}
	}
	return nil
}

// sameJSON reports whether a and b encode to the same JSON.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
