package blobstore

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"gocloud.dev/gcerrors"

	"github.com/tandemml/tandem"
)

// Open returns the blob's bytes, unverified. ENotFound if missing.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	r, err := s.newReader(ctx, key)
	if err != nil {
		return nil, s.fail("open", key, err)
	}
	return r, nil
}

// OpenVerified returns a reader over ref.Key that hashes what it reads
// (tandem.VerifyReader). Its Read returns ECorrupt as soon as the blob turns
// out longer or shorter than ref.Size (at the first Read when the backend
// reports another size), and instead of io.EOF when the bytes do not hash to
// ref.SHA256.
func (s *Store) OpenVerified(ctx context.Context, ref tandem.BlobRef) (io.ReadCloser, error) {
	if err := checkKey(ref.Key); err != nil {
		return nil, err
	}
	if !tandem.ValidSHA256(ref.SHA256) || ref.Size < 0 {
		return nil, tandem.Errorf(tandem.EInvalid,
			"blob %q: cannot verify against sha256 %q and size %d", ref.Key, ref.SHA256, ref.Size)
	}
	r, err := s.newReader(ctx, ref.Key)
	if err != nil {
		return nil, s.fail("open", ref.Key, err)
	}
	if size := r.Size(); size != ref.Size {
		return &failedReader{c: r, err: tandem.Errorf(tandem.ECorrupt, "blob %q: expected sha256 %s and %d bytes, found %d bytes",
			ref.Key, ref.SHA256, ref.Size, size)}, nil
	}
	return tandem.VerifyReadCloser(r, ref, fmt.Sprintf("blob %q", ref.Key)), nil
}

// failedReader is a blob whose every Read fails with err.
type failedReader struct {
	c   io.Closer
	err error
}

func (f *failedReader) Read([]byte) (int, error) { return 0, f.err }
func (f *failedReader) Close() error             { return f.c.Close() }

// Stat returns the sha256 and size recorded with the blob, or, for a blob
// written by another tool without them, computes them by reading it.
func (s *Store) Stat(ctx context.Context, key string) (tandem.BlobRef, error) {
	if err := checkKey(key); err != nil {
		return tandem.BlobRef{}, err
	}
	a, err := s.attributes(ctx, key)
	if err != nil && gcerrors.Code(err) == gcerrors.NotFound {
		return tandem.BlobRef{}, s.fail("stat", key, err)
	}
	// A blob whose attributes cannot be read (a sidecar torn by a crash,
	// say) is stated from its bytes, like one written by another tool.
	if err == nil {
		if ref, ok := recordedRef(key, a.Metadata, a.Size); ok {
			return ref, nil
		}
	}
	r, err := s.newReader(ctx, key)
	if err != nil {
		return tandem.BlobRef{}, s.fail("stat", key, err)
	}
	defer r.Close()
	h := tandem.HashReader(r, fmt.Sprintf("blob %q", key))
	if _, err := io.Copy(io.Discard, h); err != nil {
		return tandem.BlobRef{}, s.fail("stat", key, err)
	}
	ref := h.Ref()
	ref.Key = key
	return ref, nil
}

// recordedRef returns the ref recorded in a blob's metadata. A blob without
// a recorded size is taken to have the size the backend reports.
func recordedRef(key string, md map[string]string, size int64) (tandem.BlobRef, bool) {
	sum := md[metaSHA256]
	if !tandem.ValidSHA256(sum) {
		return tandem.BlobRef{}, false
	}
	if n, err := strconv.ParseInt(md[metaSize], 10, 64); err == nil && n >= 0 {
		size = n
	}
	return tandem.BlobRef{Key: key, SHA256: sum, Size: size}, true
}
