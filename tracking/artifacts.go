package tracking

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
)

var _ tandem.ArtifactService = (*Service)(nil)

// The artifacts MLflow's artifact proxy stores are files of the run's
// outputs folder (runs/<run>/outputs/<rest>), recorded on the run's job
// like the outputs its process writes: in the job resource's blobs and its
// Outputs, each write one update of the job with one change entry. So
// `tandem job download` and the job's outputs see them, and replication
// copies them with the job's change, as it copies synced outputs: the
// entry names every blob the job references, with its sha256 and size.

// artifactPath is a parsed MLflow artifact path,
// "<experiment_id>/<run_id>/artifacts/<rest>".
type artifactPath struct {
	run  string
	rest string // relative to the run's artifact root; "" is the root
	// runDir marks "<experiment_id>/<run_id>", the folder above the root.
	runDir bool
}

// parseArtifactPath checks an artifact path. A file's path must name
// something under the run's artifact root; a directory may be the root,
// or the run's folder above it.
func parseArtifactPath(p string, file bool) (artifactPath, error) {
	bad := func(why string) (artifactPath, error) {
		return artifactPath{}, tandem.Errorf(tandem.EInvalid, "invalid artifact path %q: %s", p, why).WithTarget("path")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return bad("it must be relative, <experiment_id>/<run_id>/artifacts/<path>")
	}
	if !file {
		p = strings.TrimSuffix(p, "/")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return bad("empty, '.' and '..' segments are not allowed")
		}
	}
	switch {
	case len(segs) == 2 && !file:
		return artifactPath{run: segs[1], runDir: true}, nil
	case len(segs) < 3 || segs[2] != "artifacts":
		return bad("a run's artifacts are under <experiment_id>/<run_id>/artifacts/")
	case len(segs) == 3 && file:
		return bad("it names the artifact root, not a file")
	}
	return artifactPath{run: segs[1], rest: strings.Join(segs[3:], "/")}, nil
}

// key is where the artifact's bytes live.
func (a artifactPath) key(wsID string) string {
	k := tandem.StoragePrefix(wsID) + tandem.JobOutputFolder(a.run)
	if a.rest != "" {
		k += a.rest
	}
	return k
}

// artifactRun finds the workspace and the job resource of an artifact
// call; write calls with a job token are refused once the job has ended.
func artifactRun(ctx context.Context, tx tandem.Tx, workspace, run string, write bool) (*tandem.Workspace, *tandem.Resource, error) {
	ws, err := runWorkspace(ctx, tx, workspace, run)
	if err != nil {
		return nil, nil, err
	}
	if _, err := findRunJob(ctx, tx, ws, run); err != nil {
		return nil, nil, err
	}
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: run})
	if err != nil {
		return nil, nil, err
	}
	if write {
		j, err := jobs.JobFromResource(res)
		if err != nil {
			return nil, nil, err
		}
		if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" && tandem.JobDone(j.Status) {
			return nil, nil, tandem.Errorf(tandem.EForbidden, "job %q has ended (%s); its token no longer writes its artifacts", run, j.Status)
		}
	}
	return ws, res, nil
}

// updateRunBlobs changes the blobs recorded on a run's job with edit, and
// the job's Outputs with them, in tx, with one change entry.
func (r *Service) updateRunBlobs(ctx context.Context, tx tandem.Tx, workspace, run string, edit func(wsID string, blobs []tandem.BlobRef) ([]tandem.BlobRef, error)) error {
	ws, res, err := artifactRun(ctx, tx, workspace, run, true)
	if err != nil {
		return err
	}
	j, err := jobs.JobFromResource(res)
	if err != nil {
		return err
	}
	if res.Blobs, err = edit(ws.ID, res.Blobs); err != nil {
		return err
	}
	prefix := tandem.StoragePrefix(ws.ID) + tandem.JobOutputFolder(run)
	j.Outputs = nil
	for _, b := range res.Blobs {
		if rel, ok := strings.CutPrefix(b.Key, prefix); ok {
			o, _, _ := strings.Cut(rel, "/")
			j.Outputs = append(j.Outputs, tandem.AssetFile{Field: o, Path: rel, SHA256: b.SHA256, Size: b.Size})
		}
	}
	sort.Slice(j.Outputs, func(a, b int) bool { return j.Outputs[a].Path < j.Outputs[b].Path })
	if res.Spec, err = json.Marshal(j); err != nil {
		return err
	}
	res.UpdatedAt = r.Timestamp()
	if err := tx.PutResource(ctx, res); err != nil {
		return err
	}
	return r.LogChange(ctx, tx, ws.ID, tandem.KindJob, run, "", tandem.OpUpdate, res)
}

// checkUnreferenced refuses to change the artifacts whose keys match when
// a model or data version references them (a version registered from the
// run's artifacts or outputs): a referenced blob never changes.
func checkUnreferenced(ctx context.Context, tx tandem.Tx, wsID, p string, match func(key string) bool) error {
	for _, kind := range []tandem.Kind{tandem.KindModel, tandem.KindData} {
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: kind})
		if err != nil {
			return err
		}
		for _, res := range list {
			if slices.ContainsFunc(res.Blobs, func(b tandem.BlobRef) bool { return match(b.Key) }) {
				return tandem.Errorf(tandem.EConflict, "artifact %q holds files of %s %s version %s, which are immutable; log the new files under another path", p, kind, res.Name, res.Version).WithTarget("path")
			}
		}
	}
	return nil
}

// PutArtifact stores one artifact, streamed into the run's outputs folder
// under the upload limit, and records it on the run's job.
func (r *Service) PutArtifact(ctx context.Context, workspace, p string, size int64, body io.Reader) (*tandem.ArtifactFile, error) {
	ap, err := parseArtifactPath(p, true)
	if err != nil {
		return nil, err
	}
	if size >= 0 {
		if err := r.CheckUploadSize("artifact "+p, size); err != nil {
			return nil, err
		}
	}
	// One upload of a path at a time in this process, so that the ref
	// recorded is the one of the bytes stored last.
	unlock := r.LockAsset(workspace, "artifact", ap.run+"/"+ap.rest)
	defer unlock()
	var ws *tandem.Workspace
	existed := false
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		var res *tandem.Resource
		if ws, res, err = artifactRun(ctx, tx, workspace, ap.run, true); err != nil {
			return err
		}
		existed = slices.ContainsFunc(res.Blobs, func(b tandem.BlobRef) bool { return b.Key == ap.key(ws.ID) })
		if existed {
			return checkUnreferenced(ctx, tx, ws.ID, p, func(k string) bool { return k == ap.key(ws.ID) })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	ref, err := r.Blobs.Put(ctx, ap.key(ws.ID), r.LimitUpload("artifact "+p, body), nil)
	if err != nil {
		return nil, err
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		return r.updateRunBlobs(ctx, tx, workspace, ap.run, func(_ string, blobs []tandem.BlobRef) ([]tandem.BlobRef, error) {
			blobs = slices.DeleteFunc(blobs, func(b tandem.BlobRef) bool { return b.Key == ref.Key })
			return append(blobs, ref), nil
		})
	})
	if err != nil {
		if !existed {
			r.RemoveBlobs(ctx, []tandem.BlobRef{ref})
		}
		return nil, err
	}
	return &tandem.ArtifactFile{Path: ap.rest, Size: ref.Size, SHA256: ref.SHA256}, nil
}

// OpenArtifact returns a verifying reader over one artifact: its last Read
// fails with ECorrupt when the stored bytes are not the recorded ones.
func (r *Service) OpenArtifact(ctx context.Context, workspace, p string) (*tandem.ArtifactFile, io.ReadCloser, error) {
	ap, err := parseArtifactPath(p, true)
	if err != nil {
		return nil, nil, err
	}
	var ref *tandem.BlobRef
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, res, err := artifactRun(ctx, tx, workspace, ap.run, false)
		if err != nil {
			return err
		}
		for _, b := range res.Blobs {
			if b.Key == ap.key(ws.ID) {
				ref = &b
				return nil
			}
		}
		return tandem.Errorf(tandem.ENotFound, "run %q has no artifact %q", ap.run, ap.rest).WithTarget(p)
	})
	if err != nil {
		return nil, nil, err
	}
	rc, err := r.Blobs.OpenVerified(ctx, *ref)
	if err != nil {
		return nil, nil, err
	}
	return &tandem.ArtifactFile{Path: ap.rest, Size: ref.Size, SHA256: ref.SHA256}, rc, nil
}

// ListArtifacts lists the direct entries of an artifact directory.
func (r *Service) ListArtifacts(ctx context.Context, workspace, dir string) ([]tandem.ArtifactFile, error) {
	ap, err := parseArtifactPath(dir, false)
	if err != nil {
		return nil, err
	}
	out := []tandem.ArtifactFile{}
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, res, err := artifactRun(ctx, tx, workspace, ap.run, false)
		if err != nil {
			return err
		}
		prefix := ap.key(ws.ID)
		if ap.rest != "" {
			prefix += "/"
		}
		seen := map[string]bool{}
		for _, b := range res.Blobs {
			rel, ok := strings.CutPrefix(b.Key, prefix)
			if !ok {
				continue
			}
			if ap.runDir {
				rel = "artifacts/" + rel
			}
			name, _, isDir := strings.Cut(rel, "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			f := tandem.ArtifactFile{Path: name, IsDir: isDir}
			if !isDir {
				f.Size, f.SHA256 = b.Size, b.SHA256
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out, nil
}

// DeleteArtifact removes an artifact file, or every artifact under a
// directory: from the job's record in one change, then from storage.
func (r *Service) DeleteArtifact(ctx context.Context, workspace, p string) error {
	ap, err := parseArtifactPath(p, true)
	if err != nil {
		return err
	}
	var gone []tandem.BlobRef
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		gone = nil
		ws, err := runWorkspace(ctx, tx, workspace, ap.run)
		if err != nil {
			return err
		}
		k := ap.key(ws.ID)
		if err := checkUnreferenced(ctx, tx, ws.ID, p, func(b string) bool { return b == k || strings.HasPrefix(b, k+"/") }); err != nil {
			return err
		}
		return r.updateRunBlobs(ctx, tx, workspace, ap.run, func(wsID string, blobs []tandem.BlobRef) ([]tandem.BlobRef, error) {
			k := ap.key(wsID)
			var keep []tandem.BlobRef
			for _, b := range blobs {
				if b.Key == k || strings.HasPrefix(b.Key, k+"/") {
					gone = append(gone, b)
				} else {
					keep = append(keep, b)
				}
			}
			if len(gone) == 0 {
				return nil, tandem.Errorf(tandem.ENotFound, "run %q has no artifact %q", ap.run, ap.rest).WithTarget(p)
			}
			return keep, nil
		})
	})
	if err != nil {
		return err
	}
	r.RemoveBlobs(ctx, gone)
	return nil
}
