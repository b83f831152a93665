package jobs

import (
	"context"

	"github.com/tandemml/tandem"
)

// codeStoreSHA256 marks jobs whose code files live in the workspace's
// content-addressed code store.
const codeStoreSHA256 = "sha256"

// codeKey is where a code file of a job is stored.
func codeKey(wsID string, j *tandem.Job, f tandem.AssetFile) string {
	if j.CodeStore == codeStoreSHA256 {
		return tandem.StoragePrefix(wsID) + "code/" + f.SHA256
	}
	return tandem.StoragePrefix(wsID) + tandem.RunFolder(j.Name) + f.Path
}

// storeCode puts a code file into the content-addressed code store,
// reading it from src, unless the store already holds that content. Code
// files are never removed when a job creation fails: another job may share
// them, and a leftover is harmless (the workspace's purge removes it).
func (r *Service) storeCode(ctx context.Context, wsID string, src tandem.BlobRef) (tandem.BlobRef, error) {
	key := tandem.StoragePrefix(wsID) + "code/" + src.SHA256
	if have, err := r.Blobs.Stat(ctx, key); err == nil && have.SHA256 == src.SHA256 && have.Size == src.Size {
		return have, nil
	}
	return tandem.CopyBlob(ctx, r.Blobs, key, r.Blobs, src)
}

// addBlob appends ref unless blobs already names its key.
func addBlob(blobs []tandem.BlobRef, ref tandem.BlobRef) []tandem.BlobRef {
	for _, b := range blobs {
		if b.Key == ref.Key {
			return blobs
		}
	}
	return append(blobs, ref)
}
