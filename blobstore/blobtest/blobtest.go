// Package blobtest helps tests open blob stores on every backend: a fresh
// URL per test, and a way to damage a blob on purpose.
//
// The azblob backend needs Azurite or Azure, announced by
// TANDEM_TEST_AZURITE=1 with the AZURE_STORAGE_* variables that
// scripts/with-azurite exports. Without it, tests of that backend skip, or
// fail when TANDEM_TEST_REQUIRE_SERVICES=1.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
)

// Backends returns every backend tests should cover: "mem", "file" and
// "azblob".
func Backends() []string { return []string{"mem", "file", "azblob"} }

// URL returns the URL of a fresh, empty store of backend for t: mem:// (a
// new store at every Open), file:// of a temp dir, or azblob:// of a new
// container with a random name, deleted when t ends.
func URL(t testing.TB, backend string) string {
	t.Helper()
	switch backend {
	case "mem":
		return "mem://"
	case "file":
		return "file://" + t.TempDir()
	case "azblob":
		RequireAzurite(t)
		return newContainer(t)
	}
	t.Fatalf("blobtest: unknown backend %q", backend)
	return ""
}

// Open opens a fresh store of backend and closes it when t ends.
func Open(t testing.TB, backend string) *blobstore.Store {
	t.Helper()
	s, err := blobstore.Open(context.Background(), URL(t, backend))
	if err != nil {
		t.Fatalf("open %s blob store: %v", backend, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RequireAzurite skips t unless TANDEM_TEST_AZURITE=1, or fails it when
// TANDEM_TEST_REQUIRE_SERVICES=1.
func RequireAzurite(t testing.TB) {
	t.Helper()
	if os.Getenv("TANDEM_TEST_AZURITE") == "1" {
		return
	}
	const msg = "azblob: TANDEM_TEST_AZURITE is not 1; run the tests under scripts/with-azurite"
	if os.Getenv("TANDEM_TEST_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg + " (TANDEM_TEST_REQUIRE_SERVICES=1)")
	}
	t.Skip(msg)
}

// newContainer creates a container with a random name and deletes it, with
// its blobs, when t ends.
func newContainer(t testing.TB) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	url := "azblob://tandem-test-" + hex.EncodeToString(b[:])
	s, err := blobstore.Open(context.Background(), url) // creates the container
	if err != nil {
		t.Fatalf("create test container: %v", err)
	}
	t.Cleanup(func() {
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var c *container.Client
		if !s.Bucket().As(&c) {
			t.Errorf("delete test container %s: no container client", url)
		} else if _, err := c.Delete(ctx, nil); err != nil {
			t.Errorf("delete test container %s: %v", url, err)
		}
	})
	return url
}

// Corrupt replaces the bytes of the blob under key with data, keeping the
// sha256 and size recorded for it, as damaged storage would. s must be a
// *blobstore.Store or wrap one (with an Unwrap method, as Instrument's
// result does). It fits conformance.BlobStore's corrupt hook.
func Corrupt(t testing.TB, s tandem.BlobStore, key string, data []byte) {
	t.Helper()
	store := unwrap(s)
	if store == nil {
		t.Fatalf("blobtest.Corrupt: %T is not a *blobstore.Store", s)
	}
	ctx := context.Background()
	b := store.Bucket()
	a, err := b.Attributes(ctx, key)
	if err != nil {
		t.Fatalf("blobtest.Corrupt %q: %v", key, err)
	}
	opts := &blob.WriterOptions{ContentType: a.ContentType, Metadata: a.Metadata}
	if err := b.WriteAll(ctx, key, data, opts); err != nil {
		t.Fatalf("blobtest.Corrupt %q: %v", key, err)
	}
}

func unwrap(s tandem.BlobStore) *blobstore.Store {
	for {
		switch v := s.(type) {
		case *blobstore.Store:
			return v
		case interface{ Unwrap() tandem.BlobStore }:
			s = v.Unwrap()
		default:
			return nil
		}
	}
}
