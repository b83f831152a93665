package region

import (
	"context"
	"encoding/hex"
	"io"
	"strings"
	"sync"

	"github.com/tandemml/tandem"
)

// Where asset bytes live in a workspace's default storage.
func StagingKey(wsID, sha string) string { return tandem.StoragePrefix(wsID) + "staging/" + sha }

// CheckStaged checks that every file of a request was staged with the
// sha256 and size the request gives.
func (r *Region) CheckStaged(ctx context.Context, wsID string, files []tandem.AssetFile) error {
	for _, f := range files {
		ref, err := r.Blobs.Stat(ctx, StagingKey(wsID, f.SHA256))
		if tandem.IsCode(err, tandem.ENotFound) || (err == nil && (ref.SHA256 != f.SHA256 || ref.Size != f.Size)) {
			return tandem.Errorf(tandem.ENotFound, "file %q (sha256 %s) was not staged; upload it again", f.Path, f.SHA256).WithTarget(f.Path)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func ValidSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && strings.ToLower(s) == s
}

// StageBlob stores bytes by sha256 ahead of CreateAsset.
func (r *Region) StageBlob(ctx context.Context, workspace string, want tandem.BlobRef, body io.Reader) (tandem.BlobRef, error) {
	if !ValidSHA256(want.SHA256) {
		return tandem.BlobRef{}, tandem.Errorf(tandem.EInvalid, "staged blobs are named by their sha256 in lower-case hex, got %q", want.SHA256)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return tandem.BlobRef{}, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return tandem.BlobRef{}, err
	}
	if err := r.CheckUploadSize("file "+want.SHA256, want.Size); err != nil {
		return tandem.BlobRef{}, err
	}
	want.Key = StagingKey(ws.ID, want.SHA256)
	return r.Blobs.Put(ctx, want.Key, r.limitUpload("file "+want.SHA256, body), &want)
}

// StagedBlob reports whether bytes with this sha256 are staged.
func (r *Region) StagedBlob(ctx context.Context, workspace, sha string) (bool, error) {
	if !ValidSHA256(sha) {
		return false, tandem.Errorf(tandem.EInvalid, "staged blobs are named by their sha256 in lower-case hex, got %q", sha)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return false, err
	}
	ref, err := r.Blobs.Stat(ctx, StagingKey(ws.ID, sha))
	if tandem.IsCode(err, tandem.ENotFound) {
		return false, nil
	}
	return err == nil && ref.SHA256 == sha, err
}

func (r *Region) RemoveBlobs(ctx context.Context, refs []tandem.BlobRef) {
	for _, b := range refs {
		if b.Key == "" {
			continue
		}
		if err := r.Blobs.Delete(context.WithoutCancel(ctx), b.Key); err != nil {
			r.Logger.Error("remove blob of failed write", "key", b.Key, "err", err)
		}
	}
}

// assetLocks serializes creates of one asset name within this process, so
// two requests never copy files into the same version folder at once.
// Across the servers of a region the storage check in copyStaged and the
// transaction's existence check keep versions consistent.
type assetLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (r *Region) LockAsset(wsID string, kind tandem.Kind, name string) (unlock func()) {
	al := &r.assetLocks
	key := wsID + "/" + string(kind) + "/" + name
	al.mu.Lock()
	if al.locks == nil {
		al.locks = map[string]*sync.Mutex{}
	}
	m, ok := al.locks[key]
	if !ok {
		m = &sync.Mutex{}
		al.locks[key] = m
	}
	al.mu.Unlock()
	m.Lock()
	return m.Unlock
}
