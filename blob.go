package tandem

import (
	"context"
	"io"
)

// BlobRef identifies verified bytes: where they are and what they hash to
// (invariant 2). SHA256 is lower-case hex.
type BlobRef struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// BlobStore holds the bytes behind resources under readable keys such as
// workspaces/<id>/notebooks/a.ipynb. Keys are slash-separated, relative, and
// contain no "." or ".." segments; a bad key is EInvalid.
//
// Writes are atomic: a reader sees the old blob, the whole new blob, or no
// blob, never a part. Every write records sha256 and size with the blob.
type BlobStore interface {
	// Put stores everything read from r under key and returns its ref.
	// When want.SHA256 (or want.Size >= 0 with a hash) is given and the
	// bytes differ, Put returns ECorrupt and stores nothing. Pass nil to
	// accept any bytes. Put replaces an existing blob atomically.
	Put(ctx context.Context, key string, r io.Reader, want *BlobRef) (BlobRef, error)
	// Open returns the blob's bytes, unverified. ENotFound if missing.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// OpenVerified returns a reader over ref.Key whose final Read (the one
	// returning io.EOF) returns an ECorrupt error instead when the bytes do
	// not match ref.SHA256 and ref.Size, as VerifyReader's does. To copy a
	// blob into a store, use CopyBlob.
	OpenVerified(ctx context.Context, ref BlobRef) (io.ReadCloser, error)
	// Stat returns the recorded ref of a blob. ENotFound if missing.
	Stat(ctx context.Context, key string) (BlobRef, error)
	// List calls fn for each blob whose key starts with prefix, in key
	// order, stopping at fn's first error.
	List(ctx context.Context, prefix string, fn func(BlobRef) error) error
	// Delete removes a blob. Deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every blob under prefix and returns how many.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
	// Ping checks that the storage is reachable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}
