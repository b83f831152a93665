package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// maxUnattachedListed bounds the unattached blobs a restore report lists.
const maxUnattachedListed = 100

// snapshotContent is the decoded metadata.jsonl of a snapshot.
type snapshotContent struct {
	ws        *tandem.Workspace
	resources []*tandem.Resource
	tokens    []*tandem.SnapshotToken
}

// readSnapshotContent reads and verifies metadata.jsonl of a snapshot.
func readSnapshotContent(ctx context.Context, blobs tandem.BlobStore, man *tandem.SnapshotManifest) (*snapshotContent, error) {
	f := man.File(tandem.SnapshotMetadataFile)
	if f == nil {
		return nil, tandem.Errorf(tandem.ECorrupt, "snapshot %s lists no %s", man.Name, tandem.SnapshotMetadataFile)
	}
	rc, err := blobs.OpenVerified(ctx, tandem.BlobRef{Key: tandem.SnapshotKey(man.WorkspaceID, man.Name, f.Name), SHA256: f.SHA256, Size: f.Size})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := &snapshotContent{}
	dec := json.NewDecoder(rc)
	for {
		var rec tandem.SnapshotRecord
		if err := dec.Decode(&rec); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("snapshot %s: %s: %w", man.Name, tandem.SnapshotMetadataFile, err)
		}
		switch {
		case rec.Type == tandem.SnapshotRecordWorkspace && rec.Workspace != nil && out.ws == nil:
			out.ws = rec.Workspace
		case rec.Type == tandem.SnapshotRecordResource && rec.Resource != nil:
			if rec.Resource.WorkspaceID != man.WorkspaceID {
				return nil, tandem.Errorf(tandem.ECorrupt, "snapshot %s holds a resource of workspace %s", man.Name, rec.Resource.WorkspaceID)
			}
			out.resources = append(out.resources, rec.Resource)
		case rec.Type == tandem.SnapshotRecordToken && rec.Token != nil:
			out.tokens = append(out.tokens, rec.Token)
		default:
			return nil, tandem.Errorf(tandem.ECorrupt, "snapshot %s: unexpected %q record", man.Name, rec.Type)
		}
	}
	if out.ws == nil || out.ws.ID != man.WorkspaceID {
		return nil, tandem.Errorf(tandem.ECorrupt, "snapshot %s holds no record of workspace %s", man.Name, man.WorkspaceID)
	}
	return out, nil
}

// RestoreWorkspace rebuilds a workspace from the newest readable snapshot
// in its storage: the workspace keeps its id (so its blobs are where they
// were), takes opts.Name or its old name, and gets back every resource
// and workspace token the snapshot holds, each written with its own
// change-log entry. Blobs are checked against the references (and copied
// when the storage is not this region's). A restore of a workspace id the
// region already has adds what it lacks and reports conflicts, so an
// interrupted restore can be run again. Blobs in storage that no restored
// resource references (written after the snapshot) are reported, not
// attached.
func (r *Service) RestoreWorkspace(ctx context.Context, opts tandem.RestoreOptions) (*tandem.RestoreReport, error) {
	if err := region.RequireAdmin(ctx, "restoring a workspace"); err != nil {
		return nil, err
	}
	id := opts.WorkspaceID
	if id == "" || strings.ContainsAny(id, "/\\") || strings.Contains(id, "..") || len(id) > 128 {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid workspace id %q (the id is the folder name under workspaces/ in storage)", id).WithTarget("workspace_id")
	}
	src, done, err := r.restoreStorage(ctx, opts.Storage)
	if err != nil {
		return nil, err
	}
	defer done()

	rep := &tandem.RestoreReport{ImportReport: *newReport()}
	rep.Format = tandem.SnapshotFormat
	man, content, err := r.newestSnapshot(ctx, src, id, rep)
	if err != nil {
		return nil, err
	}
	rep.Snapshot, rep.SnapshotTime, rep.LastSeq, rep.LastChangeAt = man.Name, man.Time, man.LastSeq, man.LastChangeAt
	rep.SourceWorkspace, rep.SourceID, rep.SourceRegion = content.ws.Name, id, man.Region

	name := opts.Name
	if name == "" {
		name = content.ws.Name
	}
	if err := tandem.ValidateWorkspaceName(name); err != nil {
		return nil, err
	}
	ws, created, err := r.restoreWorkspaceRow(ctx, content.ws, name)
	if err != nil {
		return nil, err
	}
	rep.Workspace, rep.ID, rep.WorkspaceCreated = ws.Name, ws.ID, created

	items, refs, err := restoredItems(man, content)
	if err != nil {
		return nil, err
	}
	if err := r.commitRestored(ctx, ws, items, snapshotBlobs(src, id), &rep.ImportReport); err != nil {
		return rep, err
	}
	if err := r.restoreTokens(ctx, ws, content.tokens, rep); err != nil {
		return rep, err
	}
	if err := reportUnattached(ctx, src, id, refs, rep); err != nil {
		return rep, err
	}
	r.Logger.Info("workspace restored", "workspace", ws.Name, "id", id, "snapshot", man.Name,
		"created", rep.Resources[tandem.ImportCreated], "conflicts", len(rep.Conflicts), "unattached", rep.UnattachedCount)
	return rep, nil
}

// restoreStorage returns the storage a restore reads from: this region's,
// or the one storage names, with the function that closes it.
func (r *Service) restoreStorage(ctx context.Context, storage string) (tandem.BlobStore, func(), error) {
	if storage == "" || storage == r.StorageURL {
		return r.Blobs, func() {}, nil
	}
	if r.OpenStorage == nil {
		return nil, nil, tandem.Errorf(tandem.EInvalid, "this server restores from its own storage only; omit --storage")
	}
	s, err := r.OpenStorage(ctx, storage)
	if err != nil {
		return nil, nil, tandem.Errorf(tandem.EInvalid, "open storage %q: %s", storage, tandem.ErrorMessage(err)).WithTarget("storage")
	}
	return s, func() { s.Close() }, nil
}

// newestSnapshot returns the newest complete snapshot of workspace id in
// src that reads back intact, counting the unreadable ones it skips in
// rep.
func (r *Service) newestSnapshot(ctx context.Context, src tandem.BlobStore, id string, rep *tandem.RestoreReport) (*tandem.SnapshotManifest, *snapshotContent, error) {
	folders, err := snapshotFoldersIn(ctx, src, id)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range folders {
		if !f.complete {
			continue
		}
		m, err := readSnapshotManifestIn(ctx, src, id, f.name)
		var content *snapshotContent
		if err == nil {
			content, err = readSnapshotContent(ctx, src, m)
		}
		if err != nil {
			r.Logger.Warn("unreadable snapshot skipped by restore", "id", id, "snapshot", f.name, "err", err)
			rep.SkippedSnapshots++
			continue
		}
		return m, content, nil
	}
	return nil, nil, tandem.Errorf(tandem.ENotFound, "no readable snapshot of workspace %s under %s in storage (%d unreadable)", id, tandem.SnapshotsPrefix(id), rep.SkippedSnapshots).WithTarget("workspace_id")
}

// restoredItems returns the snapshot's resources as items to commit,
// verbatim (their blob keys are the workspace's already), and the set of
// blob keys they reference.
func restoredItems(man *tandem.SnapshotManifest, content *snapshotContent) ([]*importItem, map[string]bool, error) {
	items := make([]*importItem, 0, len(content.resources))
	refs := map[string]bool{}
	for _, res := range content.resources {
		p, err := portable(res)
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "snapshot %s: %s", man.Name, err)
		}
		items = append(items, &importItem{res: p})
		for _, b := range res.Blobs {
			refs[b.Key] = true
		}
	}
	return items, refs, nil
}

// snapshotBlobs is the blobSource of a restore: the blobs of workspace id
// in src, a missing one reported as referenced by the snapshot.
func snapshotBlobs(src tandem.BlobStore, id string) blobSource {
	stored := tandem.BlobSourceFunc(func(ctx context.Context, key string) (io.ReadCloser, error) {
		rc, err := src.Open(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil, tandem.Errorf(tandem.ENotFound, "blob %s, referenced by the snapshot, is missing from storage", key)
		}
		return rc, err
	})
	return func(ref tandem.BlobRef) (tandem.BlobSource, tandem.BlobRef, error) {
		return stored, tandem.BlobRef{Key: tandem.StoragePrefix(id) + ref.Key, SHA256: ref.SHA256, Size: ref.Size}, nil
	}
}

// reportUnattached reports in rep what the storage of workspace id holds
// that no restored resource references (refs).
func reportUnattached(ctx context.Context, src tandem.BlobStore, id string, refs map[string]bool, rep *tandem.RestoreReport) error {
	prefix := tandem.StoragePrefix(id)
	err := src.List(ctx, prefix, func(b tandem.BlobRef) error {
		rel := strings.TrimPrefix(b.Key, prefix)
		if digestExcludedBlob(rel) || refs[b.Key] {
			return nil
		}
		rep.UnattachedCount++
		rep.UnattachedBytes += b.Size
		if len(rep.Unattached) < maxUnattachedListed {
			rep.Unattached = append(rep.Unattached, b)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list storage of workspace %s: %w", id, err)
	}
	return nil
}

// commitRestored writes restored resources like an import, except that a
// resource whose blob is missing from storage is reported and skipped
// rather than failing the whole restore.
func (r *Service) commitRestored(ctx context.Context, ws *tandem.Workspace, items []*importItem, src blobSource, rep *tandem.ImportReport) error {
	var ok []*importItem
	for _, it := range items {
		missing := ""
		for _, b := range it.res.Blobs {
			key := tandem.StoragePrefix(ws.ID) + b.Key
			if cur, err := r.Blobs.Stat(ctx, key); err == nil && cur.SHA256 == b.SHA256 && cur.Size == b.Size {
				continue
			}
			rc, err := openSource(ctx, src, b)
			if err != nil {
				if !tandem.IsCode(err, tandem.ENotFound) {
					return err
				}
				missing = key
				break
			}
			rc.Close()
		}
		if missing != "" {
			rep.Resources[tandem.ImportConflicted]++
			rep.Kinds[string(it.res.Kind)+"/"+tandem.ImportConflicted]++
			rep.Conflicts = append(rep.Conflicts, tandem.ImportConflict{Kind: it.res.Kind, Name: it.res.Name, Version: it.res.Version,
				Reason: "not restored: blob " + missing + " is missing from storage"})
			continue
		}
		ok = append(ok, it)
	}
	return r.commitItems(ctx, ws, ok, src, rep)
}

// openSource opens the bytes src names for the portable ref, unverified:
// commitRestored only looks whether they are there.
func openSource(ctx context.Context, src blobSource, ref tandem.BlobRef) (io.ReadCloser, error) {
	store, from, err := src(ref)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, from.Key)
}

// restoreWorkspaceRow returns the workspace with the snapshot's id,
// creating it (with that id, under name) when the region does not have it.
func (r *Service) restoreWorkspaceRow(ctx context.Context, snap *tandem.Workspace, name string) (*tandem.Workspace, bool, error) {
	var existing *tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := tx.FindWorkspaceByID(ctx, snap.ID)
		if err == nil {
			existing = ws
			return nil
		}
		if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		return region.NameFree(ctx, tx, name)
	})
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		if existing.Deleted() {
			return nil, false, tandem.Errorf(tandem.EConflict, "workspace %s exists here as %q and is deleted; recover it instead", snap.ID, existing.Name)
		}
		if err := r.CheckWritable(ctx, existing.ID); err != nil {
			return nil, false, err
		}
		return existing, false, nil
	}
	now := r.Timestamp()
	w := &tandem.Workspace{
		ID: snap.ID, Name: name, DisplayName: snap.DisplayName, Description: snap.Description, Tags: snap.Tags,
		Region: r.Name, CreatedAt: snap.CreatedAt.UTC(), UpdatedAt: now,
		Resources: tandem.WorkspaceResources{
			Storage:             tandem.StoragePrefix(snap.ID),
			KeyVault:            "vault/" + snap.ID,
			ApplicationInsights: "insights/" + snap.ID,
			ContainerRegistry:   "registry/" + snap.ID,
		},
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	marker, err := json.MarshalIndent(map[string]string{"id": w.ID, "name": w.Name, "region": w.Region}, "", "  ")
	if err != nil {
		return nil, false, err
	}
	if _, err := r.Blobs.Put(ctx, w.Resources.Storage+region.WorkspaceMarker, strings.NewReader(string(marker)), nil); err != nil {
		return nil, false, fmt.Errorf("write storage marker of workspace %q: %w", w.Name, err)
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := region.NameFree(ctx, tx, w.Name); err != nil {
			return err
		}
		if err := tx.CreateWorkspace(ctx, w); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, w.ID, tandem.KindWorkspace, w.Name, "", tandem.OpCreate, w)
	})
	if err != nil {
		return nil, false, err
	}
	return w, true, nil
}

// restoreTokens brings back the snapshot's workspace tokens (by the hash of
// their secret, so the same secrets work again). A token whose name the
// region uses for another token is skipped with a warning.
func (r *Service) restoreTokens(ctx context.Context, ws *tandem.Workspace, tokens []*tandem.SnapshotToken, rep *tandem.RestoreReport) error {
	for _, st := range tokens {
		t := st.Token
		t.WorkspaceID, t.Workspace, t.Hash = ws.ID, ws.Name, st.Hash
		err := r.Store.Update(ctx, func(tx tandem.Tx) error {
			if cur, err := tx.FindTokenByHash(ctx, t.Hash); err == nil {
				if cur.WorkspaceID == ws.ID && cur.Name == t.Name {
					return nil
				}
				return tandem.Errorf(tandem.EConflict, "another token holds its secret")
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			if err := tx.CreateToken(ctx, &t); err != nil {
				return err
			}
			rep.Tokens++
			return r.LogChange(ctx, tx, ws.ID, tandem.KindToken, t.Name, "", tandem.OpCreate, region.TokenRecord{Token: &t, Hash: t.Hash})
		})
		if tandem.IsCode(err, tandem.EConflict) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("token %q not restored: %s", t.Name, tandem.ErrorMessage(err)))
			continue
		}
		if err != nil {
			return fmt.Errorf("restore token %q: %w", t.Name, err)
		}
	}
	return nil
}
