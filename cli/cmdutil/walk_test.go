package cmdutil

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

func TestWalkUploadIgnoreRules(t *testing.T) {
	root := t.TempDir()
	cmdtest.WriteFiles(t, root, map[string]string{
		".amlignore":          "*.log\ndata/\n!keep.log\n",
		".gitignore":          "train.py\n", // .amlignore wins at the same level
		"train.py":            "print(1)",
		"run.log":             "noise",
		"keep.log":            "kept",
		"data/big.csv":        "1,2",
		"sub/.gitignore":      "*.tmp\n",
		"sub/a.tmp":           "x",
		"sub/b.py":            "y",
		"sub/deeper/c.tmp":    "z",
		"other/a.tmp":         "outside sub's rules",
		".git/config":         "[core]",
		"notes/.amlignore":    "/draft.md\n",
		"notes/draft.md":      "d",
		"notes/deep/draft.md": "not anchored here",
	})
	if err := os.Symlink("train.py", filepath.Join(root, "alias.py")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	files, err := walkUpload(root, true, func(string, string) {})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.rel] = f.abs
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{".amlignore", ".gitignore", "alias.py", "keep.log", "notes/.amlignore", "notes/deep/draft.md", "other/a.tmp", "sub/.gitignore", "sub/b.py", "train.py"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("snapshot files:\n got %v\nwant %v", names, want)
	}
	if got["alias.py"] != filepath.Join(evalRoot(t, root), "train.py") {
		t.Fatalf("a link inside the root uploads its target; got %s", got["alias.py"])
	}
	// Without snapshot rules (an asset's files) everything but nothing
	// outside is taken.
	all, err := walkUpload(root, false, func(string, string) {})
	if err != nil || len(all) != 16 {
		t.Fatalf("asset walk: %d files, %v; want all 16", len(all), err)
	}
}

func evalRoot(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWalkUploadRefusesEscapingLinks(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("s"), 0o644)
	for _, link := range []string{filepath.Join(outside, "secret.txt"), "../" + filepath.Base(outside), outside} {
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "main.py"), []byte("m"), 0o644)
		if err := os.Symlink(link, filepath.Join(root, "escape")); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
		_, err := walkUpload(root, true, func(string, string) {})
		if !tandem.IsCode(err, tandem.EInvalid) {
			t.Fatalf("link to %s: %v, want an Invalid error", link, err)
		}
	}
}
