package blobstore

import (
	"context"
	"gocloud.dev/gcerrors"
	"io"
	"strconv"

	"gocloud.dev/blob"

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

// OpenVerified returns a reader over ref.Key that hashes what it reads. Its
// Read returns ECorrupt as soon as the blob turns out longer or shorter than
// ref.Size, and instead of io.EOF when the bytes do not hash to ref.SHA256.
func (s *Store) OpenVerified(ctx context.Context, ref tandem.BlobRef) (io.ReadCloser, error) {
	if err := checkKey(ref.Key); err != nil {
		return nil, err
	}
	if !validSHA256(ref.SHA256) || ref.Size < 0 {
		return nil, tandem.Errorf(tandem.EInvalid,
			"blob %q: cannot verify against sha256 %q and size %d", ref.Key, ref.SHA256, ref.Size)
	}
	r, err := s.newReader(ctx, ref.Key)
	if err != nil {
		return nil, s.fail("open", ref.Key, err)
	}
	return &verifyingReader{r: r, ref: ref, d: newDigest()}, nil
}

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
	d := newDigest()
	if _, err := io.Copy(d, r); err != nil {
		return tandem.BlobRef{}, s.fail("stat", key, err)
	}
	return d.ref(key), nil
}

// recordedRef returns the ref recorded in a blob's metadata. A blob without
// a recorded size is taken to have the size the backend reports.
func recordedRef(key string, md map[string]string, size int64) (tandem.BlobRef, bool) {
	sum := md[metaSHA256]
	if !validSHA256(sum) {
		return tandem.BlobRef{}, false
	}
	if n, err := strconv.ParseInt(md[metaSize], 10, 64); err == nil && n >= 0 {
		size = n
	}
	return tandem.BlobRef{Key: key, SHA256: sum, Size: size}, true
}

// verifyingReader checks the bytes it passes on against ref; its first
// error sticks.
type verifyingReader struct {
	r       *blob.Reader
	ref     tandem.BlobRef
	d       *digest
	started bool
	err     error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if !v.started {
		v.started = true
		if size := v.r.Size(); size != v.ref.Size {
			v.err = tandem.Errorf(tandem.ECorrupt, "blob %q: expected sha256 %s and %d bytes, found %d bytes",
				v.ref.Key, v.ref.SHA256, v.ref.Size, size)
			return 0, v.err
		}
	}
	n, err := v.r.Read(p)
	v.d.Write(p[:n])
	switch {
	case v.d.n > v.ref.Size:
		v.err = tandem.Errorf(tandem.ECorrupt, "blob %q: expected sha256 %s and %d bytes, got more than %d bytes",
			v.ref.Key, v.ref.SHA256, v.ref.Size, v.ref.Size)
		return n, v.err
	case err == io.EOF:
		if got := v.d.ref(v.ref.Key); got != v.ref {
			err = mismatch(v.ref.Key, v.ref, got)
		}
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }
