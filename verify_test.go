package tandem_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore/blobtest"
)

func refOf(key string, data []byte) tandem.BlobRef {
	sum := sha256.Sum256(data)
	return tandem.BlobRef{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// readSteps reads r with a small buffer and returns the bytes read, the
// error of every Read, and the error that ended reading (nil at io.EOF).
func readSteps(r io.Reader) ([]byte, []error, error) {
	var out []byte
	var errs []error
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		errs = append(errs, err)
		if err == io.EOF {
			return out, errs, nil
		} else if err != nil {
			return out, errs, err
		}
		if len(errs) > 1<<20 {
			panic("reader never ends")
		}
	}
}

func TestVerifyReaderExactBytes(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abcdef"), 1000)} {
		want := refOf("k", data)
		v := tandem.VerifyReader(bytes.NewReader(data), want, `blob "k"`)
		got, _, err := readSteps(v)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: got %d bytes, %v; want them all and no error", len(data), len(got), err)
		}
		if v.Ref() != want {
			t.Fatalf("Ref: got %+v, want %+v", v.Ref(), want)
		}
		if n, err := v.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read after EOF: got %d, %v, want 0, io.EOF", n, err)
		}
	}
}

func TestVerifyReaderFlippedByteFailsAtEOF(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10)
	want := refOf("k", data)
	bad := append([]byte(nil), data...)
	bad[50] ^= 1
	got, errs, err := readSteps(tandem.VerifyReader(bytes.NewReader(bad), want, `blob "k"`))
	if !tandem.IsCode(err, tandem.ECorrupt) {
		t.Fatalf("got %v, want an ECorrupt error", err)
	}
	for i, e := range errs[:len(errs)-1] {
		if e != nil {
			t.Fatalf("Read %d of %d failed before the end: %v", i+1, len(errs), e)
		}
	}
	if !bytes.Equal(got, bad) {
		t.Fatalf("got %d bytes, want all %d passed through before the check", len(got), len(bad))
	}
	actual := refOf("", bad)
	for _, s := range []string{`blob "k"`, want.SHA256, actual.SHA256, "100 bytes"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}

func TestVerifyReaderShortAndLong(t *testing.T) {
	data := []byte("0123456789")
	want := refOf("k", data)
	t.Run("Short", func(t *testing.T) {
		_, errs, err := readSteps(tandem.VerifyReader(bytes.NewReader(data[:9]), want, "x"))
		if !tandem.IsCode(err, tandem.ECorrupt) || !strings.Contains(err.Error(), "got sha256") || errs[len(errs)-2] != nil {
			t.Fatalf("got %v, want an ECorrupt error at the end", err)
		}
	})
	t.Run("Long", func(t *testing.T) {
		src := &countingReader{r: io.MultiReader(bytes.NewReader(data), zeros{})}
		v := tandem.VerifyReader(src, want, "x")
		got, _, err := readSteps(v)
		if !tandem.IsCode(err, tandem.ECorrupt) || !strings.Contains(err.Error(), "more than 10 bytes") {
			t.Fatalf("got %v, want an ECorrupt error for the extra bytes", err)
		}
		if !bytes.Equal(got, data) || src.n > int64(len(data))+1 {
			t.Fatalf("passed on %q and read %d bytes; want %q and at most %d read", got, src.n, data, len(data)+1)
		}
		if _, err2 := v.Read(make([]byte, 10)); err2 != err {
			t.Fatalf("second Read: got %v, want the same error %v", err2, err)
		}
	})
	t.Run("LongInOneRead", func(t *testing.T) {
		v := tandem.VerifyReader(bytes.NewReader(append(data, 'x')), want, "x")
		n, err := v.Read(make([]byte, 100))
		if n != len(data) || !tandem.IsCode(err, tandem.ECorrupt) {
			t.Fatalf("got %d, %v, want %d bytes and an ECorrupt error", n, err, len(data))
		}
	})
	t.Run("UnknownSize", func(t *testing.T) {
		w := want
		w.Size = -1
		if _, _, err := readSteps(tandem.VerifyReader(bytes.NewReader(data), w, "x")); err != nil {
			t.Fatalf("right bytes, size not given: %v", err)
		}
		if _, _, err := readSteps(tandem.VerifyReader(bytes.NewReader(data[1:]), w, "x")); !tandem.IsCode(err, tandem.ECorrupt) {
			t.Fatalf("wrong bytes, size not given: got %v, want ECorrupt", err)
		}
	})
	t.Run("NoDigest", func(t *testing.T) {
		w := tandem.BlobRef{Size: int64(len(data))}
		if _, _, err := readSteps(tandem.VerifyReader(bytes.NewReader(data), w, "x")); !tandem.IsCode(err, tandem.ECorrupt) {
			t.Fatalf("no sha256 to compare with: got %v, want ECorrupt", err)
		}
	})
}

func TestVerifyReaderSourceError(t *testing.T) {
	data := []byte("0123456789")
	boom := errors.New("connection reset")
	src := func() io.Reader { return io.MultiReader(bytes.NewReader(data[:4]), errReader{boom}) }

	_, _, err := readSteps(tandem.VerifyReader(src(), refOf("k", data), `download of "a"`))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "after 4 bytes") || !strings.Contains(err.Error(), `download of "a"`) {
		t.Fatalf("got %v, want the source error wrapped with what and the count", err)
	}
	_, _, err = readSteps(tandem.VerifyReader(src(), refOf("k", data), "x").InterruptedAs(tandem.EUnavailable))
	if !tandem.IsCode(err, tandem.EUnavailable) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("InterruptedAs: got %v, want an EUnavailable error", err)
	}
	coded := tandem.Errorf(tandem.ETooLarge, "too big")
	_, _, err = readSteps(tandem.VerifyReader(io.MultiReader(bytes.NewReader(data), errReader{coded}), refOf("k", data), "x"))
	if err != coded {
		t.Fatalf("a source error with a code: got %v, want it unchanged", err)
	}
}

func TestHashReader(t *testing.T) {
	data := []byte("some upload")
	v := tandem.HashReader(bytes.NewReader(data), "upload")
	if got, _, err := readSteps(v); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %q, %v", got, err)
	}
	if want := refOf("", data); v.Ref() != want {
		t.Fatalf("Ref: got %+v, want %+v", v.Ref(), want)
	}
}

func TestVerifyingReaderRewind(t *testing.T) {
	data := []byte("sent twice")
	v := tandem.HashReader(bytes.NewReader(data), "upload")
	rs, ok := v.ReadSeeker()
	if !ok {
		t.Fatal("a bytes.Reader source gave no ReadSeeker")
	}
	io.ReadAll(io.LimitReader(rs, 4))
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rs); !bytes.Equal(got, data) || v.Ref() != refOf("", data) {
		t.Fatalf("after rewind: got %q, ref %+v", got, v.Ref())
	}
	if _, err := rs.Seek(3, io.SeekStart); !tandem.IsCode(err, tandem.EInvalid) {
		t.Fatalf("Seek(3): got %v, want EInvalid", err)
	}
	if _, ok := tandem.HashReader(errReader{io.EOF}, "x").ReadSeeker(); ok {
		t.Fatal("a source that cannot seek gave a ReadSeeker")
	}
}

func TestVerifyReadCloserCloses(t *testing.T) {
	c := &closer{Reader: strings.NewReader("x")}
	if err := tandem.VerifyReadCloser(c, refOf("k", []byte("x")), "x").Close(); err != nil || !c.closed {
		t.Fatalf("Close: %v, closed %v", err, c.closed)
	}
}

func TestCopyBlob(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("weights"), 1000)
	for _, backend := range []string{"mem", "file"} {
		t.Run(backend, func(t *testing.T) {
			s := blobtest.Open(t, backend)
			src, err := s.Put(ctx, "a/src", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tandem.CopyBlob(ctx, s, "b/dst", s, src)
			if err != nil || got != refOf("b/dst", data) {
				t.Fatalf("store to store: got %+v, %v", got, err)
			}
			got, err = tandem.CopyBlob(ctx, s, "b/body", tandem.ReaderSource(bytes.NewReader(data)), src)
			if err != nil || got != refOf("b/body", data) {
				t.Fatalf("reader to store: got %+v, %v", got, err)
			}
		})
	}
}

func TestCopyBlobLeavesNothingOnMismatch(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("weights"), 1000)
	bad := append([]byte(nil), data...)
	bad[3000] ^= 1
	for _, backend := range []string{"mem", "file"} {
		t.Run(backend, func(t *testing.T) {
			s := blobtest.Open(t, backend)
			want := refOf("src", data)
			for name, r := range map[string]io.Reader{
				"Flipped": bytes.NewReader(bad),
				"Short":   bytes.NewReader(data[1:]),
				"Long":    io.MultiReader(bytes.NewReader(data), zeros{}),
			} {
				_, err := tandem.CopyBlob(ctx, s, "dst/"+name, tandem.ReaderSource(r), want)
				if !tandem.IsCode(err, tandem.ECorrupt) || !strings.Contains(err.Error(), `blob "src"`) {
					t.Fatalf("%s: got %v, want an ECorrupt error naming the source", name, err)
				}
				if _, err := s.Stat(ctx, "dst/"+name); !tandem.IsCode(err, tandem.ENotFound) {
					t.Fatalf("%s: Stat after the failed copy: got %v, want ENotFound", name, err)
				}
			}

			// A corrupt source blob leaves the previous bytes at dst.
			old, _ := s.Put(ctx, "dst/old", strings.NewReader("old"), nil)
			ref, _ := s.Put(ctx, "src", bytes.NewReader(data), nil)
			blobtest.Corrupt(t, s, "src", bad)
			if _, err := tandem.CopyBlob(ctx, s, "dst/old", s, ref); !tandem.IsCode(err, tandem.ECorrupt) {
				t.Fatalf("corrupt source: got %v, want ECorrupt", err)
			}
			if cur, err := s.Stat(ctx, "dst/old"); err != nil || cur != old {
				t.Fatalf("dst after the failed copy: got %+v, %v, want the old %+v", cur, err, old)
			}
		})
	}
}

func TestCopyBlobErrors(t *testing.T) {
	ctx := context.Background()
	s := blobtest.Open(t, "mem")
	if _, err := tandem.CopyBlob(ctx, s, "dst", s, refOf("missing", []byte("x"))); !tandem.IsCode(err, tandem.ENotFound) {
		t.Fatalf("missing source: got %v, want ENotFound", err)
	}
	for _, ref := range []tandem.BlobRef{{Key: "k", SHA256: "abc", Size: 1}, {Key: "k", SHA256: refOf("", nil).SHA256, Size: -1}} {
		if _, err := tandem.CopyBlob(ctx, s, "dst", s, ref); !tandem.IsCode(err, tandem.EInvalid) {
			t.Fatalf("ref %+v: got %v, want EInvalid", ref, err)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type closer struct {
	io.Reader
	closed bool
}

func (c *closer) Close() error { c.closed = true; return nil }
