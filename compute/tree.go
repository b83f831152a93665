package compute

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// Within reports whether p lies inside root.
func Within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// ReadOnlyTree makes a folder's files 0444 and its folders 0555, deepest
// first: inputs are delivered as read-only copies.
func ReadOnlyTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		return os.Chmod(p, 0o444)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
	}
	return nil
}

// WriteInputs writes each input's files under dir/<input>/, read through
// open (which must verify the bytes), makes them read-only, and returns
// the local path ${{inputs.NAME}} stands for: the single file of a file
// input, the folder otherwise. Local runs and agents deliver inputs alike.
func WriteInputs(dir string, inputs map[string]*tandem.JobInput, open func(input string, index int, f tandem.InputFile) (io.ReadCloser, error)) (map[string]string, error) {
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	paths := map[string]string{}
	for _, name := range names {
		in := inputs[name]
		local := filepath.Join(dir, name)
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, err
		}
		for i, f := range in.Files {
			dst := filepath.Join(local, filepath.FromSlash(f.Path))
			if !Within(local, dst) {
				return nil, fmt.Errorf("input %s: file %q is outside its folder", name, f.Path)
			}
			if err := WriteFrom(dst, func() (io.ReadCloser, error) { return open(name, i, f) }); err != nil {
				return nil, fmt.Errorf("input %s: %s: %w", name, f.Path, err)
			}
		}
		if err := ReadOnlyTree(local); err != nil {
			return nil, err
		}
		paths[name] = local
		if in.File && len(in.Files) == 1 {
			paths[name] = filepath.Join(local, filepath.FromSlash(in.Files[0].Path))
		}
	}
	return paths, nil
}

// WriteFrom copies what open returns to a new file at dst, creating its
// folder; a reader that verifies as it goes fails the copy on bad bytes.
func WriteFrom(dst string, open func() (io.ReadCloser, error)) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
