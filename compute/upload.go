package compute

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// A RunFile names a file of a run to upload: an output file (Output, and
// Path slash-separated and relative to the output's directory) or the
// run's log (both empty).
type RunFile struct {
	Output string
	Path   string
}

// IsLog reports whether f is the run's log.
func (f RunFile) IsLog() bool { return f.Output == "" && f.Path == "" }

// An Uploaded is a file an Uploader put, with the ref put returned.
type Uploaded struct {
	RunFile
	Ref   tandem.BlobRef
	stamp stamp
}

// PutFunc stores one file of a run, read from body, and returns its ref.
type PutFunc func(ctx context.Context, f RunFile, body *os.File) (tandem.BlobRef, error)

// An Uploader uploads a run's log and output files through put: the
// server's job runner at a job's end, its output sync while a job runs,
// and an agent, all walk the files alike. It remembers the size and
// modification time of each file it put and, on a later Upload, skips a
// file whose size and time have not changed; a fresh Uploader puts
// everything. Uploads are serialized: an Uploader is safe for concurrent
// use.
type Uploader struct {
	put  PutFunc
	mu   sync.Mutex // held for a whole Upload
	sent map[RunFile]stamp
}

// stamp is what a file was when it was put.
type stamp struct {
	size int64
	mod  time.Time
}

func (s stamp) same(o stamp) bool { return s.size == o.size && s.mod.Equal(o.mod) }

// NewUploader returns an Uploader that stores files with put.
func NewUploader(put PutFunc) *Uploader {
	return &Uploader{put: put, sent: map[RunFile]stamp{}}
}

// Upload puts the log (unless log is "" or cannot be stated), then the
// regular files of each output's directory, outputs by name and files in
// lexical order, that changed since this Uploader last put them. It
// returns what it put, in that order, and the first error.
//
// A file or folder that goes away during the walk (or cannot be listed or
// stated) is skipped: the next Upload sees what is there then. A file that
// cannot be opened, or whose put fails, ends the walk of its output with
// that error; the log and the other outputs are still uploaded, and the
// failed file is put again by the next Upload.
func (u *Uploader) Upload(ctx context.Context, dirs map[string]string, log string) ([]Uploaded, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var (
		done  []Uploaded
		first error
	)
	fail := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if log != "" {
		if fi, err := os.Stat(log); err == nil {
			fail(u.upload(ctx, RunFile{}, log, fi, &done))
		}
	}
	names := make([]string, 0, len(dirs))
	for o := range dirs {
		names = append(names, o)
	}
	sort.Strings(names)
	for _, o := range names {
		dir := dirs[o]
		fail(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil // removed while we walk: the next Upload sees it
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			return u.upload(ctx, RunFile{Output: o, Path: filepath.ToSlash(rel)}, p, fi, &done)
		}))
	}
	return done, first
}

// upload puts the file at p as f unless it is as it was when last put.
func (u *Uploader) upload(ctx context.Context, f RunFile, p string, fi fs.FileInfo, done *[]Uploaded) error {
	st := stamp{fi.Size(), fi.ModTime()}
	if last, ok := u.sent[f]; ok && last.same(st) {
		return nil
	}
	body, err := os.Open(p)
	if err != nil {
		return err
	}
	defer body.Close()
	ref, err := u.put(ctx, f, body)
	if err != nil {
		return err
	}
	u.sent[f] = st
	*done = append(*done, Uploaded{RunFile: f, Ref: ref, stamp: st})
	return nil
}

// Forget makes the next Upload put these files again even when they have
// not changed: for uploads the caller could not record. A file put again
// since with another size or time is left as it is.
func (u *Uploader) Forget(ups []Uploaded) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, up := range ups {
		if last, ok := u.sent[up.RunFile]; ok && last.same(up.stamp) {
			delete(u.sent, up.RunFile)
		}
	}
}

// Refs returns the refs of ups, in order.
func Refs(ups []Uploaded) []tandem.BlobRef {
	refs := make([]tandem.BlobRef, len(ups))
	for i, up := range ups {
		refs[i] = up.Ref
	}
	return refs
}
