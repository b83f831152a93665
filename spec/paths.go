package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LocalPath is a local file or directory a document refers to, to be
// uploaded.
type LocalPath struct {
	Field string // dotted field path: "path", "conda_file", "build.path", "code", "jobs.train.code", "additional_includes[0]"
	Raw   string // as written in the YAML (without a file: prefix)
	Abs   string // absolute, resolved against the directory of the file that holds it
	Dir   bool   // a directory (false when unknown, with Options.NoFS)
	File  string // the file that holds the path (the document or a file: include)
	Pos   Pos
}

// shape says what a local path must be.
type shape int

const (
	fileOrDir shape = iota
	mustBeFile
	mustBeDir
)

// pathRule is a field holding a local path and, where allowed, a URI or a
// reference to a registered asset.
type pathRule struct {
	shape   shape
	uris    bool   // cloud URIs (azureml://datastores/..., https://, wasbs://, ...) allowed
	refKind string // kind of azureml:name:version references allowed; "" for none
	// contains names a file a directory must hold (MLTable, MLmodel).
	contains string
}

func (r pathRule) want() string {
	parts := []string{"a local path"}
	if r.uris {
		parts = append(parts, "a URI")
	}
	if r.refKind != "" {
		parts = append(parts, "azureml:NAME:VERSION")
	}
	return strings.Join(parts, " or ")
}

// uriSchemes are the URI schemes accepted where a field takes cloud data.
var uriSchemes = map[string]bool{
	"azureml": true, "https": true, "http": true, "wasbs": true, "wasb": true,
	"abfss": true, "abfs": true, "adl": true, "s3": true, "gs": true, "runs": true,
}

// uriScheme returns the scheme of s when s is written as a URI
// (scheme://... or runs:/...), and "" for anything else, Windows drive
// letters included.
func uriScheme(s string) string {
	i := strings.Index(s, ":")
	if i < 2 {
		return ""
	}
	scheme := strings.ToLower(s[:i])
	for _, ch := range scheme {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '+' || ch == '-' || ch == '.') {
			return ""
		}
	}
	if strings.HasPrefix(s[i:], "://") || (scheme == "runs" && strings.HasPrefix(s[i:], ":/")) {
		return scheme
	}
	return ""
}

func (r pathRule) check(c *checker, n *node, field string) any {
	s, ok := n.str()
	if !ok || strings.TrimSpace(s) == "" {
		if ok {
			c.problem(n, field, "must not be empty")
		} else {
			c.typeProblem(n, field, r)
		}
		return nil
	}
	if hasExpr(s) {
		return s // a binding, checked with the pipeline it is in
	}
	if IsRefString(s) {
		if r.refKind == "" {
			c.problem(n, field, "%q: a reference to a registered asset is not allowed here; give %s", s, r.want())
			return s
		}
		c.addRef(n, field, r.refKind, s)
		return s
	}
	if scheme := uriScheme(s); scheme != "" {
		switch {
		case !r.uris:
			c.problem(n, field, "%q: a URI is not allowed here; give a local path", s)
		case !uriSchemes[scheme]:
			c.problem(n, field, "%q: unsupported URI scheme %q", s, scheme)
		case scheme == "azureml":
			c.checkAzureMLURI(n, field, s)
		}
		return s
	}
	return c.localPath(n, field, strings.TrimPrefix(s, "file:"), r.shape, r.contains)
}

// checkAzureMLURI accepts datastore URIs (recording the datastore as a
// reference) and job output URIs.
func (c *checker) checkAzureMLURI(n *node, field, s string) {
	if ds, _, ok := ParseDatastoreURI(s); ok {
		c.refs = append(c.refs, Ref{Field: field, Kind: KindDatastore, Name: ds, Raw: s, File: n.file, Pos: n.pos})
		return
	}
	if strings.HasPrefix(s, "azureml://jobs/") || strings.HasPrefix(s, "azureml://registries/") {
		if strings.HasPrefix(s, "azureml://registries/") {
			if ref, ok := ParseRef(s); ok {
				ref.Field, ref.File, ref.Pos = field, n.file, n.pos
				c.refs = append(c.refs, ref)
			}
		}
		return
	}
	c.problem(n, field, "%q is not a valid azureml:// URI: use azureml://datastores/NAME/paths/PATH", s)
}

// localPath records a local path, resolved against the directory of the
// file that holds it, and checks it on disk unless NoFS is set. It returns
// the path as it goes into Fields.
func (c *checker) localPath(n *node, field, raw string, want shape, contains string) any {
	abs := c.resolve(n, raw)
	lp := LocalPath{Field: field, Raw: raw, Abs: abs, File: n.file, Pos: n.pos}
	if !c.opts.NoFS {
		info, err := os.Stat(abs)
		switch {
		case err != nil:
			c.problem(n, field, "%s: %s", raw, statReason(err))
			return c.fieldPath(n, raw)
		case want == mustBeDir && !info.IsDir():
			c.problem(n, field, "%s is a file; a directory is needed here", raw)
		case want == mustBeFile && info.IsDir():
			c.problem(n, field, "%s is a directory; a file is needed here", raw)
		case info.IsDir():
			lp.Dir = true
			if contains != "" {
				if _, err := os.Stat(filepath.Join(abs, contains)); err != nil {
					c.problem(n, field, "%s has no %s file", raw, contains)
				}
			}
			c.checkSymlinks(n, field, raw, abs)
		}
	}
	c.paths = append(c.paths, lp)
	return c.fieldPath(n, raw)
}

func statReason(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file or directory"
	case os.IsPermission(err):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// resolve makes raw absolute against the directory of the file n is in.
func (c *checker) resolve(n *node, raw string) string {
	if filepath.IsAbs(raw) {
		return filepath.Clean(raw)
	}
	dir, ok := c.dirs[n.file]
	if !ok {
		dir = c.topDir
	}
	return filepath.Join(dir, raw)
}

// fieldPath is the form of a local path kept in Fields: as written in the
// document itself, and relative to the document's directory for paths
// written in an included file, so that Fields stays meaningful on its own.
func (c *checker) fieldPath(n *node, raw string) string {
	if filepath.IsAbs(raw) || n.file == c.top || n.file == "" {
		return raw
	}
	rel, err := filepath.Rel(c.topDir, c.resolve(n, raw))
	if err != nil {
		return raw
	}
	return filepath.ToSlash(rel)
}

// checkSymlinks walks a directory that will be uploaded and reports every
// symbolic link in it that leads outside it: uploading would copy files
// the user did not point at.
func (c *checker) checkSymlinks(n *node, field, raw, dir string) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return
	}
	reported := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		rel, _ := filepath.Rel(dir, p)
		if err != nil {
			c.problem(n, field, "%s: symbolic link %s is broken", raw, filepath.ToSlash(rel))
		} else if !within(root, target) {
			c.problem(n, field, "%s: symbolic link %s points outside the directory (to %s)", raw, filepath.ToSlash(rel), target)
		} else {
			return nil
		}
		if reported++; reported >= 10 {
			return fs.SkipAll
		}
		return nil
	})
}

// within reports whether path is root or inside it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// readInclude reads a YAML file named by a file: reference (or a component
// path) in n, guarding against include cycles.
func (c *checker) readInclude(n *node, field, raw string) (*node, bool) {
	abs := c.resolve(n, raw)
	for _, f := range c.including {
		if f == abs {
			c.problem(n, field, "%s includes itself (through %s)", raw, strings.Join(c.including, " -> "))
			return nil, false
		}
	}
	if len(c.including) >= maxIncludeDepth {
		c.problem(n, field, "%s: file: includes are nested more than %d deep", raw, maxIncludeDepth)
		return nil, false
	}
	data, err := readRegular(abs, maxIncludeSize)
	if err != nil {
		c.problem(n, field, "%s: %s", raw, statReason(err))
		return nil, false
	}
	name := c.displayName(abs)
	c.dirs[name] = filepath.Dir(abs)
	root, probs := parseYAML(data, name)
	if len(probs) > 0 {
		c.probs = append(c.probs, probs...)
		return nil, false
	}
	return root, true
}

// Limits on file: includes: how deep they chain and how large one may be.
const (
	maxIncludeDepth = 16
	maxIncludeSize  = 8 << 20
)

// readRegular reads a regular file of at most limit bytes: an include must
// not be a device, a FIFO or a directory.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case info.IsDir():
		return nil, errors.New("is a directory, not a YAML file")
	case !info.Mode().IsRegular():
		return nil, errors.New("is not a regular file")
	case info.Size() > limit:
		return nil, fmt.Errorf("is larger than %d MiB", limit>>20)
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// displayName is how an included file is named in problems: relative to
// the working directory's view of the document when it can be.
func (c *checker) displayName(abs string) string {
	if c.top == "" {
		return abs
	}
	if rel, err := filepath.Rel(c.topDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join(filepath.Dir(c.top), rel)
	}
	return abs
}
