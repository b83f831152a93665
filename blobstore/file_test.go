package blobstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
)

func openFile(t *testing.T) (*blobstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := blobstore.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// files returns the regular files under dir, relative, slash-separated.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestFileLayout(t *testing.T) {
	s, dir := openFile(t)
	data := []byte(`{"cells": []}`)
	ref, err := s.Put(context.Background(), "workspaces/w1/notebooks/a b.ipynb", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "workspaces/w1/notebooks/a b.ipynb"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read the plain file: got %q, %v, want %q", got, err, data)
	}
	var attrs struct {
		Metadata map[string]string `json:"user.metadata"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "workspaces/w1/notebooks/a b.ipynb.attrs"))
	if err == nil {
		err = json.Unmarshal(raw, &attrs)
	}
	if err != nil || attrs.Metadata["sha256"] != ref.SHA256 || attrs.Metadata["size"] != "13" {
		t.Fatalf("sidecar: got %s, %v, want sha256 %s and size 13 in user.metadata", raw, err, ref.SHA256)
	}
	want := []string{"workspaces/w1/notebooks/a b.ipynb", "workspaces/w1/notebooks/a b.ipynb.attrs"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files: got %q, want %q", got, want)
	}
}

// halfReader returns half of data, then fails.
type halfReader struct {
	data []byte
	done bool
}

var errHalf = errors.New("failed half way")

func (h *halfReader) Read(p []byte) (int, error) {
	if h.done {
		return 0, errHalf
	}
	h.done = true
	return copy(p, h.data[:len(h.data)/2]), nil
}

// TestFilePutAtomic checks on disk that a failed Put leaves no file behind,
// neither temp file nor sidecar, and leaves a previous blob as it was.
func TestFilePutAtomic(t *testing.T) {
	for _, c := range []struct {
		name string
		r    func() io.Reader
		want *tandem.BlobRef
	}{
		{"ReaderFails", func() io.Reader { return &halfReader{data: bytes.Repeat([]byte("y"), 1<<20)} }, nil},
		{"Mismatch", func() io.Reader { return strings.NewReader("other") }, &tandem.BlobRef{SHA256: sha([]byte("x")), Size: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, dir := openFile(t)
			ctx := context.Background()
			if _, err := s.Put(ctx, "a/new", c.r(), c.want); err == nil {
				t.Fatal("Put: got no error")
			}
			if got := files(t, dir); len(got) != 0 {
				t.Fatalf("files after failed Put: got %q, want none", got)
			}
			old := []byte("old bytes")
			if _, err := s.Put(ctx, "a/old", bytes.NewReader(old), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "a/old", c.r(), c.want); err == nil {
				t.Fatal("Put over a blob: got no error")
			}
			if got, want := files(t, dir), []string{"a/old", "a/old.attrs"}; !slices.Equal(got, want) {
				t.Fatalf("files: got %q, want %q", got, want)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "a/old")); !bytes.Equal(got, old) {
				t.Fatalf("a/old: got %q, want %q", got, old)
			}
			if ref, err := s.Stat(ctx, "a/old"); err != nil || ref.SHA256 != sha(old) {
				t.Fatalf("Stat: got %+v, %v, want sha256 %s", ref, err, sha(old))
			}
		})
	}
}

func TestFilePutConflict(t *testing.T) {
	s, _ := openFile(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "a/b", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "a/b/c"} {
		_, err := s.Put(ctx, key, strings.NewReader("x"), nil)
		if !tandem.IsCode(err, tandem.EConflict) {
			t.Errorf("Put(%q): got %v, want code %s", key, err, tandem.EConflict)
		}
	}
}

func TestOpenFile(t *testing.T) {
	base := t.TempDir()
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	t.Run("CreatesDir", func(t *testing.T) {
		dir := filepath.Join(base, "new", "dir")
		s, err := blobstore.Open(context.Background(), "file://"+dir)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("stat %s: got %v, want a directory", dir, err)
		}
		if got := files(t, dir); len(got) != 0 {
			t.Fatalf("files: got %q, want none (no probe left)", got)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		dir := filepath.Join(base, "file", "sub")
		_, err := blobstore.Open(context.Background(), "file://"+dir)
		if !tandem.IsCode(err, tandem.EUnavailable) {
			t.Fatalf("Open: got %v, want code %s", err, tandem.EUnavailable)
		}
		if msg := err.Error(); strings.Count(msg, dir) == 0 || strings.Contains(msg, "\n") {
			t.Fatalf("Open: got %q, want one line naming %s", msg, dir)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, url := range []string{"file://relative/dir", "file:///abs?create_dir=1", "file://host/abs"} {
			if _, err := blobstore.Open(context.Background(), url); !tandem.IsCode(err, tandem.EInvalid) {
				t.Errorf("Open(%q): got %v, want code %s", url, err, tandem.EInvalid)
			}
		}
	})
	t.Run("PingErrUnavailable", func(t *testing.T) {
		dir := filepath.Join(base, "gone")
		s, err := blobstore.Open(context.Background(), "file://"+dir)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		os.Remove(dir)
		if err := s.Ping(context.Background()); !tandem.IsCode(err, tandem.EUnavailable) {
			t.Fatalf("Ping: got %v, want code %s", err, tandem.EUnavailable)
		}
	})
}
