package cmdutil

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	gitignore "github.com/sabhiram/go-gitignore"

	"github.com/tandemml/tandem"
)

// localFile is a regular file found under an uploaded directory.
type localFile struct {
	abs  string // what to read (a symbolic link's target inside the root)
	rel  string // slash-separated path under the root
	size int64
}

// ignoreFiles are the files whose patterns leave files out of a code
// snapshot, as Azure ML reads them: .amlignore when a directory has one,
// otherwise .gitignore. Each applies to its directory and below.
var ignoreFiles = []string{".amlignore", ".gitignore"}

type ignoreRule struct {
	dir string // slash-separated, "" for the root
	m   *gitignore.GitIgnore
}

func (r ignoreRule) ignores(rel string, isDir bool) bool {
	p := rel
	if r.dir != "" {
		if !strings.HasPrefix(rel, r.dir+"/") {
			return false
		}
		p = strings.TrimPrefix(rel, r.dir+"/")
	}
	if isDir {
		p += "/"
	}
	return r.m.MatchesPath(p)
}

// walkUpload lists the regular files under root. With snapshot set (a
// job's or component's code) it applies .amlignore/.gitignore rules and
// leaves out .git directories. A symbolic link is followed when its target
// stays inside root; one that leads outside is an error, so that nothing
// outside the directory the user named is uploaded. skipped is called for
// what is left out and why.
func walkUpload(root string, snapshot bool, skipped func(p, why string)) ([]localFile, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var rules []ignoreRule
	var out []localFile
	err = filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, fp)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			rel = ""
		}
		if snapshot && rel != "" {
			if d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			for _, r := range rules {
				if r.ignores(rel, d.IsDir()) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
			}
		}
		if d.IsDir() {
			if snapshot {
				for _, name := range ignoreFiles {
					m, err := gitignore.CompileIgnoreFile(filepath.Join(fp, name))
					if errors.Is(err, fs.ErrNotExist) {
						continue
					} else if err != nil {
						return tandem.Errorf(tandem.EInvalid, "%s: %v", filepath.Join(fp, name), err)
					}
					rules = append(rules, ignoreRule{dir: rel, m: m})
					break
				}
			}
			return nil
		}
		target := fp
		if d.Type()&fs.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(fp)
			if err != nil {
				return tandem.Errorf(tandem.EInvalid, "%s is a symbolic link that cannot be followed: %v", fp, err).WithTarget(fp)
			}
			if inside, _ := filepath.Rel(realRoot, resolved); inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) || filepath.IsAbs(inside) {
				return tandem.Errorf(tandem.EInvalid, "%s is a symbolic link to %s, outside %s: copy the file in or remove the link", fp, resolved, root).WithTarget(fp)
			}
			target = resolved
		}
		fi, err := os.Stat(target)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			skipped(fp, "not a regular file")
			return nil
		}
		out = append(out, localFile{abs: target, rel: path.Clean(rel), size: fi.Size()})
		return nil
	})
	return out, err
}
