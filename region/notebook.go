package region

import (
	"context"
	"encoding/json"
	"io"
	"path"
	"strings"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
)

const maxNotebookPath = 512

// notebookKey returns the storage key of a file of a workspace's share.
func notebookKey(wsID, rel string) string {
	return tandem.StoragePrefix(wsID) + "notebooks/" + rel
}

// cleanNotebookPath checks a share-relative path and returns its clean form.
func cleanNotebookPath(p string) (string, error) {
	bad := func(why string) error {
		return tandem.Errorf(tandem.EInvalid, "invalid notebook path %q: %s", p, why).WithTarget("path")
	}
	switch {
	case p == "":
		return "", bad("it is empty")
	case len(p) > maxNotebookPath:
		return "", bad("it is too long")
	case strings.HasPrefix(p, "/"):
		return "", bad("it must be relative to the notebook share")
	case strings.ContainsAny(p, "\\\x00"):
		return "", bad("it contains a backslash or NUL")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", bad("it must not contain '..'")
		}
	}
	clean := path.Clean(p)
	if clean == "." {
		return "", bad("it names no file")
	}
	return clean, nil
}

func notebookFromResource(res *tandem.Resource) *tandem.Notebook {
	nb := &tandem.Notebook{Path: res.Name, UpdatedAt: res.UpdatedAt}
	if len(res.Blobs) > 0 {
		nb.SHA256, nb.Size = res.Blobs[0].SHA256, res.Blobs[0].Size
	}
	return nb
}

// UploadNotebook stores a file of the workspace's notebook share, in three
// steps so that a crash at any point loses nothing and corrupts nothing:
// the bytes land in the staging area (atomically), the record, its
// change-log entry and a note of the pending copy commit in one
// transaction, then the bytes are copied to their readable path
// workspaces/<id>/notebooks/<path>. A copy cut short is finished by the
// next reader of the file, by the replication feed, or at the next start
// (FinishPendingWrites).
func (r *Region) UploadNotebook(ctx context.Context, workspace, p string, body io.Reader) (*tandem.Notebook, error) {
	rel, err := cleanNotebookPath(p)
	if err != nil {
		return nil, err
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	staged, err := r.Blobs.Put(ctx, tandem.StoragePrefix(ws.ID)+"staging/upload-"+uuid.NewString(), r.limitUpload("notebook file "+rel, body), nil)
	if err != nil {
		return nil, err
	}
	final := tandem.BlobRef{Key: notebookKey(ws.ID, rel), SHA256: staged.SHA256, Size: staged.Size}
	now := r.Timestamp()
	res := &tandem.Resource{
		WorkspaceID: ws.ID,
		Kind:        tandem.KindNotebook,
		Name:        rel,
		Blobs:       []tandem.BlobRef{final},
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	res.Spec, _ = json.Marshal(map[string]any{"path": rel})
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if _, err := r.LiveWorkspace(ctx, tx, workspace); err != nil {
			return err
		}
		op := tandem.OpCreate
		if old, err := tx.FindResource(ctx, res.Key()); err == nil {
			op, res.CreatedAt = tandem.OpUpdate, old.CreatedAt
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		if err := PutPending(ctx, tx, final, staged.Key); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindNotebook, rel, "", op, res)
	})
	if err != nil {
		r.RemoveBlobs(ctx, []tandem.BlobRef{staged})
		return nil, err
	}
	if err := r.FinishPending(ctx, final.Key); err != nil {
		r.Logger.Warn("notebook copy left pending; the next read finishes it", "key", final.Key, "err", err)
	}
	return notebookFromResource(res), nil
}

// ListNotebooks returns the files of the workspace's share, ordered by path.
func (r *Region) ListNotebooks(ctx context.Context, workspace string) ([]*tandem.Notebook, error) {
	var out []*tandem.Notebook
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindNotebook})
		for _, res := range list {
			out = append(out, notebookFromResource(res))
		}
		return err
	})
	return out, err
}

// OpenNotebook returns a file's metadata and a reader that verifies its
// sha256 and size as it reaches the end.
func (r *Region) OpenNotebook(ctx context.Context, workspace, p string) (*tandem.Notebook, io.ReadCloser, error) {
	rel, err := cleanNotebookPath(p)
	if err != nil {
		return nil, nil, err
	}
	var res *tandem.Resource
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		res, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindNotebook, Name: rel})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "notebook file %q not found in workspace %q", rel, workspace).WithTarget(rel)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if len(res.Blobs) == 0 {
		return nil, nil, tandem.Errorf(tandem.EInternal, "notebook file %q has no blob", rel)
	}
	if err := r.FinishPending(ctx, res.Blobs[0].Key); err != nil {
		return nil, nil, err
	}
	rc, err := r.Blobs.OpenVerified(ctx, res.Blobs[0])
	if err != nil {
		return nil, nil, err
	}
	return notebookFromResource(res), rc, nil
}
