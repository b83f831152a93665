package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// writeFile is the file backend's Put: the files and sidecar that
// fileblob's writer makes (a temp file next to the blob, the "<key>.attrs"
// sidecar written, then the temp file renamed over the blob), without the
// MD5 of every byte that fileblob computes for its sidecar, which took
// 40% of a replicating region's CPU on large blobs (nothing reads it: blobs
// are known by their sha256). The sidecar records the sha256 the bytes
// hashed to, known in advance or not. Commits are serialised by commitMu.
func (s *Store) writeFile(ctx context.Context, key string, src *putReader, opts *blob.WriterOptions) error {
	name := filepath.Join(s.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(name), 0o777); err != nil {
		return err
	}
	tmp := tempName(name)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // fails once renamed
	buf := copyBuffers.Get().(*[]byte)
	_, err = io.CopyBuffer(writerOnly{f}, src, *buf)
	copyBuffers.Put(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	attrs, err := json.Marshal(fileAttrs{ContentType: opts.ContentType, Metadata: metadata(src.ref())})
	if err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := os.WriteFile(name+".attrs", attrs, 0o666); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(name + ".attrs")
		return err
	}
	return nil
}

// fileAttrs is the part of fileblob's sidecar format that writeFile fills.
type fileAttrs struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
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
