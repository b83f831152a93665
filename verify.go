package tandem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Invariant 2 ("blobs are verified bytes") as one primitive: every copy of
// a blob reads it through a VerifyingReader, and every copy into a
// BlobStore is one CopyBlob.
//
// What a VerifyingReader guarantees:
//
//   - It passes the source's bytes through unchanged while it hashes and
//     counts them; Ref returns the sha256 and size of what it passed on.
//   - With an expectation (VerifyReader), the Read that would return
//     io.EOF returns an ECorrupt error instead when the bytes differ from
//     want in sha256 or in size; no earlier Read fails for a difference in
//     content. A want.SHA256 that is empty or malformed never matches, so a
//     missing digest is a mismatch, not a pass.
//   - When want.Size is not negative, it never passes on more than
//     want.Size bytes and reads at most want.Size+1 from the source: the
//     Read that meets the first extra byte fails with ECorrupt at once.
//   - A source error other than io.EOF ends reading. One that carries a
//     code (*Error) passes through unchanged; any other is wrapped with
//     what and how many bytes had arrived, keeping it in the chain, or
//     becomes an *Error with the code set by InterruptedAs.
//   - The first error sticks: every later Read returns it again.
//
// Limits: it is not safe for concurrent use; it checks the bytes, not
// where they came from; the caller decides what to do with bytes it passed
// on before the final Read failed (write them to a temp file, or into a
// BlobStore.Put, which commits nothing that ended in an error).
type VerifyingReader struct {
	r     io.Reader
	c     io.Closer // closed by Close; nil for VerifyReader and HashReader
	want  BlobRef
	check bool // false for HashReader: nothing to compare with
	what  string
	code  string // InterruptedAs
	h     hash.Hash
	n     int64
	err   error // sticky: io.EOF or the error that ended reading
}

// VerifyReader returns a reader over r that checks its bytes against
// want.SHA256 and, when want.Size >= 0, want.Size. what names the bytes in
// errors (`blob "k"`, `download of "a.txt"`).
func VerifyReader(r io.Reader, want BlobRef, what string) *VerifyingReader {
	return &VerifyingReader{r: r, want: want, check: true, what: what, h: sha256.New()}
}

// VerifyReadCloser is VerifyReader whose Close closes rc.
func VerifyReadCloser(rc io.ReadCloser, want BlobRef, what string) *VerifyingReader {
	v := VerifyReader(rc, want, what)
	v.c = rc
	return v
}

// HashReader returns a reader over r that hashes and counts what it passes
// on without an expectation, for bytes whose digest is not known in
// advance (an upload): read to the end, then take Ref.
func HashReader(r io.Reader, what string) *VerifyingReader {
	return &VerifyingReader{r: r, want: BlobRef{Size: -1}, what: what, h: sha256.New()}
}

// InterruptedAs makes a source error without a code end reading with an
// *Error of the given code (a download cut mid-stream is EUnavailable), and
// returns v.
func (v *VerifyingReader) InterruptedAs(code string) *VerifyingReader {
	v.code = code
	return v
}

// Read reads from the source; see VerifyingReader for when it fails.
func (v *VerifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	bounded := v.check && v.want.Size >= 0
	if room := v.want.Size - v.n + 1; bounded && int64(len(p)) > room {
		p = p[:room]
	}
	n, err := v.r.Read(p)
	over := bounded && v.n+int64(n) > v.want.Size
	if over {
		n = int(v.want.Size - v.n)
	}
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case over:
		v.err = Errorf(ECorrupt, "%s: expected sha256 %s and %d bytes, got more than %d bytes",
			v.what, v.want.SHA256, v.want.Size, v.want.Size)
	case err == io.EOF:
		v.err = v.atEOF()
	case err != nil:
		v.err = v.interrupted(err)
	}
	return n, v.err
}

// atEOF returns io.EOF, or the ECorrupt error when the bytes read are not
// the ones expected.
func (v *VerifyingReader) atEOF() error {
	if !v.check {
		return io.EOF
	}
	got := v.Ref()
	switch {
	case v.want.Size < 0 && got.SHA256 != v.want.SHA256:
		return Errorf(ECorrupt, "%s: expected sha256 %s, got sha256 %s and %d bytes",
			v.what, v.want.SHA256, got.SHA256, got.Size)
	case v.want.Size >= 0 && (got.SHA256 != v.want.SHA256 || got.Size != v.want.Size):
		return Errorf(ECorrupt, "%s: expected sha256 %s and %d bytes, got sha256 %s and %d bytes",
			v.what, v.want.SHA256, v.want.Size, got.SHA256, got.Size)
	}
	return io.EOF
}

func (v *VerifyingReader) interrupted(err error) error {
	var coded *Error
	switch {
	case errors.As(err, &coded):
		return err
	case v.code != "":
		return Errorf(v.code, "%s: interrupted after %d bytes: %v", v.what, v.n, err)
	}
	return fmt.Errorf("%s: interrupted after %d bytes: %w", v.what, v.n, err)
}

// Ref returns the sha256 and size of the bytes passed on so far, under the
// expected key (empty for HashReader). After a clean io.EOF from a
// VerifyReader it holds want's key and sha256, and want's size unless
// want.Size < 0.
func (v *VerifyingReader) Ref() BlobRef {
	return BlobRef{Key: v.want.Key, SHA256: hex.EncodeToString(v.h.Sum(nil)), Size: v.n}
}

// Close closes the source of a VerifyReadCloser; for the others it does
// nothing.
func (v *VerifyingReader) Close() error {
	if v.c == nil {
		return nil
	}
	return v.c.Close()
}

// ReadSeeker returns v as an io.ReadSeeker when its source is an
// io.Seeker, for a body that may be sent again: seeking to the start
// rewinds the source and starts hashing and verifying over. It supports no
// other seek.
func (v *VerifyingReader) ReadSeeker() (io.ReadSeeker, bool) {
	s, ok := v.r.(io.Seeker)
	if !ok {
		return nil, false
	}
	return &rewinder{VerifyingReader: v, s: s}, true
}

type rewinder struct {
	*VerifyingReader
	s io.Seeker
}

func (r *rewinder) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, Errorf(EInvalid, "%s: a verifying reader can only be rewound to its start", r.what)
	}
	if _, err := r.s.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r.h.Reset()
	r.n, r.err = 0, nil
	return 0, nil
}

// ValidSHA256 reports whether s is a sha256 as BlobRef holds it: 64
// lower-case hex digits.
func ValidSHA256(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// A BlobSource is what CopyBlob reads a blob from. Every BlobStore is one
// (its unverified Open: CopyBlob verifies). ReaderSource makes one of bytes
// already open, such as an HTTP body; BlobSourceFunc adapts any other
// opener, such as a peer region's.
type BlobSource interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// BlobSourceFunc is a BlobSource made of a function.
type BlobSourceFunc func(ctx context.Context, key string) (io.ReadCloser, error)

// Open calls f.
func (f BlobSourceFunc) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return f(ctx, key)
}

// ReaderSource returns a BlobSource whose Open returns r, whatever the key,
// and leaves it open: the caller, who opened r, closes it. It serves one
// CopyBlob.
func ReaderSource(r io.Reader) BlobSource {
	return BlobSourceFunc(func(context.Context, string) (io.ReadCloser, error) { return io.NopCloser(r), nil })
}

// CopyBlob copies the blob ref from src to dstKey in dst, verified, and
// returns the ref dst recorded (dstKey, ref's sha256 and size). It is the
// one way bytes are copied into a BlobStore (invariant 2): replication,
// import, restore, staging, keeping bytes aside.
//
// Guarantees:
//
//   - The bytes committed at dstKey are ref's. They are checked twice: on
//     their way out of src, through a VerifyingReader, so that a corrupt
//     source is reported as an ECorrupt error naming ref.Key; and by
//     dst.Put with want = ref's sha256 and size, so that dst records the
//     digest and commits nothing else.
//   - On any error nothing new is at dstKey: the blob there before, if any,
//     stays (BlobStore.Put is atomic).
//   - The bytes stream: CopyBlob holds no whole blob in memory and reads at
//     most ref.Size+1 bytes from src.
//
// Errors: EInvalid when ref has no valid sha256 or a negative size; the
// error of src.Open unchanged (ENotFound, EConflict, ...), so that callers
// can tell a missing source; ECorrupt when the source's bytes are not
// ref's; otherwise dst.Put's error.
//
// Limits: it neither retries nor skips a blob dst already holds (callers
// that can skip Stat first); it reads src once, from the start.
func CopyBlob(ctx context.Context, dst BlobStore, dstKey string, src BlobSource, ref BlobRef) (BlobRef, error) {
	if !ValidSHA256(ref.SHA256) || ref.Size < 0 {
		return BlobRef{}, Errorf(EInvalid, "copy of blob %q: cannot verify against sha256 %q and size %d", ref.Key, ref.SHA256, ref.Size)
	}
	rc, err := src.Open(ctx, ref.Key)
	if err != nil {
		return BlobRef{}, err
	}
	defer rc.Close()
	want := BlobRef{SHA256: ref.SHA256, Size: ref.Size}
	return dst.Put(ctx, dstKey, VerifyReader(rc, ref, fmt.Sprintf("blob %q", ref.Key)), &want)
}
