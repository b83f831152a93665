package compute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// fakeStore records what an Uploader puts; fail makes the put of the
// named file ("output/path", or "log") fail, and before runs first.
type fakeStore struct {
	got    map[string]string // name -> bytes put
	order  []string          // names, in put order
	fail   map[string]error
	before func(name string)
}

func newFakeStore() *fakeStore {
	return &fakeStore{got: map[string]string{}, fail: map[string]error{}}
}

func runFileName(f RunFile) string {
	if f.IsLog() {
		return "log"
	}
	return f.Output + "/" + f.Path
}

func (s *fakeStore) put(ctx context.Context, f RunFile, body *os.File) (tandem.BlobRef, error) {
	name := runFileName(f)
	if s.before != nil {
		s.before(name)
	}
	if err := s.fail[name]; err != nil {
		return tandem.BlobRef{}, err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return tandem.BlobRef{}, err
	}
	s.got[name] = string(b)
	s.order = append(s.order, name)
	sum := sha256.Sum256(b)
	return tandem.BlobRef{Key: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}, nil
}

// take returns the names put since the last take.
func (s *fakeStore) take() []string {
	out := s.order
	s.order = nil
	return out
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, body := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func uploadedNames(ups []Uploaded) []string {
	var out []string
	for _, up := range ups {
		out = append(out, runFileName(up.RunFile))
	}
	return out
}

func wantNames(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// runDirs lays out a run: a log and two outputs, one with a subfolder
// and a symlink (not a regular file: never uploaded).
func runDirs(t *testing.T) (map[string]string, string) {
	t.Helper()
	root := t.TempDir()
	dirs := map[string]string{"model": filepath.Join(root, "model"), "metrics": filepath.Join(root, "metrics")}
	writeFiles(t, dirs["model"], map[string]string{"weights.bin": "w1", "sub/config.json": "{}"})
	writeFiles(t, dirs["metrics"], map[string]string{"loss.csv": "0.5"})
	if err := os.Symlink("weights.bin", filepath.Join(dirs["model"], "link")); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(root, "std_log.txt")
	writeFiles(t, root, map[string]string{"std_log.txt": "started\n"})
	return dirs, log
}

// A fresh Uploader puts the log, then every regular file of every output,
// outputs by name and files in lexical order, and returns their refs.
func TestUploaderFreshPutsEverything(t *testing.T) {
	dirs, log := runDirs(t)
	s := newFakeStore()
	ups, err := NewUploader(s.put).Upload(context.Background(), dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"log", "metrics/loss.csv", "model/sub/config.json", "model/weights.bin"}
	wantNames(t, "uploaded", uploadedNames(ups), want)
	wantNames(t, "put", s.take(), want)
	if s.got["model/sub/config.json"] != "{}" || s.got["log"] != "started\n" {
		t.Fatalf("bytes put: %q", s.got)
	}
	refs := Refs(ups)
	if len(refs) != len(ups) || refs[1].Key != "metrics/loss.csv" || refs[1].Size != 3 || !tandem.ValidSHA256(refs[1].SHA256) {
		t.Fatalf("refs: %+v", refs)
	}
}

// A later Upload skips what has not changed in size or time and puts what
// has, and new files.
func TestUploaderPutsOnlyChanges(t *testing.T) {
	dirs, log := runDirs(t)
	s := newFakeStore()
	u := NewUploader(s.put)
	ctx := context.Background()
	if _, err := u.Upload(ctx, dirs, log); err != nil {
		t.Fatal(err)
	}
	s.take()

	ups, err := u.Upload(ctx, dirs, log)
	if err != nil || len(ups) != 0 {
		t.Fatalf("nothing changed: uploaded %q, err %v", uploadedNames(ups), err)
	}
	wantNames(t, "put", s.take(), nil)

	// Same size, other time: changed. Grown log. A new file.
	weights := filepath.Join(dirs["model"], "weights.bin")
	writeFiles(t, dirs["model"], map[string]string{"weights.bin": "w2", "new.txt": "n"})
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(weights, later, later); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more\n")
	f.Close()
	ups, err = u.Upload(ctx, dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "uploaded", uploadedNames(ups), []string{"log", "model/new.txt", "model/weights.bin"})
	if s.got["model/weights.bin"] != "w2" || s.got["log"] != "started\nmore\n" {
		t.Fatalf("bytes put: %q", s.got)
	}
}

// Files and folders removed while the walk runs are skipped without an
// error, as are a missing output folder and a missing log; the next
// Upload sees what is there then.
func TestUploaderToleratesRemovalDuringWalk(t *testing.T) {
	dirs, log := runDirs(t)
	dirs["gone"] = filepath.Join(t.TempDir(), "never-made")
	writeFiles(t, dirs["model"], map[string]string{"a.txt": "a", "z/deep.txt": "d"})
	s := newFakeStore()
	s.before = func(name string) {
		if name == "model/a.txt" {
			// Listed with model's entries already; not walked yet.
			os.Remove(filepath.Join(dirs["model"], "weights.bin"))
			os.RemoveAll(filepath.Join(dirs["model"], "z"))
			os.RemoveAll(filepath.Join(dirs["model"], "sub"))
		}
	}
	u := NewUploader(s.put)
	ups, err := u.Upload(context.Background(), dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "uploaded", uploadedNames(ups), []string{"log", "metrics/loss.csv", "model/a.txt"})

	s.before = nil
	s.take()
	writeFiles(t, dirs["model"], map[string]string{"weights.bin": "back"})
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	ups, err = u.Upload(context.Background(), dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "uploaded after", uploadedNames(ups), []string{"model/weights.bin"})
}

// A failed put ends the walk of its output and is the error returned; the
// log and the other outputs are still put, and the next Upload puts what
// was not.
func TestUploaderPutError(t *testing.T) {
	dirs, log := runDirs(t)
	writeFiles(t, dirs["model"], map[string]string{"zz.txt": "after"})
	boom := errors.New("storage down")
	s := newFakeStore()
	s.fail["model/sub/config.json"] = boom
	s.fail["log"] = errors.New("log refused")
	u := NewUploader(s.put)
	ups, err := u.Upload(context.Background(), dirs, log)
	if err == nil || err.Error() != "log refused" {
		t.Fatalf("err = %v, want the first error (the log's)", err)
	}
	wantNames(t, "uploaded", uploadedNames(ups), []string{"metrics/loss.csv"})

	delete(s.fail, "log")
	ups, err = u.Upload(context.Background(), dirs, log)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	wantNames(t, "uploaded", uploadedNames(ups), []string{"log"})

	delete(s.fail, "model/sub/config.json")
	ups, err = u.Upload(context.Background(), dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "uploaded once the store is back", uploadedNames(ups), []string{"model/sub/config.json", "model/weights.bin", "model/zz.txt"})
}

// A file that cannot be opened is an error, like a failed put.
func TestUploaderOpenError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root opens any file")
	}
	dirs, _ := runDirs(t)
	p := filepath.Join(dirs["metrics"], "loss.csv")
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	s := newFakeStore()
	ups, err := NewUploader(s.put).Upload(context.Background(), dirs, "")
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("err = %v, want permission denied", err)
	}
	wantNames(t, "uploaded", uploadedNames(ups), []string{"model/sub/config.json", "model/weights.bin"})
}

// Forget makes the next Upload put files again, unless they were put
// again since.
func TestUploaderForget(t *testing.T) {
	dirs, log := runDirs(t)
	s := newFakeStore()
	u := NewUploader(s.put)
	ctx := context.Background()
	first, err := u.Upload(ctx, dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	u.Forget(first[:2]) // log, metrics/loss.csv
	ups, err := u.Upload(ctx, dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	wantNames(t, "uploaded after Forget", uploadedNames(ups), []string{"log", "metrics/loss.csv"})

	writeFiles(t, dirs["metrics"], map[string]string{"loss.csv": "0.25"})
	if _, err := u.Upload(ctx, dirs, log); err != nil {
		t.Fatal(err)
	}
	u.Forget(first) // all stale but loss.csv's entry is newer
	ups, err = u.Upload(ctx, dirs, log)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(uploadedNames(ups), ",")
	if got != "log,model/sub/config.json,model/weights.bin" {
		t.Fatalf("uploaded after a stale Forget: %s", got)
	}
}
