package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badCase is a document that must fail with a problem reading exactly
// "t.yml:LINE:COL: field: " followed by text containing msg.
type badCase struct {
	name string
	yaml string
	opts Options
	want string // "LINE:COL: field: " or "LINE:COL: " or ": field: " (no position)
	msg  string
}

// writeTree creates files under dir: a name ending in / is a directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runBad parses c.yaml as dir/t.yml and checks the problem.
func runBad(t *testing.T, dir string, c badCase) {
	t.Helper()
	file := filepath.Join(dir, "t.yml")
	if err := os.WriteFile(file, []byte(c.yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file, c.opts)
	if err == nil {
		t.Fatalf("got no error, want %q ... %q", c.want, c.msg)
	}
	ps, ok := AsProblems(err)
	if !ok {
		t.Fatalf("got %T %v, want Problems", err, err)
	}
	prefix := file + ":" + c.want
	if strings.HasPrefix(c.want, ":") {
		prefix = file + c.want
	}
	for _, p := range ps {
		if p.File == "" || p.Message == "" {
			t.Errorf("problem %+v lacks a file or a message", p)
		}
		if s := p.Error(); strings.HasPrefix(s, prefix) && strings.Contains(s[len(prefix):], c.msg) {
			return
		}
	}
	t.Fatalf("got\n%v\nwant a problem %q...%q", err, prefix, c.msg)
}
