package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

func sample(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, &Header{Workspace: SourceWorkspace{ID: "ws-1", Name: "mlw"}, Region: "eastus", CreatedAt: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct{ name, body string }{
		{ResourcesFile, `{"kind":"model","name":"clf","version":"1","blobs":[{"key":"assets/model/clf/1/m.pkl","sha256":"x","size":3}]}` + "\n"},
		{"yaml/model/clf/1.yml", "name: clf\n"},
		{"blobs/assets/model/clf/1/m.pkl", "abc"},
	} {
		if err := w.WriteBytes(e.name, []byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	w.Count("model", 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads an archive to its end and returns the entries and bodies.
func readAll(data []byte) (*Reader, map[string]string, error) {
	r, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	for {
		f, err := r.Next()
		if err == io.EOF {
			return r, out, nil
		}
		if err != nil {
			return r, out, err
		}
		b, err := io.ReadAll(io.LimitReader(f, 1<<20))
		if err != nil {
			return r, out, err
		}
		out[f.Name] = string(b)
	}
}

func TestRoundTrip(t *testing.T) {
	r, got, err := readAll(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Header.Format != Format || r.Header.Workspace.ID != "ws-1" || r.Header.Region != "eastus" {
		t.Fatalf("header %+v", r.Header)
	}
	if got["blobs/assets/model/clf/1/m.pkl"] != "abc" || len(got) != 3 {
		t.Fatalf("entries %v", got)
	}
	m := r.Manifest()
	if m == nil || len(m.Entries) != 4 || m.Entries[0].Name != HeaderFile || m.Counts["model"] != 1 || m.Bytes != 3 {
		t.Fatalf("manifest %+v", m)
	}
}

func TestWriter_Refuses(t *testing.T) {
	w, err := NewWriter(io.Discard, &Header{Workspace: SourceWorkspace{ID: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBytes("../etc/passwd", nil); tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("bad name: %v", err)
	}
	if err := w.WriteFile("blobs/a", 5, strings.NewReader("abc")); err == nil {
		t.Fatal("a short source was accepted")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after a failed entry succeeded")
	}
	w, _ = NewWriter(io.Discard, &Header{Workspace: SourceWorkspace{ID: "x"}})
	if err := w.WriteFile("blobs/a", 2, strings.NewReader("abc")); err == nil {
		t.Fatal("a long source was accepted")
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{HeaderFile, ResourcesFile, "blobs/a/b c.txt", "yaml/model/m/1.yml"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/abs", "blobs/../x", "blobs/./x", "blobs//x", "blobs/x/", "blobs\\x", "other.txt", "blobs/\xff", "blobs/a\x00"} {
		if err := CheckName(bad); tandem.ErrorCode(err) != tandem.EInvalid {
			t.Errorf("%q: got %v, want Invalid", bad, err)
		}
	}
}

func tarOf(entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestReader_Refuses(t *testing.T) {
	good := sample(t)
	cases := []struct {
		name, msg string
		data      []byte
	}{
		{"empty", "empty stream", nil},
		{"garbage", "", bytes.Repeat([]byte{0xff}, 2048)},
		{"first entry not the header", "first entry", tarOf(&tar.Header{Name: "blobs/a", Typeflag: tar.TypeReg, Size: 1})},
		{"symlink", "is a link", tarOf(&tar.Header{Name: HeaderFile, Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})},
		{"directory", "regular files only", tarOf(&tar.Header{Name: "blobs", Typeflag: tar.TypeDir})},
		{"truncated", "truncated", good[:len(good)-1500]},
		{"no manifest", "without its manifest", func() []byte {
			r := tar.NewReader(bytes.NewReader(good))
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for {
				h, err := r.Next()
				if err != nil || h.Name == ManifestFile {
					break
				}
				tw.WriteHeader(h)
				io.Copy(tw, r)
			}
			tw.Close()
			return buf.Bytes()
		}()},
		{"flipped byte", "manifest.json records", bytes.Replace(good, []byte("abc"), []byte("abd"), 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAll(c.data)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if code := tandem.ErrorCode(err); code != tandem.ECorrupt && code != tandem.EInvalid {
				t.Fatalf("got %v (code %q), want Corrupt or Invalid", err, code)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %q", err, c.msg)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	pass := []byte("a long enough passphrase")
	in := []SecretValue{{Name: "k", Version: 3, Value: []byte("v4lue")}}
	b, err := SealSecrets(pass, "ws-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("v4lue")) || bytes.Contains(b, []byte(`"k"`)) {
		t.Fatal("secret in clear")
	}
	out, err := OpenSecrets(pass, "ws-1", b)
	if err != nil || len(out) != 1 || string(out[0].Value) != "v4lue" || out[0].Version != 3 {
		t.Fatalf("OpenSecrets: %+v, %v", out, err)
	}
	if _, err := OpenSecrets([]byte("another passphrase!"), "ws-1", b); tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := OpenSecrets(pass, "ws-2", b); err == nil {
		t.Fatal("secrets moved to another archive's workspace opened")
	}
	if _, err := SealSecrets([]byte("short"), "ws-1", in); tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("short passphrase: %v", err)
	}
}

// FuzzReader feeds arbitrary bytes to the reader: it must never panic,
// every error must carry a code a user can act on (Corrupt or Invalid),
// and what it accepts must be consistent with its manifest.
func FuzzReader(f *testing.F) {
	good := sample(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:512])
	f.Add([]byte{})
	f.Add(tarOf(&tar.Header{Name: HeaderFile, Typeflag: tar.TypeSymlink, Linkname: "x"}))
	f.Add(tarOf(&tar.Header{Name: "../" + HeaderFile, Typeflag: tar.TypeReg, Size: 4}))
	f.Add(bytes.Replace(good, []byte("abc"), []byte("abd"), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, got, err := readAll(data)
		if err != nil {
			var te *tandem.Error
			if !errors.As(err, &te) || (te.Code != tandem.ECorrupt && te.Code != tandem.EInvalid) {
				t.Fatalf("error without a Corrupt or Invalid code: %v", err)
			}
			return
		}
		m := r.Manifest()
		if m == nil || len(m.Entries) != len(got)+1 {
			t.Fatalf("accepted an archive whose manifest does not list its %d entries: %+v", len(got)+1, m)
		}
		for _, e := range m.Entries {
			if err := CheckName(e.Name); err != nil {
				t.Fatalf("accepted entry %q: %v", e.Name, err)
			}
		}
	})
}

func TestSecrets_Recipient(t *testing.T) {
	id, rcpt, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := RecipientOf(id); err != nil || got != rcpt {
		t.Fatalf("RecipientOf: %q, %v; want %q", got, err, rcpt)
	}
	in := []SecretValue{{Name: "k", Version: 2, Value: []byte("v4lue")}}
	b, err := SealSecretsTo(rcpt, "ws-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("v4lue")) {
		t.Fatal("secret in clear")
	}
	out, err := OpenSecretsWith(nil, id, "ws-1", b)
	if err != nil || len(out) != 1 || string(out[0].Value) != "v4lue" {
		t.Fatalf("open: %+v, %v", out, err)
	}
	other, _, _ := GenerateIdentity()
	if _, err := OpenSecretsWith(nil, other, "ws-1", b); tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("another identity: %v", err)
	}
	if _, err := OpenSecretsWith(nil, id, "ws-2", b); err == nil {
		t.Fatal("opened for another workspace")
	}
	if _, err := OpenSecretsWith([]byte("a passphrase is not enough"), "", "ws-1", b); tandem.ErrorCode(err) != tandem.EInvalid || !strings.Contains(err.Error(), "--identity-file") {
		t.Fatalf("no identity: %v", err)
	}
	if err := CheckRecipient(id); err == nil {
		t.Fatal("an identity was taken for a recipient")
	}
}
