package blobstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
)

// TestFileTornSidecar: a kill -9 while a sidecar is written leaves it
// empty; the blob must still be readable and stated from its bytes.
func TestFileTornSidecar(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := blobstore.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ref, err := s.Put(ctx, "a/b.txt", strings.NewReader("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b.txt.attrs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stat(ctx, "a/b.txt")
	if err != nil || got.SHA256 != ref.SHA256 || got.Size != 5 {
		t.Fatalf("Stat with a torn sidecar: got %+v, %v; want %+v", got, err, ref)
	}
	rc, err := s.OpenVerified(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "hello" {
		t.Fatalf("read with a torn sidecar: %q, %v", b, err)
	}
	var keys []string
	if err := s.List(ctx, "a/", func(r tandem.BlobRef) error { keys = append(keys, r.Key); return nil }); err != nil || len(keys) != 1 {
		t.Fatalf("List with a torn sidecar: %v, %v", keys, err)
	}
}
