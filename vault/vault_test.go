package vault_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/conformance"
	"github.com/tandemml/tandem/vault"
)

func TestConformance(t *testing.T) {
	conformance.Vault(t, func(t *testing.T) tandem.Vault {
		return mustOpen(t, filepath.Join(t.TempDir(), "vault.key"))
	})
}

func mustOpen(t *testing.T, path string) *vault.KeyFile {
	t.Helper()
	kf, err := vault.OpenKeyFile(path)
	if err != nil {
		t.Fatalf("OpenKeyFile: %v", err)
	}
	return kf
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

// ring is the key file's content as the tests read it.
type ring struct {
	Version int    `json:"version"`
	Current string `json:"current"`
	Keys    []struct {
		ID  string `json:"id"`
		Key []byte `json:"key"`
	} `json:"keys"`
}

func readRing(t *testing.T, path string) ring {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r ring
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("key file is not JSON: %v\n%s", err, data)
	}
	return r
}

func (r ring) ids() []string {
	var out []string
	for _, k := range r.Keys {
		out = append(out, k.ID)
	}
	return out
}

func TestOpenKeyFile_Creates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "vault.key")
	kf := mustOpen(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("got mode %04o, want 0600", perm)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("got directory mode %04o, want 0700", di.Mode().Perm())
	}
	r := readRing(t, path)
	if r.Version != 1 || len(r.Keys) != 1 || r.Current != r.Keys[0].ID || len(r.Keys[0].Key) != 32 {
		t.Fatalf("got keyring %+v, want version 1 with one current 32-byte key", r)
	}
	if kf.KeyID() != r.Current || kf.Path() != path {
		t.Fatalf("got key %q path %q, want %q %q", kf.KeyID(), kf.Path(), r.Current, path)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("got %d files next to the key file, want no temporary files left", len(entries))
	}
}

func TestOpenKeyFile_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	kf := mustOpen(t, path)
	s, err := kf.Seal([]byte("kept across restarts"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	again := mustOpen(t, path)
	if again.KeyID() != kf.KeyID() {
		t.Fatalf("reopened with key %q, want %q", again.KeyID(), kf.KeyID())
	}
	got, err := again.Open(s, []byte("aad"))
	if err != nil || string(got) != "kept across restarts" {
		t.Fatalf("Open after reopen: got %q, %v", got, err)
	}
}

func TestOpenKeyFile_ErrPermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o666} {
		path := filepath.Join(t.TempDir(), "vault.key")
		mustOpen(t, path)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := vault.OpenKeyFile(path)
		wantCode(t, err, tandem.EInvalid)
		if !strings.Contains(err.Error(), "chmod 600") || !strings.Contains(err.Error(), path) {
			t.Fatalf("mode %04o: got %q, want a message naming the file and chmod 600", mode, err)
		}
	}
	path := filepath.Join(t.TempDir(), "vault.key")
	mustOpen(t, path)
	os.Chmod(path, 0o400)
	mustOpen(t, path) // owner-only, read-only is fine
}

func TestOpenKeyFile_ErrInvalid(t *testing.T) {
	valid := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "vault.key")
		mustOpen(t, path)
		data, _ := os.ReadFile(path)
		return string(data)
	}
	for _, tt := range []struct {
		name    string
		content func(valid string, r ring) string
		msg     string
	}{
		{"Empty", func(string, ring) string { return "" }, "not a valid keyring"},
		{"NotJSON", func(string, ring) string { return "not json" }, "not a valid keyring"},
		{"UnknownField", func(v string, _ ring) string { return strings.Replace(v, `"version"`, `"extra": 1, "version"`, 1) }, "unknown field"},
		{"Version", func(v string, _ ring) string { return strings.Replace(v, `"version": 1`, `"version": 2`, 1) }, "version 2"},
		{"NoKeys", func(_ string, r ring) string { return `{"version": 1, "current": "` + r.Current + `", "keys": []}` }, "no keys"},
		{"CurrentMissing", func(v string, r ring) string {
			return strings.Replace(v, `"current": "`+r.Current+`"`, `"current": "gone"`, 1)
		}, `current key "gone"`},
		{"ShortKey", func(_ string, r ring) string {
			return `{"version": 1, "current": "k1", "keys": [{"id": "k1", "key": "AAAA", "created_at": "2026-01-01T00:00:00Z"}]}`
		}, "has 3 bytes"},
		{"BadID", func(_ string, r ring) string {
			return `{"version": 1, "current": "a b", "keys": [{"id": "a b", "key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "created_at": "2026-01-01T00:00:00Z"}]}`
		}, `key id "a b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := valid(t)
			var r ring
			json.Unmarshal([]byte(v), &r)
			path := filepath.Join(t.TempDir(), "vault.key")
			if err := os.WriteFile(path, []byte(tt.content(v, r)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := vault.OpenKeyFile(path)
			wantCode(t, err, tandem.EInvalid)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %q, want %q in it", err, tt.msg)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content(v, r) {
				t.Fatal("OpenKeyFile changed an invalid key file, want it left alone")
			}
		})
	}
	t.Run("Directory", func(t *testing.T) {
		_, err := vault.OpenKeyFile(t.TempDir())
		wantCode(t, err, tandem.EInvalid)
	})
}

func TestAddKeyAndRetire_Persist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vault.key")
	kf := mustOpen(t, path)
	k1 := kf.KeyID()
	s1, _ := kf.Seal([]byte("one"), nil)
	k2, err := kf.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	if r := readRing(t, path); r.Current != k2 || !slices.Equal(r.ids(), []string{k1, k2}) {
		t.Fatalf("key file after AddKey: current %q keys %v; want %q and [%s %s]", r.Current, r.ids(), k2, k1, k2)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("got mode %04o after AddKey, want 0600", fi.Mode().Perm())
	}
	// A restart between the steps of a rotation still opens everything.
	re := mustOpen(t, path)
	if re.KeyID() != k2 {
		t.Fatalf("reopened with current %q, want %q", re.KeyID(), k2)
	}
	if got, err := re.Open(s1, nil); err != nil || string(got) != "one" {
		t.Fatalf("Open of a value under the older key after reopen: %q, %v", got, err)
	}
	removed, err := kf.RetireKeys(nil)
	if err != nil || !slices.Equal(removed, []string{k1}) {
		t.Fatalf("RetireKeys: got %v, %v; want [%s]", removed, err, k1)
	}
	if r := readRing(t, path); !slices.Equal(r.ids(), []string{k2}) {
		t.Fatalf("key file after RetireKeys holds %v, want [%s]", r.ids(), k2)
	}
	if !slices.Equal(kf.KeyIDs(), []string{k2}) {
		t.Fatalf("KeyIDs = %v, want [%s]", kf.KeyIDs(), k2)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("got %d files in the key file's directory, want no temporary files left", len(entries))
	}
}

// TestSharedKeyFile: a process that rotated the keys makes another one,
// sharing the key file, read it again when it meets the new key.
func TestSharedKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	a, b := mustOpen(t, path), mustOpen(t, path)
	if _, err := a.AddKey(); err != nil {
		t.Fatal(err)
	}
	s, err := a.Seal([]byte("sealed by a"), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Open(s, []byte("x"))
	if err != nil || string(got) != "sealed by a" {
		t.Fatalf("b.Open: got %q, %v", got, err)
	}
	if b.KeyID() != a.KeyID() {
		t.Fatalf("b's current key %q, want a's %q after reading the file again", b.KeyID(), a.KeyID())
	}
}

func TestKeyFile_NoPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	kf := mustOpen(t, path)
	pt := []byte("plaintext-that-must-not-leak-4c1e")
	if _, err := kf.Seal(pt, nil); err != nil {
		t.Fatal(err)
	}
	kf.AddKey()
	kf.RetireKeys(nil)
	if data, _ := os.ReadFile(path); bytes.Contains(data, pt) {
		t.Fatal("the key file holds a plaintext")
	}
}

// FuzzOpen feeds arbitrary sealed values to Open: it must never panic, and
// never accept a value it did not seal.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "vault.key")
	kf, err := vault.OpenKeyFile(path)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := kf.Seal([]byte("fuzz"), []byte("aad"))
	seed, _ := json.Marshal(good)
	f.Add(seed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"alg":"A256GCM+A256GCMKW","kid":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s tandem.Sealed
		if json.Unmarshal(data, &s) != nil {
			return
		}
		got, err := kf.Open(s, []byte("aad"))
		if err == nil && (string(got) != "fuzz" || !bytes.Equal(s.Ciphertext, good.Ciphertext)) {
			t.Fatalf("Open accepted a value it did not seal: %q", got)
		}
		if _, err := kf.Rewrap(s); err == nil && s.KeyID != kf.KeyID() {
			t.Fatal("Rewrap accepted a value under an unknown key")
		}
	})
}
