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
	src := newPutReader(ctx, key, r, want, late.set)
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
		return tandem.BlobRef{}, readFailed(src.err)
	} else if err != nil {
		return tandem.BlobRef{}, s.fail("put", key, err)
	}
	return src.ref(), nil
}

// write copies src into key through a gocloud writer (the mem backend's)
// that it aborts, by cancelling its context before closing it, when the
// copy fails. (The azblob backend does not come here: gocloud v0.47's
// azureblob writer panics when it is closed after a failed upload. Its
// Upload path aborts by itself when src fails, before the Azure SDK
// commits. The file backend has writeFile.)
func (s *Store) write(ctx context.Context, cancel func(), key string, src *putReader, opts *blob.WriterOptions) error {
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
	src := newPutReader(ctx, key, r, want, nil)
	data, err := io.ReadAll(src)
	if err != nil {
		return tandem.BlobRef{}, readFailed(err)
	}
	ref := src.ref()
	opts := &blob.WriterOptions{ContentType: contentType(key), Metadata: metadata(ref)}
	if err := s.bucket.Upload(ctx, key, bytes.NewReader(data), opts); err != nil {
		return tandem.BlobRef{}, s.fail("put", key, err)
	}
	return ref, nil
}

func checkWant(key string, want *tandem.BlobRef) error {
	if want != nil && !tandem.ValidSHA256(want.SHA256) {
		return tandem.Errorf(tandem.EInvalid,
			"blob %q: expected sha256 %q is not 64 lower-case hex digits (pass no expectation to accept any bytes)",
			key, want.SHA256)
	}
	return nil
}

// readFailed returns the error that ended reading Put's source: as it is
// when it has a code, otherwise (already naming the blob) marked as a
// failure to read the data.
func readFailed(err error) error {
	var te *tandem.Error
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("blob put: reading data: %w", err)
}

func contentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// putReader is Put's source: r read through a tandem.VerifyingReader,
// which checks the bytes against want when there is one (so that no writer
// commits others: it fails as soon as more than want.Size bytes arrive, and
// instead of io.EOF when they differ) and hashes them in any case. It stops
// when ctx is done, keeps the error that ended reading other than io.EOF,
// and calls atEOF, if set, with the ref before it returns io.EOF.
type putReader struct {
	ctx   context.Context
	v     *tandem.VerifyingReader
	key   string
	atEOF func(tandem.BlobRef)
	err   error
}

func newPutReader(ctx context.Context, key string, r io.Reader, want *tandem.BlobRef, atEOF func(tandem.BlobRef)) *putReader {
	what := fmt.Sprintf("blob %q", key)
	v := tandem.HashReader(r, what)
	if want != nil {
		v = tandem.VerifyReader(r, tandem.BlobRef{Key: key, SHA256: want.SHA256, Size: want.Size}, what)
	}
	return &putReader{ctx: ctx, v: v, key: key, atEOF: atEOF}
}

func (p *putReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		p.err = fmt.Errorf("blob %q: %w", p.key, err) // the Azure SDK would read on to the end
		return 0, p.err
	}
	n, err := p.v.Read(b)
	if err == io.EOF && p.atEOF != nil {
		p.atEOF(p.ref())
	} else if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}

// ref returns the key and the digest of the bytes read.
func (p *putReader) ref() tandem.BlobRef {
	ref := p.v.Ref()
	ref.Key = p.key
	return ref
}
