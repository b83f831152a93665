// Package archive reads and writes workspace archives (format
// tandem-archive/v1, docs/archive-format.md): a plain tar whose first entry
// is a header naming the format and the source workspace and whose last
// entry is a manifest listing every entry with its sha256 and size.
//
// Both directions stream: the writer hashes each entry as it copies it and
// writes the manifest at the end; the reader hashes each entry as the
// caller reads it and checks everything against the manifest when it
// reaches it. A reader refuses, with an error that says what is wrong and
// where, anything but regular files with clean relative names under the
// known top-level names, duplicate names, entries after the manifest, an
// unknown format, and an archive that ends without its manifest.
//
// The package knows nothing of regions or stores; it depends on the root
// package only for error codes and for hashing (tandem.HashReader).
package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

// Format is the format this package writes and reads.
const Format = "tandem-archive/v1"

// Entry names and folders of an archive.
const (
	HeaderFile    = "tandem-archive.json" // always the first entry
	ResourcesFile = "resources.jsonl"     // one tandem.Resource per line
	SecretsFile   = "secrets.enc"         // secret values, encrypted (SealSecrets)
	ManifestFile  = "manifest.json"       // always the last entry
	BlobsDir      = "blobs/"              // blobs/<key relative to the workspace's storage prefix>
	YAMLDir       = "yaml/"               // yaml/<kind>/<name>[/<version>].yml: Azure ML documents, for people
)

// Limits of what a reader accepts. Blob entries are bounded by the caller
// (a blob's size is the one its resource declares).
const (
	MaxNameLen    = 1024
	MaxHeaderSize = 1 << 20
	MaxMetaSize   = 1 << 30 // resources.jsonl, manifest.json
	MaxYAMLSize   = 16 << 20
	MaxSecretSize = 64 << 20
)

// Header is the first entry of an archive.
type Header struct {
	Format    string          `json:"format"` // Format
	Workspace SourceWorkspace `json:"workspace"`
	Region    string          `json:"region"` // the region that wrote it
	CreatedAt time.Time       `json:"created_at"`
	// Since, when set, limits the archive to resources updated at or after
	// it (an incremental archive).
	Since *time.Time `json:"since,omitempty"`
	// Include lists the categories of resources the archive holds.
	Include []string `json:"include"`
	// Secrets names how secret values are protected, when there are any:
	// "passphrase" (scrypt, AES-256-GCM); empty without secrets.
	Secrets       string `json:"secrets,omitempty"`
	TandemVersion string `json:"tandem_version"`
}

// SourceWorkspace describes the exported workspace.
type SourceWorkspace struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
}

// Entry is one entry of the manifest.
type Entry struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Manifest is the last entry of an archive: every entry before it, in
// order, and counts of what it holds.
type Manifest struct {
	Format  string           `json:"format"`
	Counts  map[string]int64 `json:"counts"` // resources by kind, "blob", "secret"
	Bytes   int64            `json:"bytes"`  // total size of the blob entries
	Entries []Entry          `json:"entries"`
}

// corrupt and invalid build the reader's errors.
func corrupt(format string, args ...any) error {
	return tandem.Errorf(tandem.ECorrupt, "archive: "+format, args...)
}

func invalid(format string, args ...any) error {
	return tandem.Errorf(tandem.EInvalid, "archive: "+format, args...)
}

// CheckName returns an error unless name is a clean relative slash path
// under one of the archive's known top-level names: no leading "/", no "."
// or ".." segments, no empty segments, no backslash or NUL, valid UTF-8.
func CheckName(name string) error {
	switch {
	case name == "":
		return invalid("an entry has an empty name")
	case len(name) > MaxNameLen:
		return invalid("entry name %.60q... is longer than %d bytes", name, MaxNameLen)
	case !utf8.ValidString(name):
		return invalid("entry name %q is not valid UTF-8", name)
	case strings.ContainsAny(name, "\\\x00"):
		return invalid("entry name %q holds a backslash or NUL", name)
	case strings.HasPrefix(name, "/"):
		return invalid("entry name %q is absolute; archive entries are relative paths", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalid("entry name %q is not a clean path (empty, \".\" or \"..\" segment): path traversal is refused", name)
		}
	}
	if path.Clean(name) != name {
		return invalid("entry name %q is not a clean path", name)
	}
	switch name {
	case HeaderFile, ResourcesFile, SecretsFile, ManifestFile:
		return nil
	}
	if strings.HasPrefix(name, BlobsDir) || strings.HasPrefix(name, YAMLDir) {
		return nil
	}
	return invalid("unexpected entry %q: an archive holds %s, %s, %s, %s, %s... and %s...", name,
		HeaderFile, ResourcesFile, SecretsFile, ManifestFile, BlobsDir, YAMLDir)
}

// --- writing ---

// Writer writes an archive to a stream. The header goes out in NewWriter,
// the manifest in Close.
type Writer struct {
	tw     *tar.Writer
	mtime  time.Time
	man    Manifest
	names  map[string]bool
	failed error
}

// NewWriter writes the header h (its Format is set) and returns a writer
// for the entries that follow.
func NewWriter(w io.Writer, h *Header) (*Writer, error) {
	h.Format = Format
	aw := &Writer{
		tw:    tar.NewWriter(w),
		mtime: h.CreatedAt.UTC().Truncate(time.Second),
		man:   Manifest{Format: Format, Counts: map[string]int64{}},
		names: map[string]bool{},
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := aw.WriteBytes(HeaderFile, append(b, '\n')); err != nil {
		return nil, err
	}
	return aw, nil
}

// Count adds n to a manifest count.
func (w *Writer) Count(key string, n int64) { w.man.Counts[key] += n }

// WriteBytes writes one entry holding b.
func (w *Writer) WriteBytes(name string, b []byte) error {
	return w.WriteFile(name, int64(len(b)), bytes.NewReader(b))
}

// WriteFile writes one entry of exactly size bytes read from r. A reader
// that yields fewer or more bytes fails the entry, and the writer: a tar
// entry cannot be taken back.
func (w *Writer) WriteFile(name string, size int64, r io.Reader) error {
	if w.failed != nil {
		return w.failed
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if w.names[name] {
		return fmt.Errorf("archive: entry %q written twice", name)
	}
	w.names[name] = true
	err := w.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  w.mtime,
		Format:   tar.FormatPAX,
	})
	if err != nil {
		w.failed = err
		return err
	}
	src := tandem.HashReader(io.LimitReader(r, size), fmt.Sprintf("archive: entry %q", name))
	n, err := io.Copy(w.tw, src)
	if err == nil && n != size {
		err = fmt.Errorf("archive: entry %q: source ended after %d of %d bytes", name, n, size)
	}
	if err == nil {
		// The source must end exactly at size.
		var one [1]byte
		if m, _ := io.ReadFull(r, one[:]); m > 0 {
			err = fmt.Errorf("archive: entry %q: source holds more than the %d bytes declared", name, size)
		}
	}
	if err != nil {
		w.failed = err
		return err
	}
	w.man.Entries = append(w.man.Entries, Entry{Name: name, SHA256: src.Ref().SHA256, Size: size})
	if strings.HasPrefix(name, BlobsDir) {
		w.man.Bytes += size
	}
	return nil
}

// Close writes the manifest and ends the tar stream. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.failed != nil {
		return w.failed
	}
	b, err := json.MarshalIndent(&w.man, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestFile, Size: int64(len(b)), Mode: 0o644, ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := w.tw.Write(b); err != nil {
		return err
	}
	return w.tw.Close()
}

// --- reading ---

// Reader reads an archive from a stream, verifying it as it goes.
type Reader struct {
	Header *Header

	tr       *tar.Reader
	cur      *File
	seen     []Entry
	names    map[string]bool
	manifest *Manifest
	err      error // sticky
}

// File is one entry being read. Its bytes are hashed as they are read;
// whatever the caller leaves unread is read (and hashed) by the next Next.
type File struct {
	Name string
	Size int64

	r    *tandem.VerifyingReader // hashes the tar entry, limited to Size
	done bool
}

// Read reads the entry's bytes.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		if read := f.r.Ref().Size; read != f.Size {
			return n, corrupt("entry %q is truncated: %d of %d bytes", f.Name, read, f.Size)
		}
	}
	if err != nil && err != io.EOF {
		return n, tarError(err, f.Name)
	}
	return n, err
}

// SHA256 returns the entry's hash once it has been read to its end.
func (f *File) SHA256() string { return f.r.Ref().SHA256 }

func tarError(err error, name string) error {
	if tandem.ErrorCode(err) != "" && tandem.ErrorCode(err) != tandem.EInternal {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		if name != "" {
			return corrupt("truncated: the stream ends inside entry %q", name)
		}
		return corrupt("truncated: the stream ends inside a tar header")
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrInsecurePath) {
		return corrupt("not a valid tar stream (after entry %q): %v", name, err)
	}
	return fmt.Errorf("archive: read after entry %q: %w", name, err)
}

// NewReader reads and checks the header entry.
func NewReader(r io.Reader) (*Reader, error) {
	ar := &Reader{tr: tar.NewReader(r), names: map[string]bool{}}
	f, err := ar.next()
	if err == io.EOF {
		return nil, corrupt("empty stream: no %s entry (is this a Tandem archive?)", HeaderFile)
	}
	if err != nil {
		return nil, err
	}
	if f.Name != HeaderFile {
		return nil, corrupt("first entry is %q, not %s: this is not a Tandem archive, or not one of format %s", f.Name, HeaderFile, Format)
	}
	if f.Size > MaxHeaderSize {
		return nil, corrupt("%s is %d bytes; at most %d are allowed", HeaderFile, f.Size, MaxHeaderSize)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, corrupt("%s is not JSON: %v", HeaderFile, err)
	}
	if probe.Format != Format {
		return nil, invalid("unknown archive format %q; this version of Tandem reads %q", probe.Format, Format)
	}
	var h Header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, corrupt("%s: %v", HeaderFile, err)
	}
	if h.Workspace.ID == "" {
		return nil, corrupt("%s names no source workspace id", HeaderFile)
	}
	ar.Header = &h
	return ar, nil
}

// Next returns the next entry before the manifest. When it reaches the
// manifest, it checks every entry read against it and returns io.EOF;
// only then is the archive known to be complete and intact.
func (ar *Reader) Next() (*File, error) {
	if ar.err != nil {
		return nil, ar.err
	}
	if ar.manifest != nil {
		return nil, io.EOF
	}
	f, err := ar.next()
	if err == io.EOF {
		ar.err = corrupt("truncated: the archive ends without its %s (last entry read: %q)", ManifestFile, ar.last())
		return nil, ar.err
	}
	if err != nil {
		ar.err = err
		return nil, err
	}
	if f.Name == HeaderFile {
		ar.err = corrupt("a second %s entry", HeaderFile)
		return nil, ar.err
	}
	if f.Name != ManifestFile {
		return f, nil
	}
	if err := ar.readManifest(f); err != nil {
		ar.err = err
		return nil, err
	}
	return nil, io.EOF
}

// Manifest returns the manifest once Next returned io.EOF.
func (ar *Reader) Manifest() *Manifest { return ar.manifest }

func (ar *Reader) last() string {
	if ar.cur != nil {
		return ar.cur.Name
	}
	return ""
}

// finish reads the rest of the current entry and records its hash.
func (ar *Reader) finish() error {
	f := ar.cur
	if f == nil || f.done {
		return nil
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		return err
	}
	f.done = true
	ar.seen = append(ar.seen, Entry{Name: f.Name, SHA256: f.SHA256(), Size: f.Size})
	return nil
}

// next reads the next tar header and checks its type and name.
func (ar *Reader) next() (*File, error) {
	if err := ar.finish(); err != nil {
		return nil, err
	}
	hdr, err := ar.tr.Next()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, tarError(err, ar.last())
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
	case tar.TypeSymlink, tar.TypeLink:
		return nil, invalid("entry %q is a link (to %q); archives hold regular files only", hdr.Name, hdr.Linkname)
	default:
		return nil, invalid("entry %q has tar type %q; archives hold regular files only", hdr.Name, string(hdr.Typeflag))
	}
	if err := CheckName(hdr.Name); err != nil {
		return nil, err
	}
	// A sparse file (PAX GNU.sparse.* records) reads as a regular file whose
	// holes the tar reader fills with zeros: a few bytes could then stand
	// for terabytes. Archives never hold one.
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return nil, invalid("entry %q is a sparse file; archives hold regular files only", hdr.Name)
		}
	}
	if hdr.Size < 0 {
		return nil, corrupt("entry %q has a negative size", hdr.Name)
	}
	if ar.names[hdr.Name] {
		return nil, corrupt("entry %q appears twice", hdr.Name)
	}
	ar.names[hdr.Name] = true
	r := tandem.HashReader(io.LimitReader(ar.tr, hdr.Size), fmt.Sprintf("archive: entry %q", hdr.Name))
	f := &File{Name: hdr.Name, Size: hdr.Size, r: r}
	ar.cur = f
	return f, nil
}

// readManifest reads the manifest and checks it against the entries read,
// and that nothing follows it.
func (ar *Reader) readManifest(f *File) error {
	if f.Size > MaxMetaSize {
		return corrupt("%s is %d bytes; at most %d are allowed", ManifestFile, f.Size, MaxMetaSize)
	}
	var man Manifest
	dec := json.NewDecoder(f)
	if err := dec.Decode(&man); err != nil {
		if tandem.ErrorCode(err) == tandem.ECorrupt {
			return err
		}
		return corrupt("%s is not valid JSON: %v", ManifestFile, err)
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		return err
	}
	f.done = true
	if man.Format != Format {
		return corrupt("%s has format %q, the header %q", ManifestFile, man.Format, Format)
	}
	if len(man.Entries) != len(ar.seen) {
		return corrupt("%s lists %d entries, the archive holds %d before it", ManifestFile, len(man.Entries), len(ar.seen))
	}
	for i, want := range man.Entries {
		got := ar.seen[i]
		switch {
		case want.Name != got.Name:
			return corrupt("entry %d is %q, %s lists %q", i+1, got.Name, ManifestFile, want.Name)
		case want.Size != got.Size:
			return corrupt("entry %q is %d bytes, %s records %d", got.Name, got.Size, ManifestFile, want.Size)
		case want.SHA256 != got.SHA256:
			return corrupt("entry %q has sha256 %s, %s records %s: the archive is corrupt", got.Name, got.SHA256, ManifestFile, want.SHA256)
		}
	}
	// Nothing may follow the manifest but the end of the tar stream.
	hdr, err := ar.tr.Next()
	if err == nil {
		return corrupt("entry %q follows %s, which must be last", hdr.Name, ManifestFile)
	}
	if err != io.EOF {
		return tarError(err, ManifestFile)
	}
	ar.manifest = &man
	return nil
}
