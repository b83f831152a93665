package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Metadata snapshots (docs/design.md, "Hot/cold and snapshots"): a
// consistent cut of one workspace's metadata, written to the workspace's
// own default storage under workspaces/<id>/snapshots/<name>/ as
// metadata.jsonl and then manifest.json. Blobs are not copied: resources
// reference them by key and sha256 as they always do.

const (
	// SnapshotsKept is how many complete snapshots of a workspace are
	// kept; older ones are deleted after each new one.
	SnapshotsKept = 24
	// incompleteSnapshotAge is how old a folder without a manifest (a
	// write that crashed) must be before it is removed; younger ones may
	// be in progress in another server process.
	incompleteSnapshotAge = time.Hour
	// snapshotScanMax bounds how long RunSnapshots sleeps between rounds,
	// so that new workspaces and pairs are picked up within it.
	snapshotScanMax = time.Second
	snapshotScanMin = 20 * time.Millisecond
)

// WriteSnapshot writes a snapshot of a workspace (live or soft-deleted)
// to its default storage and deletes all but the SnapshotsKept newest.
// The metadata is read in one read transaction, so the snapshot is a
// consistent cut at the log's last seq, and streamed to storage as it is
// read. A snapshot is not a workspace write: it appends no change-log
// entry, and it is written on a read-only secondary too.
func (r *Service) WriteSnapshot(ctx context.Context, workspaceID string) (*tandem.SnapshotInfo, error) {
	if err := region.RequireAdmin(ctx, "writing a snapshot"); err != nil {
		return nil, err
	}
	at := r.Timestamp()
	name := at.Format(tandem.SnapshotNameLayout)
	for range 1000 { // two snapshots in one microsecond: take the next free one
		if _, err := r.Blobs.Stat(ctx, tandem.SnapshotKey(workspaceID, name, tandem.SnapshotManifestFile)); tandem.IsCode(err, tandem.ENotFound) {
			break
		} else if err != nil {
			return nil, err
		}
		at = at.Add(time.Microsecond)
		name = at.Format(tandem.SnapshotNameLayout)
	}
	man := &tandem.SnapshotManifest{
		Format:      tandem.SnapshotFormat,
		Name:        name,
		WorkspaceID: workspaceID,
		Region:      r.Name,
		Time:        at,
		Counts:      map[string]int64{"workspace": 0, "token": 0},
		Version:     tandem.Version,
	}

	// Stream metadata.jsonl into storage while the transaction reads it.
	// A failure on either side fails both, and storage keeps nothing of a
	// failed write (Put is atomic).
	pr, pw := io.Pipe()
	type putResult struct {
		ref tandem.BlobRef
		err error
	}
	put := make(chan putResult, 1)
	go func() {
		ref, err := r.Blobs.Put(ctx, tandem.SnapshotKey(workspaceID, name, tandem.SnapshotMetadataFile), pr, nil)
		pr.CloseWithError(fmt.Errorf("storage stopped reading: %w", err)) // unblocks the writer if Put ended early
		put <- putResult{ref, err}
	}()
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		bw := bufio.NewWriterSize(pw, 64<<10)
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return r.snapshotMetadata(ctx, tx, man, enc, bw)
	})
	if err != nil {
		pw.CloseWithError(err)
	} else {
		pw.Close()
	}
	res := <-put
	if err != nil {
		return nil, fmt.Errorf("snapshot of workspace %s: %w", workspaceID, err)
	}
	if res.err != nil {
		return nil, fmt.Errorf("write snapshot of workspace %s: %w", workspaceID, res.err)
	}
	man.Files = []tandem.SnapshotFile{{Name: tandem.SnapshotMetadataFile, SHA256: res.ref.SHA256, Size: res.ref.Size}}

	// The manifest last: its presence marks the snapshot complete.
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	if _, err := r.Blobs.Put(ctx, tandem.SnapshotKey(workspaceID, name, tandem.SnapshotManifestFile), strings.NewReader(string(b)), nil); err != nil {
		return nil, fmt.Errorf("write snapshot manifest of workspace %s: %w", workspaceID, err)
	}
	r.Logger.Debug("snapshot written", "workspace", man.Workspace, "id", workspaceID, "snapshot", name, "last_seq", man.LastSeq)
	if err := r.pruneSnapshots(ctx, workspaceID, SnapshotsKept); err != nil {
		r.Logger.Warn("prune old snapshots", "workspace", man.Workspace, "id", workspaceID, "err", err)
	}
	return &tandem.SnapshotInfo{SnapshotManifest: *man, Prefix: tandem.SnapshotsPrefix(workspaceID) + name + "/"}, nil
}

// snapshotMetadata writes the records of metadata.jsonl, read in tx, and
// fills in the manifest's figures.
func (r *Service) snapshotMetadata(ctx context.Context, tx tandem.Tx, man *tandem.SnapshotManifest, enc *json.Encoder, bw *bufio.Writer) error {
	ws, err := tx.FindWorkspaceByID(ctx, man.WorkspaceID)
	if tandem.IsCode(err, tandem.ENotFound) {
		return tandem.Errorf(tandem.ENotFound, "workspace %s not found in region %q", man.WorkspaceID, r.Name)
	} else if err != nil {
		return err
	}
	man.Workspace = ws.Name
	if man.LastSeq, err = tx.LastChangeSeq(ctx, ws.ID); err != nil {
		return err
	}
	if man.LastSeq > 0 {
		last, err := tx.ListChanges(ctx, ws.ID, man.LastSeq-1, 1)
		if err != nil {
			return err
		}
		if len(last) == 1 {
			t := last[0].Time.UTC()
			man.LastChangeAt = &t
		}
	}
	if p, err := tandem.FindPair(ctx, tx, ws.ID); err != nil {
		return err
	} else if p != nil {
		man.Epoch = p.Epoch
	}

	if err := enc.Encode(tandem.SnapshotRecord{Type: tandem.SnapshotRecordWorkspace, Workspace: ws}); err != nil {
		return err
	}
	man.Counts["workspace"]++
	resources, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID})
	if err != nil {
		return err
	}
	for _, res := range resources {
		if err := enc.Encode(tandem.SnapshotRecord{Type: tandem.SnapshotRecordResource, Resource: res}); err != nil {
			return err
		}
		man.Counts[string(res.Kind)]++
		for _, b := range res.Blobs {
			man.BlobRefs++
			man.BlobBytes += b.Size
		}
	}
	tokens, err := tx.ListTokens(ctx, tandem.TokenFilter{WorkspaceID: ws.ID})
	if err != nil {
		return err
	}
	for _, t := range tokens {
		st := &tandem.SnapshotToken{Token: *t, Hash: t.Hash}
		st.Workspace = "" // the display name is region-local; workspace_id says which
		if err := enc.Encode(tandem.SnapshotRecord{Type: tandem.SnapshotRecordToken, Token: st}); err != nil {
			return err
		}
		man.Counts["token"]++
	}
	return bw.Flush()
}

// snapshotFolder is one folder under a workspace's snapshots/.
type snapshotFolder struct {
	name     string
	complete bool // it has a manifest
}

// SnapshotFoldersOf lists the snapshot folders of a workspace, newest first.
// Names that are not snapshot times (other files under snapshots/) are
// ignored.
func (r *Service) SnapshotFoldersOf(ctx context.Context, wsID string) ([]snapshotFolder, error) {
	return snapshotFoldersIn(ctx, r.Blobs, wsID)
}

// snapshotFoldersIn is snapshotFolders in any blob store.
func snapshotFoldersIn(ctx context.Context, blobs tandem.BlobStore, wsID string) ([]snapshotFolder, error) {
	prefix := tandem.SnapshotsPrefix(wsID)
	seen := map[string]bool{}
	err := blobs.List(ctx, prefix, func(ref tandem.BlobRef) error {
		name, file, ok := strings.Cut(strings.TrimPrefix(ref.Key, prefix), "/")
		if !ok || !tandem.IsSnapshotName(name) {
			return nil
		}
		seen[name] = seen[name] || file == tandem.SnapshotManifestFile
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list snapshots of workspace %s: %w", wsID, err)
	}
	out := make([]snapshotFolder, 0, len(seen))
	for name, complete := range seen {
		out = append(out, snapshotFolder{name, complete})
	}
	slices.SortFunc(out, func(a, b snapshotFolder) int { return strings.Compare(b.name, a.name) })
	return out, nil
}

// ReadSnapshotManifest reads and checks the manifest of one snapshot.
func (r *Service) ReadSnapshotManifest(ctx context.Context, wsID, name string) (*tandem.SnapshotManifest, error) {
	return readSnapshotManifestIn(ctx, r.Blobs, wsID, name)
}

// readSnapshotManifestIn is readSnapshotManifest in any blob store.
func readSnapshotManifestIn(ctx context.Context, blobs tandem.BlobStore, wsID, name string) (*tandem.SnapshotManifest, error) {
	rc, err := blobs.Open(ctx, tandem.SnapshotKey(wsID, name, tandem.SnapshotManifestFile))
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "snapshot %s of workspace %s not found (or incomplete: it has no manifest)", name, wsID)
	} else if err != nil {
		return nil, err
	}
	defer rc.Close()
	var man tandem.SnapshotManifest
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&man); err != nil {
		return nil, tandem.Errorf(tandem.ECorrupt, "manifest of snapshot %s of workspace %s: %v", name, wsID, err)
	}
	if man.Format != tandem.SnapshotFormat {
		return nil, tandem.Errorf(tandem.EInvalid, "snapshot %s of workspace %s has format %q; this server reads %q", name, wsID, man.Format, tandem.SnapshotFormat)
	}
	if man.Name != name || man.WorkspaceID != wsID {
		return nil, tandem.Errorf(tandem.ECorrupt, "manifest at snapshot %s of workspace %s describes snapshot %s of workspace %s", name, wsID, man.Name, man.WorkspaceID)
	}
	return &man, nil
}

// ListSnapshots returns the complete snapshots of a workspace (by id),
// newest first. A folder whose manifest cannot be read is left out and
// logged.
func (r *Service) ListSnapshots(ctx context.Context, workspaceID string) ([]*tandem.SnapshotInfo, error) {
	if err := region.RequireAdmin(ctx, "listing snapshots"); err != nil {
		return nil, err
	}
	folders, err := r.SnapshotFoldersOf(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	var out []*tandem.SnapshotInfo
	for _, f := range folders {
		if !f.complete {
			continue
		}
		man, err := r.ReadSnapshotManifest(ctx, workspaceID, f.name)
		if err != nil {
			r.Logger.Warn("unreadable snapshot skipped", "id", workspaceID, "snapshot", f.name, "err", err)
			continue
		}
		out = append(out, &tandem.SnapshotInfo{SnapshotManifest: *man, Prefix: tandem.SnapshotsPrefix(workspaceID) + f.name + "/"})
	}
	return out, nil
}

// LatestSnapshot returns the newest complete, readable snapshot of a
// workspace; ENotFound when there is none.
func (r *Service) LatestSnapshot(ctx context.Context, wsID string) (*tandem.SnapshotInfo, error) {
	folders, err := r.SnapshotFoldersOf(ctx, wsID)
	if err != nil {
		return nil, err
	}
	for _, f := range folders {
		if !f.complete {
			continue
		}
		man, err := r.ReadSnapshotManifest(ctx, wsID, f.name)
		if err != nil {
			r.Logger.Warn("unreadable snapshot skipped", "id", wsID, "snapshot", f.name, "err", err)
			continue
		}
		return &tandem.SnapshotInfo{SnapshotManifest: *man, Prefix: tandem.SnapshotsPrefix(wsID) + f.name + "/"}, nil
	}
	return nil, tandem.Errorf(tandem.ENotFound, "workspace %s has no snapshot in region %q yet", wsID, r.Name)
}

// pruneSnapshots deletes all but the keep newest complete snapshots, and
// incomplete folders older than incompleteSnapshotAge. A snapshot's
// manifest goes first, so that a reader never takes a half-deleted folder
// for a complete snapshot.
func (r *Service) pruneSnapshots(ctx context.Context, wsID string, keep int) error {
	folders, err := r.SnapshotFoldersOf(ctx, wsID)
	if err != nil {
		return err
	}
	now := r.Timestamp()
	kept := 0
	for _, f := range folders {
		prefix := tandem.SnapshotsPrefix(wsID) + f.name + "/"
		if f.complete {
			if kept++; kept <= keep {
				continue
			}
			if err := r.Blobs.Delete(ctx, prefix+tandem.SnapshotManifestFile); err != nil {
				return err
			}
		} else if at, err := time.Parse(tandem.SnapshotNameLayout, f.name); err != nil || now.Sub(at) < incompleteSnapshotAge {
			continue
		}
		if _, err := r.Blobs.DeletePrefix(ctx, prefix); err != nil {
			return err
		}
	}
	return nil
}

// snapState is what RunSnapshots knows of one workspace's snapshots.
type snapState struct {
	has       bool      // a snapshot exists
	at        time.Time // the newest one's time
	seq       int64     // and its last seq
	nextCheck time.Time // do not look at the workspace again before this
}

// RunSnapshots writes snapshots until ctx ends: of every workspace, live
// or soft-deleted, paired or not, every `every` (none when every <= 0),
// and of the primary of each hot/cold pair at its snapshot interval when
// that is shorter. A workspace is skipped while its newest snapshot is
// younger than its interval or its log has not advanced since. It looks
// at the workspaces once a second (or at the shortest interval, if
// shorter).
func (r *Service) RunSnapshots(ctx context.Context, every time.Duration) {
	state := map[string]*snapState{}
	for {
		wait := r.snapshotRound(ctx, every, state)
		select {
		case <-ctx.Done():
			return
		case <-r.Closing():
			return
		case <-time.After(wait):
		}
	}
}

// snapshotRound writes the snapshots that are due and returns how long to
// sleep before the next round.
func (r *Service) snapshotRound(ctx context.Context, every time.Duration, state map[string]*snapState) time.Duration {
	wait := snapshotScanMax
	if every > 0 {
		wait = min(wait, every)
	}
	var workspaces []*tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		live, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
		if err != nil {
			return err
		}
		deleted, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
		workspaces = append(live, deleted...)
		return err
	})
	var pairs []*tandem.Pair
	if err == nil {
		pairs, err = r.ListPairs(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.Error("snapshots: list workspaces", "err", err)
		}
		return max(wait, snapshotScanMin)
	}
	intervals := map[string]time.Duration{}
	for _, p := range pairs {
		if p.Tier == tandem.TierHotCold && p.Role == tandem.RolePrimary && p.SnapshotInterval > 0 {
			intervals[p.WorkspaceID] = p.SnapshotInterval
			wait = min(wait, p.SnapshotInterval)
		}
	}
	present := map[string]bool{}
	for _, ws := range workspaces {
		present[ws.ID] = true
		interval := every
		if iv, ok := intervals[ws.ID]; ok && (interval <= 0 || iv < interval) {
			interval = iv
		}
		if interval <= 0 || ctx.Err() != nil {
			continue
		}
		if err := r.snapshotIfDue(ctx, ws, interval, state); err != nil && ctx.Err() == nil {
			r.Logger.Error("snapshot", "workspace", ws.Name, "id", ws.ID, "err", err)
		}
	}
	for id := range state {
		if !present[id] {
			delete(state, id)
		}
	}
	return max(wait, snapshotScanMin)
}

// snapshotIfDue writes a snapshot of ws when its newest one is older than
// interval and its log has advanced since.
func (r *Service) snapshotIfDue(ctx context.Context, ws *tandem.Workspace, interval time.Duration, state map[string]*snapState) error {
	now := r.Timestamp()
	st := state[ws.ID]
	if st == nil {
		st = &snapState{}
		latest, err := r.LatestSnapshot(ctx, ws.ID)
		if err == nil {
			st.has, st.at, st.seq = true, latest.Time, latest.LastSeq
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		state[ws.ID] = st
	}
	if now.Before(st.nextCheck) || (st.has && now.Sub(st.at) < interval) {
		return nil
	}
	if st.has {
		var seq int64
		err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			seq, err = tx.LastChangeSeq(ctx, ws.ID)
			return err
		})
		if err != nil {
			return err
		}
		if seq == st.seq {
			// Nothing new: look again in a tenth of the interval (at most
			// a minute), not at every round.
			st.nextCheck = now.Add(min(interval/10, time.Minute))
			return nil
		}
	}
	info, err := r.WriteSnapshot(ctx, ws.ID)
	if err != nil {
		st.nextCheck = now.Add(min(interval, time.Minute))
		return err
	}
	st.has, st.at, st.seq, st.nextCheck = true, info.Time, info.LastSeq, time.Time{}
	return nil
}
