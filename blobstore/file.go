package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/tandemml/tandem"
)

// sidecarMetadata is the field of fileblob's "<key>.attrs" JSON file that
// holds a blob's metadata.
const sidecarMetadata = "user.metadata"

// recordSidecar records ref in the .attrs sidecar of a blob the file backend
// has just committed. gocloud takes metadata when a writer is created, before
// the digest is known; until this runs, the blob has no recorded digest, and
// Stat computes it from the bytes. The other fields of the sidecar are kept
// as fileblob wrote them.
func (s *Store) recordSidecar(key string, ref tandem.BlobRef) error {
	name := filepath.Join(s.dir, filepath.FromSlash(key)) + ".attrs"
	attrs := map[string]json.RawMessage{}
	data, err := os.ReadFile(name)
	if err == nil {
		err = json.Unmarshal(data, &attrs)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if attrs[sidecarMetadata], err = json.Marshal(metadata(ref)); err != nil {
		return err
	}
	if data, err = json.Marshal(attrs); err != nil {
		return err
	}
	return writeFileAtomic(name, data)
}

// writeFileAtomic replaces name by data through a temp file and a rename.
// The temp file, "<blob>.<16 hex>.tmp.attrs", is the sidecar of a reserved
// key, so it neither lists nor collides with a real blob's files.
func writeFileAtomic(name string, data []byte) error {
	tmp := tempName(strings.TrimSuffix(name, ".attrs")) + ".attrs"
	if err := os.WriteFile(tmp, data, 0o666); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// tempName returns base followed by a random name of the shape keys may not
// take (see reservedKey): ".<16 hex digits>.tmp".
func tempName(base string) string {
	var b [8]byte
	rand.Read(b[:])
	return base + "." + hex.EncodeToString(b[:]) + ".tmp"
}

// walk calls fn with the key of every file under prefix in the file
// backend's directory, in key order: it visits each directory's entries
// sorted by name, a subdirectory's name followed by the "/" that precedes
// all the keys it holds. Sidecars are skipped.
func (s *Store) walk(ctx context.Context, prefix string, fn func(key string) error) error {
	return s.walkDir(ctx, prefix[:strings.LastIndex(prefix, "/")+1], prefix, fn)
}

func (s *Store) walkDir(ctx context.Context, dirKey, prefix string, fn func(key string) error) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, filepath.FromSlash(dirKey)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	} else if err != nil {
		return err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
		if e.IsDir() {
			names[i] += "/"
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		key := dirKey + name
		switch {
		case strings.HasSuffix(key, "/"):
			if strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key) {
				err = s.walkDir(ctx, key, prefix, fn)
			}
		case strings.HasPrefix(key, prefix) && !strings.HasSuffix(key, ".attrs"):
			err = fn(key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// repairSidecar removes the .attrs sidecar of a file-backend blob when it
// cannot be parsed (a write torn by a crash) and reports whether it did.
// The sidecar holds only metadata; without it the blob is stated from its
// bytes, and the next write records it again.
func (s *Store) repairSidecar(key string) bool {
	if s.dir == "" || checkKey(key) != nil {
		return false
	}
	name := filepath.Join(s.dir, filepath.FromSlash(key)) + ".attrs"
	data, err := os.ReadFile(name)
	if err != nil {
		return false
	}
	var attrs map[string]json.RawMessage
	if json.Unmarshal(data, &attrs) == nil {
		return false
	}
	return os.Remove(name) == nil
}

// attributes and newReader are the bucket's, retried once after repairing
// a torn sidecar.
func (s *Store) attributes(ctx context.Context, key string) (*blob.Attributes, error) {
	a, err := s.bucket.Attributes(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound && s.repairSidecar(key) {
		a, err = s.bucket.Attributes(ctx, key)
	}
	return a, err
}

func (s *Store) newReader(ctx context.Context, key string) (*blob.Reader, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound && s.repairSidecar(key) {
		r, err = s.bucket.NewReader(ctx, key, nil)
	}
	return r, err
}
