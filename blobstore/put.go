package blobstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"sync"

	"gocloud.dev/blob"

	"github.com/tandemml/tandem"
)

// Put streams r into key, hashing as it writes, and commits the blob with
// its sha256 and size as metadata only when r ended without error and the
// bytes match want. On any failure the write is aborted before it commits,
// so that gocloud discards it: the previous blob under key, if any, stays
// as it was.
//
// want, when not nil, must carry a sha256; its Size is checked too when it is
// not negative, and reading stops as soon as r overruns it.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, want *tandem.BlobRef) (tandem.BlobRef, error) {
	if err := checkKey(key); err != nil {
		return tandem.BlobRef{}, err
	}
	if err := checkWant(key, want); err != nil {
		return tandem.BlobRef{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// gocloud takes metadata when the writer is created. When want does
	// not tell the digest in advance, the backend records it at commit.
	known := want != nil && want.Size >= 0
	if !known && s.kind == kindMem {
		return s.putBuffered(ctx, key, r, want)
	}
	late := newLateMetadata()
	src := &hashingReader{ctx: ctx, r: r, d: newDigest(), key: key, want: want, atEOF: late.set}
	opts := &blob.WriterOptions{ContentType: contentType(key)}
	if known {
		opts.Metadata = metadata(*want)
	}
	var err error
	if s.kind == kindAzure {
		if !known {
			opts.BeforeWrite = late.beforeWrite
		}
		err = s.bucket.Upload(ctx, key, src, opts)
	} else if s.kind == kindFile {
		err = s.writeFile(ctx, key, src, opts)
	} else {
		err = s.write(ctx, cancel, key, src, opts)
	}
	if src.err != nil {
		return tandem.BlobRef{}, readFailed(key, src.err)
	} else if err != nil {
		return tandem.BlobRef{}, s.fail("put", key, err)
	}
	return src.d.ref(key), nil
}

// write copies src into key through a gocloud writer (the mem backend's)
// that it aborts, by cancelling its context before closing it, when the
// copy fails. (The azblob backend does not come here: gocloud v0.47's
// azureblob writer panics when it is closed after a failed upload. Its
// Upload path aborts by itself when src fails, before the Azure SDK
// commits. The file backend has writeFile.)
func (s *Store) write(ctx context.Context, cancel func(), key string, src *hashingReader, opts *blob.WriterOptions) error {
	w, err := s.bucket.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	// Not io.Copy: through the writer's ReadFrom, gocloud allocates a
	// 1 MiB buffer per blob.
	buf := copyBuffers.Get().(*[]byte)
	_, err = io.CopyBuffer(writerOnly{w}, src, *buf)
	copyBuffers.Put(buf)
	if err != nil {
		cancel()
		w.Close()
		return err
	}
	return w.Close()
}

// copyBuffers are the buffers of write's and writeFile's copies: a
// buffer per blob, as gocloud's io.Copy path allocates, dominated the cost
// of writing small blobs (profiled while replicating 10 000 notebooks).
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides every method of a writer but Write.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }

// putBuffered serves the mem backend, which keeps the blob in memory anyway,
// when the digest is not known in advance: it hashes, then writes once.
func (s *Store) putBuffered(ctx context.Context, key string, r io.Reader, want *tandem.BlobRef) (tandem.BlobRef, error) {
	src := &hashingReader{ctx: ctx, r: r, d: newDigest(), key: key, want: want}
	data, err := io.ReadAll(src)
	if err != nil {
		return tandem.BlobRef{}, readFailed(key, err)
	}
	ref := src.d.ref(key)
	opts := &blob.WriterOptions{ContentType: contentType(key), Metadata: metadata(ref)}
	if err := s.bucket.Upload(ctx, key, bytes.NewReader(data), opts); err != nil {
		return tandem.BlobRef{}, s.fail("put", key, err)
	}
	return ref, nil
}

func checkWant(key string, want *tandem.BlobRef) error {
	if want != nil && !validSHA256(want.SHA256) {
		return tandem.Errorf(tandem.EInvalid,
			"blob %q: expected sha256 %q is not 64 lower-case hex digits (pass no expectation to accept any bytes)",
			key, want.SHA256)
	}
	return nil
}

func readFailed(key string, err error) error {
	var te *tandem.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("blob put %q: reading data: %w", key, err)
}

func contentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// hashingReader hashes and counts what it reads and keeps the error that
// ended reading, other than io.EOF. It stops with ECorrupt as soon as more
// than want.Size bytes arrive, and, at the end of r, instead of io.EOF when
// the bytes do not match want, so that no writer commits them; otherwise it
// calls atEOF with the ref before it returns io.EOF.
type hashingReader struct {
	ctx   context.Context
	r     io.Reader
	d     *digest
	key   string
	want  *tandem.BlobRef
	atEOF func(tandem.BlobRef)
	err   error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		h.err = err // the Azure SDK would read on to the end
		return 0, err
	}
	n, err := h.r.Read(p)
	h.d.Write(p[:n])
	want := h.want
	switch {
	case want != nil && want.Size >= 0 && h.d.n > want.Size:
		err = tandem.Errorf(tandem.ECorrupt, "blob %q: expected sha256 %s and %d bytes, got more than %d bytes",
			h.key, want.SHA256, want.Size, want.Size)
	case err == io.EOF:
		ref := h.d.ref(h.key)
		if want != nil && (want.SHA256 != ref.SHA256 || want.Size >= 0 && want.Size != ref.Size) {
			err = mismatch(h.key, tandem.BlobRef{SHA256: want.SHA256, Size: want.Size}, ref)
		} else if h.atEOF != nil {
			h.atEOF(ref)
		}
	}
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}
