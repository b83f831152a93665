package blobstore_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/conformance"
)

func corrupt(t *testing.T, s tandem.BlobStore, key string, data []byte) {
	blobtest.Corrupt(t, s, key, data)
}

func TestConformance(t *testing.T) {
	for _, backend := range blobtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			conformance.BlobStore(t, func(t *testing.T) tandem.BlobStore {
				return blobtest.Open(t, backend)
			}, corrupt)
		})
	}
	// The metrics wrapper must not change behaviour.
	t.Run("Instrumented", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		conformance.BlobStore(t, func(t *testing.T) tandem.BlobStore {
			return blobstore.Instrument(blobtest.Open(t, "mem"), reg, "mem")
		}, corrupt)
	})
}

// TestPutRecordsDigest checks the metadata Put records, which Stat would
// otherwise make up for by reading the blob.
func TestPutRecordsDigest(t *testing.T) {
	data := []byte("some bytes")
	for _, backend := range blobtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := blobtest.Open(t, backend)
			for _, c := range []struct {
				name string
				want *tandem.BlobRef
			}{
				{"NoWant", nil},
				{"WantAnySize", &tandem.BlobRef{SHA256: sha(data), Size: -1}},
				{"Want", &tandem.BlobRef{SHA256: sha(data), Size: int64(len(data))}},
			} {
				ref, err := s.Put(context.Background(), c.name, bytes.NewReader(data), c.want)
				if err != nil {
					t.Fatalf("Put %s: %v", c.name, err)
				}
				a, err := s.Bucket().Attributes(context.Background(), c.name)
				if err != nil {
					t.Fatalf("Attributes %s: %v", c.name, err)
				}
				if got := a.Metadata["sha256"]; got != ref.SHA256 {
					t.Errorf("%s: got metadata sha256 %q, want %q", c.name, got, ref.SHA256)
				}
				if got := a.Metadata["size"]; got != "10" {
					t.Errorf("%s: got metadata size %q, want %q", c.name, got, "10")
				}
			}
		})
	}
}

// TestForeignBlob checks blobs written by other tools, without metadata.
func TestForeignBlob(t *testing.T) {
	data := []byte("written by another tool")
	for _, backend := range blobtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := blobtest.Open(t, backend)
			ctx := context.Background()
			if err := s.Bucket().WriteAll(ctx, "f/x.txt", data, nil); err != nil {
				t.Fatal(err)
			}
			want := tandem.BlobRef{Key: "f/x.txt", SHA256: sha(data), Size: int64(len(data))}
			if got, err := s.Stat(ctx, "f/x.txt"); err != nil || got != want {
				t.Fatalf("Stat: got %+v, %v, want %+v, nil", got, err, want)
			}
			var listed []tandem.BlobRef
			err := s.List(ctx, "f/", func(ref tandem.BlobRef) error { listed = append(listed, ref); return nil })
			if err != nil || len(listed) != 1 || listed[0] != want {
				t.Fatalf("List: got %+v, %v, want [%+v], nil", listed, err, want)
			}
		})
	}
}

// TestListSkipsInvalidKeys checks that List passes over blobs whose names
// are not valid keys, and DeletePrefix removes them all the same.
func TestListSkipsInvalidKeys(t *testing.T) {
	for _, backend := range blobtest.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := blobtest.Open(t, backend)
			ctx := context.Background()
			for _, name := range []string{"d/ok", "d/bad#name", "d/x.0123456789abcdef.tmp"} {
				if err := s.Bucket().WriteAll(ctx, name, []byte(name), nil); err != nil {
					t.Fatal(err)
				}
			}
			var keys []string
			if err := s.List(ctx, "d/", func(ref tandem.BlobRef) error { keys = append(keys, ref.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 1 || keys[0] != "d/ok" {
				t.Fatalf("List: got %q, want [\"d/ok\"]", keys)
			}
			if n, err := s.DeletePrefix(ctx, "d/"); err != nil || n != 3 {
				t.Fatalf("DeletePrefix: got %d, %v, want 3, nil", n, err)
			}
		})
	}
}

func TestPutInvalidWant(t *testing.T) {
	s := blobtest.Open(t, "mem")
	for _, sum := range []string{"", "abc", strings.Repeat("A", 64), strings.Repeat("g", 64)} {
		_, err := s.Put(context.Background(), "k", strings.NewReader("x"), &tandem.BlobRef{SHA256: sum, Size: -1})
		if !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("Put with want sha256 %q: got %v, want code %s", sum, err, tandem.EInvalid)
		}
	}
}

func TestOpenVerifiedInvalidRef(t *testing.T) {
	s := blobtest.Open(t, "mem")
	for _, ref := range []tandem.BlobRef{
		{Key: "k", SHA256: "abc", Size: 1},
		{Key: "k", SHA256: sha(nil), Size: -1},
	} {
		if _, err := s.OpenVerified(context.Background(), ref); !tandem.IsCode(err, tandem.EInvalid) {
			t.Errorf("OpenVerified(%+v): got %v, want code %s", ref, err, tandem.EInvalid)
		}
	}
}

// TestOpenVerifiedOverrunEarly checks that a blob longer than its ref fails
// before it has been read to the end.
func TestOpenVerifiedOverrunEarly(t *testing.T) {
	s := blobtest.Open(t, "mem")
	data := bytes.Repeat([]byte("x"), 1<<20)
	ref, err := s.Put(context.Background(), "k", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref.Size = 10
	r, err := s.OpenVerified(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 4096)
	n, err := r.Read(buf)
	if !tandem.IsCode(err, tandem.ECorrupt) || n > len(buf) {
		t.Fatalf("first Read: got %d, %v, want an ECorrupt error", n, err)
	}
	if _, err := r.Read(buf); !tandem.IsCode(err, tandem.ECorrupt) {
		t.Fatalf("second Read: got %v, want the ECorrupt error again", err)
	}
}

func TestOpenUnsupportedScheme(t *testing.T) {
	for _, url := range []string{"s3://bucket", "bucket", "gs://x", "://bad"} {
		_, err := blobstore.Open(context.Background(), url)
		if !tandem.IsCode(err, tandem.EInvalid) || !strings.Contains(err.Error(), url) {
			t.Errorf("Open(%q): got %v, want an EInvalid error naming the URL", url, err)
		}
	}
}

func TestOpenAzureUnreachable(t *testing.T) {
	blobtest.RequireAzurite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	url := "azblob://unreachable?domain=127.0.0.1:1&protocol=http&localemu=true"
	_, err := blobstore.Open(ctx, url)
	if !tandem.IsCode(err, tandem.EUnavailable) || !strings.Contains(err.Error(), url) {
		t.Fatalf("Open(%q): got %v, want an EUnavailable error naming the URL", url, err)
	}
}

func TestAzureCreatesContainer(t *testing.T) {
	url := blobtest.URL(t, "azblob") // skips without Azurite
	ctx := context.Background()
	for range 2 { // the second Open finds the container there
		s, err := blobstore.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if ok, err := s.Bucket().IsAccessible(ctx); !ok || err != nil {
			t.Fatalf("IsAccessible: got %v, %v, want true, nil", ok, err)
		}
		s.Close()
	}
}
