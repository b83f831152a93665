package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/tandemml/tandem"
)

// Store is a tandem.BlobStore on a gocloud.dev/blob bucket.
type Store struct {
	url    string
	kind   string // kindFile, kindAzure or kindMem
	bucket *blob.Bucket
	dir    string // root directory of the file backend

	// commitMu serialises the commits of the file backend, which writes the
	// .attrs sidecar and renames the data file in two steps: without it two
	// Puts of one key could leave one's bytes with the other's sha256.
	commitMu sync.Mutex
}

var _ tandem.BlobStore = (*Store)(nil)

// Backends, named by their URL schemes.
const (
	kindFile  = fileblob.Scheme
	kindAzure = azureblob.Scheme
	kindMem   = memblob.Scheme
)

// Open opens the blob store at rawURL and pings it:
//
//	file:///abs/dir       a directory, created if missing (the default backend)
//	azblob://container    Azure Blob Storage, configured like gocloud.dev's
//	                      azureblob URL opener (AZURE_STORAGE_* variables and
//	                      query parameters); the container is created if missing
//	mem://                in memory, for tests; every Open is a new, empty store
//
// An unsupported or malformed URL is EInvalid; storage that cannot be reached,
// created or written is EUnavailable.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "blob store URL %q: %v", rawURL, err)
	}
	s := &Store{url: rawURL, kind: u.Scheme}
	switch u.Scheme {
	case kindFile:
		err = s.openFile(u)
	case kindAzure:
		err = s.openAzure(ctx, u)
	case kindMem:
		s.bucket = memblob.OpenBucket(nil)
	default:
		return nil, tandem.Errorf(tandem.EInvalid,
			"blob store URL %q: unsupported scheme %q (want file, azblob or mem)", rawURL, u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.bucket.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openFile(u *url.URL) error {
	if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
		return tandem.Errorf(tandem.EInvalid,
			"blob store URL %q: want file:///absolute/dir with no query", s.url)
	}
	dir := filepath.Clean(u.Path)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return unavailable(s.url, "cannot create directory %s: %v", dir, unwrapPath(err))
	}
	probe := filepath.Join(dir, tempName(".tandem-probe"))
	if err := os.WriteFile(probe, nil, 0o666); err != nil {
		return unavailable(s.url, "cannot write in directory %s: %v", dir, unwrapPath(err))
	}
	os.Remove(probe)
	// Temp files live next to their target, so that the rename that
	// commits a Put never crosses file systems.
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true})
	if err != nil {
		return unavailable(s.url, "%v", err)
	}
	s.bucket, s.dir = b, dir
	return nil
}

func (s *Store) openAzure(ctx context.Context, u *url.URL) error {
	b, err := blob.DefaultURLMux().OpenBucketURL(ctx, u)
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "blob store URL %q: %v", s.url, err)
	}
	var client *container.Client
	if !b.As(&client) {
		b.Close()
		return tandem.Errorf(tandem.EInternal, "blob store %s: no azblob container client", s.url)
	}
	// Create only a missing container, so that credentials allowed to use
	// but not to create containers work too.
	_, err = client.GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		_, err = client.Create(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			err = nil
		}
	}
	if err != nil {
		b.Close()
		return unavailable(s.url, "container %s: %s", u.Host, describe(err))
	}
	s.bucket = b
	return nil
}

// Ping checks that the storage is reachable: the directory exists, or the
// bucket can be listed. EUnavailable if not.
func (s *Store) Ping(ctx context.Context) error {
	if s.kind == kindFile {
		fi, err := os.Stat(s.dir)
		if err != nil {
			return unavailable(s.url, "%v", err)
		} else if !fi.IsDir() {
			return unavailable(s.url, "%s is not a directory", s.dir)
		}
		return nil
	}
	if _, _, err := s.bucket.ListPage(ctx, blob.FirstPageToken, 1, nil); err != nil {
		return unavailable(s.url, "%s", describe(err))
	}
	return nil
}

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// Bucket returns the underlying bucket, for tests and tools that must reach
// past the store, e.g. to damage a blob on purpose. Writes through it bypass
// key checks, hashing and atomicity.
func (s *Store) Bucket() *blob.Bucket { return s.bucket }

// String returns the store's URL.
func (s *Store) String() string { return s.url }

func unavailable(rawURL, format string, args ...any) error {
	return tandem.Errorf(tandem.EUnavailable, "blob store %s: %s", rawURL, fmt.Sprintf(format, args...))
}

// unwrapPath drops the path an *os.PathError repeats, since the caller's
// message names it already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
