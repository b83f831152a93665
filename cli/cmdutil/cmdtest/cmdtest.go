// Package cmdtest holds the helpers that the tests of package cli and of
// its command packages share. It is imported only by _test.go files, so
// that "testing" stays out of the binary; it may import the standard
// library and nothing of Tandem's.
package cmdtest

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFiles creates files (relative path → content) under dir.
func WriteFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// MapEnv is an Env.Getenv that looks variables up in m.
func MapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
