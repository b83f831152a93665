package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/archive"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

const testPassphrase = "correct horse battery staple"

// fillWorkspace fills workspace ws with two model versions, a data asset, a
// notebook in a folder, a datastore with a credential secret and a secret.
func fillWorkspace(t *testing.T, f *apptest.Fixture, ws string) {
	t.Helper()
	ctx := context.Background()
	apptest.WithVault(t, f)
	for _, body := range []string{"weights-v1", "weights-v2"} {
		if _, _, err := f.CreateAsset(ctx, ws, apptest.ModelRequest(t, f.Region, ws, "", body)); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Minute)
	}
	data := &tandem.AssetRequest{
		Kind:  tandem.KindData,
		Spec:  map[string]any{"name": "iris", "type": "uri_folder", "path": "iris", "tags": map[string]any{"source": "uci"}},
		Paths: []tandem.AssetPath{{Field: "path", Root: "iris", Dir: true}},
		Files: []tandem.AssetFile{apptest.Stage(t, f.Region, ws, "path", "iris/a.csv", "1,2,3\n"), apptest.Stage(t, f.Region, ws, "path", "iris/sub/b.csv", "4,5,6\n")},
	}
	if _, _, err := f.CreateAsset(ctx, ws, data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.UploadNotebook(ctx, ws, "lessons/intro.ipynb", strings.NewReader(`{"cells": []}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateDatastore(ctx, ws, map[string]any{"name": "blobs", "type": "azure_blob", "account_name": "acct",
		"container_name": "c", "credentials": map[string]any{"account_key": "s3cr3t-key"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetSecret(ctx, ws, "api-key", []byte("value-1")); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(time.Minute)
}

func export(t *testing.T, r *apptest.Region, ws string, opts tandem.ExportOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.ExportWorkspace(context.Background(), ws, opts, &buf); err != nil {
		t.Fatalf("ExportWorkspace: %v", err)
	}
	return buf.Bytes()
}

func contentDigest(t *testing.T, r *apptest.Region, ws string) string {
	t.Helper()
	d, err := r.DigestWorkspace(context.Background(), ws, tandem.DigestOptions{Content: true, VerifyBlobs: true})
	if err != nil {
		t.Fatalf("digest of %s: %v", ws, err)
	}
	if d.Format != tandem.ContentDigestFormat {
		t.Fatalf("format %s", d.Format)
	}
	return d.Digest
}

func TestExportImport(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		src := apptest.MustCreate(t, f.Region, "src")
		fillWorkspace(t, f, "src")
		tar := export(t, f.Region, "src", tandem.ExportOptions{Include: []string{"all"}, Passphrase: testPassphrase})
		if bytes.Contains(tar, []byte("value-1")) || bytes.Contains(tar, []byte("s3cr3t-key")) {
			t.Fatal("a secret value is in the archive in clear")
		}

		// What a crashed import left behind a month ago is removed by the next one.
		if _, err := f.Blobs.Put(ctx, "imports/20261001T000000Z-crashed/0123", strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
		rep, err := f.ImportWorkspace(ctx, "copy", tandem.ImportOptions{Passphrase: testPassphrase}, bytes.NewReader(tar))
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		// 2 models, 1 data, 1 notebook, 1 datastore, 2 secrets (api-key and the datastore's credential).
		if !rep.WorkspaceCreated || rep.Resources[tandem.ImportCreated] != 7 || len(rep.Conflicts) != 0 || rep.BlobsCopied != 5 {
			t.Fatalf("report %+v", rep)
		}
		dst, err := f.FindWorkspace(ctx, "copy")
		if err != nil || dst.ID == src.ID || dst.Description != src.Description || dst.Tags["team"] != "vision" {
			t.Fatalf("target workspace %+v, %v", dst, err)
		}
		if a, b := contentDigest(t, f.Region, "src"), contentDigest(t, f.Region, "copy"); a != b {
			t.Fatalf("content digests differ: %s vs %s", a, b)
		}
		// Versions, times and files preserved; the secret readable under the new workspace.
		m, err := f.FindAsset(ctx, "copy", tandem.KindModel, "clf", "2", "")
		orig, _ := f.FindAsset(ctx, "src", tandem.KindModel, "clf", "2", "")
		if err != nil || !m.CreatedAt.Equal(orig.CreatedAt) || m.Files[0].SHA256 != orig.Files[0].SHA256 {
			t.Fatalf("model clf:2 in copy: %+v, %v", m, err)
		}
		if v, err := f.GetSecretValue(ctx, "copy", "api-key"); err != nil || string(v) != "value-1" {
			t.Fatalf("secret in copy: %q, %v", v, err)
		}
		// Every write went through the change log: the workspace, then one entry per resource.
		if n := len(apptest.Changes(t, f.Region, dst.ID)); n != 1+7 {
			t.Fatalf("copy's log has %d entries, want 8", n)
		}
		if keys := apptest.BlobKeys(t, f.Region, "imports/"); len(keys) != 0 {
			t.Fatalf("staged import blobs left: %v", keys)
		}

		// Again: nothing new.
		rep, err = f.ImportWorkspace(ctx, "copy", tandem.ImportOptions{Passphrase: testPassphrase}, bytes.NewReader(tar))
		if err != nil || rep.WorkspaceCreated || rep.Resources[tandem.ImportUnchanged] != 7 || rep.Resources[tandem.ImportCreated] != 0 || rep.BlobsCopied != 0 {
			t.Fatalf("second import: %+v, %v", rep, err)
		}
		if n := len(apptest.Changes(t, f.Region, dst.ID)); n != 8 {
			t.Fatalf("a repeated import wrote to the log: %d entries", n)
		}

		// Incremental: a new version and a notebook saved again, exported --since.
		since := f.Clock.T
		f.Clock.Advance(time.Minute)
		if _, _, err := f.CreateAsset(ctx, "src", apptest.ModelRequest(t, f.Region, "src", "", "weights-v3")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.UploadNotebook(ctx, "src", "lessons/intro.ipynb", strings.NewReader(`{"cells": [1]}`)); err != nil {
			t.Fatal(err)
		}
		inc := export(t, f.Region, "src", tandem.ExportOptions{Since: &since})
		rep, err = f.ImportWorkspace(ctx, "copy", tandem.ImportOptions{}, bytes.NewReader(inc))
		if err != nil || rep.Resources[tandem.ImportCreated] != 1 || rep.Resources[tandem.ImportUpdated] != 1 || rep.Resources[tandem.ImportUnchanged] != 0 {
			t.Fatalf("incremental import: %+v, %v", rep, err)
		}
		if a, b := contentDigest(t, f.Region, "src"), contentDigest(t, f.Region, "copy"); a != b {
			t.Fatalf("content digests differ after the incremental import")
		}
		// The notebook's new bytes went through a pending write, finished.
		if keys := apptest.BlobKeys(t, f.Region, tandem.StoragePrefix(dst.ID)+"staging/"); len(keys) != 0 {
			t.Fatalf("staged bytes left in the target: %v", keys)
		}
		_, rc, err := f.OpenNotebook(ctx, "copy", "lessons/intro.ipynb")
		if err != nil {
			t.Fatal(err)
		}
		nb, _ := io.ReadAll(rc)
		rc.Close()
		if string(nb) != `{"cells": [1]}` {
			t.Fatalf("imported notebook holds %q", nb)
		}

		// A version that exists with other content is a conflict, not an overwrite.
		apptest.MustCreate(t, f.Region, "other")
		if _, _, err := f.CreateAsset(ctx, "other", apptest.ModelRequest(t, f.Region, "other", "1", "different-bytes")); err != nil {
			t.Fatal(err)
		}
		rep, err = f.ImportWorkspace(ctx, "other", tandem.ImportOptions{Passphrase: testPassphrase}, bytes.NewReader(tar))
		if err != nil || len(rep.Conflicts) != 1 || rep.Conflicts[0].Name != "clf" || rep.Conflicts[0].Version != "1" {
			t.Fatalf("conflicting import: %+v, %v", rep, err)
		}
		if _, rc, err := f.OpenAssetFile(ctx, "other", tandem.KindModel, "clf", "1", "model.pkl"); err != nil {
			t.Fatal(err)
		} else if b, _ := io.ReadAll(rc); string(b) != "different-bytes" {
			rc.Close()
			t.Fatalf("the conflicting version was overwritten: %q", b)
		} else {
			rc.Close()
		}
		if _, err := f.FindAsset(ctx, "other", tandem.KindModel, "clf", "2", ""); err != nil {
			t.Fatalf("the rest of the archive was not imported: %v", err)
		}
		// The content digest tells them apart; the plain digest differs
		// for any two workspaces (it covers the id).
		if contentDigest(t, f.Region, "other") == contentDigest(t, f.Region, "src") {
			t.Fatal("content digests of different workspaces are equal")
		}
		d1, _ := f.DigestWorkspace(ctx, "src", tandem.DigestOptions{})
		d2, _ := f.DigestWorkspace(ctx, "copy", tandem.DigestOptions{})
		if d1.Digest == d2.Digest {
			t.Fatal("the plain digests of two workspaces are equal")
		}
	})
}

func TestExport_Options(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		apptest.MustCreate(t, f.Region, "src")
		fillWorkspace(t, f, "src")
		var buf bytes.Buffer
		err := f.ExportWorkspace(context.Background(), "src", tandem.ExportOptions{Include: []string{"secrets"}}, &buf)
		apptest.WantCode(t, err, tandem.EInvalid)
		if buf.Len() != 0 {
			t.Fatal("a refused export wrote bytes")
		}
		apptest.WantCode(t, f.ExportWorkspace(context.Background(), "src", tandem.ExportOptions{Include: []string{"secrets"}, Passphrase: "short"}, &buf), tandem.EInvalid)
		apptest.WantCode(t, f.ExportWorkspace(context.Background(), "src", tandem.ExportOptions{Include: []string{"models"}}, &buf), tandem.EInvalid)

		// A blob over the server's upload limit is refused before it is staged.
		f.MaxUpload = 4
		_, err = f.ImportWorkspace(context.Background(), "big-blob", tandem.ImportOptions{}, bytes.NewReader(export(t, f.Region, "src", tandem.ExportOptions{})))
		apptest.WantCode(t, err, tandem.ETooLarge)
		f.MaxUpload = 0

		// Only notebooks.
		b := export(t, f.Region, "src", tandem.ExportOptions{Include: []string{"notebooks"}})
		names := tarNames(t, b)
		want := []string{archive.HeaderFile, archive.ResourcesFile, "blobs/notebooks/lessons/intro.ipynb", archive.ManifestFile}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("entries %v, want %v", names, want)
		}
		// Secrets need the passphrase on import too.
		all := export(t, f.Region, "src", tandem.ExportOptions{Include: []string{"all"}, Passphrase: testPassphrase})
		_, err = f.ImportWorkspace(context.Background(), "secrets-in", tandem.ImportOptions{}, bytes.NewReader(all))
		if apptest.WantCode(t, err, tandem.EInvalid); !strings.Contains(err.Error(), "--passphrase-file") {
			t.Fatalf("no passphrase: %v", err)
		}
		_, err = f.ImportWorkspace(context.Background(), "secrets-in", tandem.ImportOptions{Passphrase: "wrong passphrase!"}, bytes.NewReader(all))
		if apptest.WantCode(t, err, tandem.EInvalid); !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("wrong passphrase: %v", err)
		}
		if _, err := f.FindWorkspace(context.Background(), "secrets-in"); !tandem.IsCode(err, tandem.ENotFound) {
			t.Fatalf("a refused import created the workspace: %v", err)
		}
	})
}

func tarNames(t *testing.T, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
}

// entry is one tar entry of a hand-made archive.
type entry struct {
	name string
	typ  byte
	body []byte
	link string
	size int64 // when > 0, the header's size (the body is written as is)
}

func readEntries(t *testing.T, b []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, entry{name: h.Name, typ: h.Typeflag, body: body})
	}
}

// fixManifest rewrites the last entry, the manifest, to match the others.
func fixManifest(t *testing.T, es []entry) []entry {
	t.Helper()
	var man archive.Manifest
	if err := json.Unmarshal(es[len(es)-1].body, &man); err != nil {
		t.Fatal(err)
	}
	man.Entries = nil
	for _, e := range es[:len(es)-1] {
		sum := sha256.Sum256(e.body)
		man.Entries = append(man.Entries, archive.Entry{Name: e.name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(e.body))})
	}
	b, _ := json.Marshal(man)
	es[len(es)-1].body = b
	return es
}

func writeEntries(es []entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Size: int64(len(e.body)), Mode: 0o644, Linkname: e.link}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		tw.WriteHeader(h)
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

// TestImport_BadArchives feeds damaged archives to an import into a new
// workspace: each is refused with a clear error, and nothing is left of it.
func TestImport_BadArchives(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		apptest.MustCreate(t, f.Region, "src")
		fillWorkspace(t, f, "src")
		good := export(t, f.Region, "src", tandem.ExportOptions{})
		es := readEntries(t, good)
		blobAt := -1
		for i, e := range es {
			if strings.HasPrefix(e.name, "blobs/") && blobAt < 0 {
				blobAt = i
			}
		}
		mod := func(fn func([]entry) []entry) []byte {
			cp := make([]entry, len(es))
			for i, e := range es {
				cp[i] = e
				cp[i].body = append([]byte(nil), e.body...)
			}
			return writeEntries(fn(cp))
		}
		cases := []struct {
			name, code, msg string
			data            []byte
		}{
			{"empty", tandem.ECorrupt, "empty stream", nil},
			{"not a tar", tandem.ECorrupt, "", []byte(strings.Repeat("hello world ", 100))},
			{"truncated in a blob", tandem.ECorrupt, "truncated", good[:len(good)/2]},
			{"truncated before the manifest", tandem.ECorrupt, "without its manifest.json", mod(func(e []entry) []entry { return e[:len(e)-1] })},
			{"flipped byte in a blob", tandem.ECorrupt, "does not match the sha256", mod(func(e []entry) []entry { e[blobAt].body[0] ^= 1; return e })},
			{"manifest sha256 altered", tandem.ECorrupt, "manifest.json records", mod(func(e []entry) []entry {
				e[len(e)-1].body = bytes.Replace(e[len(e)-1].body, []byte(`"sha256": "`), []byte(`"sha256": "0`), 1)
				return e
			})},
			{"unknown format", tandem.EInvalid, "unknown archive format", mod(func(e []entry) []entry {
				e[0].body = bytes.Replace(e[0].body, []byte(archive.Format), []byte("tandem-archive/v9"), 1)
				return e
			})},
			{"path traversal", tandem.EInvalid, "path traversal", mod(func(e []entry) []entry {
				return append(e[:2:2], append([]entry{{name: "blobs/../../etc/passwd", body: []byte("x")}}, e[2:]...)...)
			})},
			{"absolute path", tandem.EInvalid, "absolute", mod(func(e []entry) []entry {
				return append(e[:2:2], append([]entry{{name: "/etc/passwd", body: []byte("x")}}, e[2:]...)...)
			})},
			{"symlink", tandem.EInvalid, "is a link", mod(func(e []entry) []entry {
				return append(e[:2:2], append([]entry{{name: "blobs/evil", typ: tar.TypeSymlink, link: "/etc/passwd"}}, e[2:]...)...)
			})},
			{"hard link", tandem.EInvalid, "is a link", mod(func(e []entry) []entry {
				return append(e[:2:2], append([]entry{{name: "blobs/evil", typ: tar.TypeLink, link: "tandem-archive.json"}}, e[2:]...)...)
			})},
			// The next two carry a manifest that matches the damage, as a
			// hand-edited archive would: the checks against the resources catch them.
			{"missing blob", tandem.ECorrupt, "is missing", mod(func(e []entry) []entry {
				return fixManifest(t, append(e[:blobAt:blobAt], e[blobAt+1:]...))
			})},
			{"absurd size", tandem.ECorrupt, "bytes, but", mod(func(e []entry) []entry {
				e[1].body = bytes.ReplaceAll(e[1].body, []byte(`"size":10}`), []byte(`"size":1099511627776}`))
				return fixManifest(t, e)
			})},
			{"blob of no resource", tandem.ECorrupt, "referenced by no resource", mod(func(e []entry) []entry {
				return fixManifest(t, append(e[:blobAt:blobAt], append([]entry{{name: "blobs/extra", body: []byte("x")}}, e[blobAt:]...)...))
			})},
			{"entry after the manifest", tandem.ECorrupt, "must be last", mod(func(e []entry) []entry {
				return append(e, entry{name: "yaml/extra.yml", body: []byte("a: 1\n")})
			})},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := f.ImportWorkspace(context.Background(), "bad", tandem.ImportOptions{}, bytes.NewReader(c.data))
				if err == nil {
					t.Fatal("import succeeded")
				}
				if tandem.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("got %v (code %s), want code %s and %q", err, tandem.ErrorCode(err), c.code, c.msg)
				}
				if _, err := f.FindWorkspace(context.Background(), "bad"); !tandem.IsCode(err, tandem.ENotFound) {
					t.Fatalf("a refused import left workspace bad: %v", err)
				}
				if keys := apptest.BlobKeys(t, f.Region, "imports/"); len(keys) != 0 {
					t.Fatalf("staged blobs left: %v", keys)
				}
			})
		}
	})
}

// TestExportImport_FlatMemory streams a 64 MiB workspace from one region
// straight into an import in another (file storage, SQLite) and checks
// that the bytes allocated on the way are a small fraction of the bytes
// moved: nothing buffers a blob or the archive.
func TestExportImport_FlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB")
	}
	ctx := context.Background()
	newRegion := func(name string) *apptest.Region {
		blobs, err := blobstore.Open(ctx, "file://"+t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { blobs.Close() })
		r := apptest.New(name, sqltest.Open(t, sqltest.SQLite), blobs)
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		return r
	}
	a, b := newRegion("eastus"), newRegion("westus")
	apptest.MustCreate(t, a, "big")
	const size = 64 << 20
	if _, err := a.UploadNotebook(ctx, "big", "data/part-a.bin", io.LimitReader(&pattern{seed: 1}, size)); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(a.ExportWorkspace(ctx, "big", tandem.ExportOptions{}, pw)) }()
	rep, err := b.ImportWorkspace(ctx, "big", tandem.ImportOptions{}, pr)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if rep.BytesCopied != size {
		t.Fatalf("copied %d bytes, want %d", rep.BytesCopied, size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	// gocloud's Put takes a buffer of its own per blob written (the import
	// writes each blob twice: staged, then in place); the rest is constant.
	t.Logf("moved %d MiB through export and import (staged and copied: 3 writes); allocated %.1f MiB", size>>20, float64(alloc)/(1<<20))
	if alloc > size/8 {
		t.Fatalf("allocated %d bytes to move %d: something buffers the stream", alloc, size)
	}
	da, _ := a.DigestWorkspace(ctx, "big", tandem.DigestOptions{Content: true})
	db, _ := b.DigestWorkspace(ctx, "big", tandem.DigestOptions{Content: true})
	if da.Digest != db.Digest {
		t.Fatal("content digests differ")
	}
}

// pattern is an endless reader of bytes that vary with a seed.
type pattern struct {
	seed byte
	n    int
}

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = p.seed + byte(p.n*7) + byte(p.n>>11)
		p.n++
	}
	return len(b), nil
}

// TestRestore deletes a region's database (a new empty store on the same
// storage) and gets the workspace back from its snapshot: same id, same
// digest, same token.
func TestRestore(t *testing.T) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			blobs, err := blobstore.Open(ctx, "file://"+t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { blobs.Close() })
			c := &apptest.Clock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			newRegion := func() *apptest.Fixture {
				r := apptest.New("eastus", sqltest.Open(t, backend), blobs)
				r.Now = c.Now
				r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
				return &apptest.Fixture{Region: r, Clock: c}
			}
			f := newRegion()
			ws := apptest.MustCreate(t, f.Region, "mlw")
			key := apptest.WithVault(t, f)
			fillWorkspace(t, f, "mlw")
			tok, secret, err := f.CreateToken(ctx, "ci", "mlw")
			if err != nil {
				t.Fatal(err)
			}
			before, err := f.DigestWorkspace(ctx, "mlw", tandem.DigestOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.SnapshotWorkspace(ctx, "mlw"); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Minute)

			// The database is lost; storage is not. A new region on an
			// empty database, with the same key file, restores it.
			g := newRegion()
			g.Vault = f.Vault
			_ = key
			if _, err := g.FindWorkspace(ctx, "mlw"); !tandem.IsCode(err, tandem.ENotFound) {
				t.Fatalf("fresh database knows the workspace: %v", err)
			}
			rep, err := g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: ws.ID})
			if err != nil {
				t.Fatalf("restore: %v", err)
			}
			if !rep.WorkspaceCreated || rep.ID != ws.ID || rep.Workspace != "mlw" || rep.Tokens != 1 || rep.Resources[tandem.ImportCreated] != 7 || rep.UnattachedCount != 0 {
				t.Fatalf("report %+v", rep)
			}
			after, err := g.DigestWorkspace(ctx, "mlw", tandem.DigestOptions{VerifyBlobs: true})
			if err != nil {
				t.Fatal(err)
			}
			if after.Digest != before.Digest {
				t.Fatalf("digest after restore %s, before %s", after.Digest, before.Digest)
			}
			if p, err := g.Authenticate(ctx, secret); err != nil || p.Name != tok.Name {
				t.Fatalf("the workspace token does not work after the restore: %v", err)
			}
			if v, err := g.GetSecretValue(ctx, "mlw", "api-key"); err != nil || string(v) != "value-1" {
				t.Fatalf("secret after restore: %q, %v", v, err)
			}

			// Again: nothing new. Then a blob written after the snapshot
			// (on the old region, sharing the storage) is reported.
			rep, err = g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: ws.ID})
			if err != nil || rep.WorkspaceCreated || rep.Resources[tandem.ImportUnchanged] != 7 || rep.Resources[tandem.ImportCreated] != 0 {
				t.Fatalf("second restore: %+v, %v", rep, err)
			}
			if _, err := f.UploadNotebook(ctx, "mlw", "late.ipynb", strings.NewReader("{}")); err != nil {
				t.Fatal(err)
			}
			rep, err = g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: ws.ID})
			if err != nil || rep.UnattachedCount != 1 || !strings.HasSuffix(rep.Unattached[0].Key, "/notebooks/late.ipynb") {
				t.Fatalf("unattached: %+v, %v", rep, err)
			}

			_, err = g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: "no-such-id"})
			apptest.WantCode(t, err, tandem.ENotFound)
			_, err = g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: "../x"})
			apptest.WantCode(t, err, tandem.EInvalid)
		})
	}
}

// keepOpen is a blob store whose Close does nothing, so that a restore can
// "open" a store the test still uses.
type keepOpen struct{ tandem.BlobStore }

func (keepOpen) Close() error { return nil }

// TestRestore_OtherStorage restores a workspace into a region with its own
// (empty) storage from another storage URL: the blobs the snapshot
// references are copied, verified, and the digest is the original's.
func TestRestore_OtherStorage(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		fillWorkspace(t, f, "mlw")
		before, err := f.DigestWorkspace(ctx, "mlw", tandem.DigestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.SnapshotWorkspace(ctx, "mlw"); err != nil {
			t.Fatal(err)
		}

		blobs, err := blobstore.Open(ctx, "mem://")
		if err != nil {
			t.Fatal(err)
		}
		g := apptest.New("westus", sqltest.Open(t, sqltest.SQLite), blobs)
		g.Logger, g.Now, g.Vault, g.StorageURL = f.Logger, f.Now, f.Vault, "mem://west"
		_, err = g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: ws.ID, Storage: "file:///backup"})
		apptest.WantCode(t, err, tandem.EInvalid) // no way to open other storage configured
		g.OpenStorage = func(_ context.Context, url string) (tandem.BlobStore, error) {
			if url != "mem://east" {
				return nil, tandem.Errorf(tandem.ENotFound, "no storage %s", url)
			}
			return keepOpen{f.Blobs}, nil
		}
		rep, err := g.RestoreWorkspace(ctx, tandem.RestoreOptions{WorkspaceID: ws.ID, Storage: "mem://east", Name: "mlw-restored"})
		if err != nil || rep.BlobsCopied != 5 || rep.Workspace != "mlw-restored" {
			t.Fatalf("restore: %+v, %v", rep, err)
		}
		after, err := g.DigestWorkspace(ctx, "mlw-restored", tandem.DigestOptions{VerifyBlobs: true})
		if err != nil || after.Digest != before.Digest {
			t.Fatalf("digest after restore %v (%v), before %s", after, err, before.Digest)
		}
	})
}

// TestExportImport_LaterKinds writes resources of kinds this code does not
// know (as later features will: job metrics, endpoints) straight into the
// store, and checks that export and import carry them generically, by
// category.
func TestExportImport_LaterKinds(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "src")
		ref, err := f.Blobs.Put(ctx, tandem.StoragePrefix(ws.ID)+"runs/j1/metrics/loss.jsonl", strings.NewReader(`{"step":1,"value":0.5}`+"\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		now := f.Clock.T
		for _, res := range []*tandem.Resource{
			{WorkspaceID: ws.ID, Kind: "jobmetric", Name: "j1/loss", Spec: json.RawMessage(`{"last":0.5}`), Blobs: []tandem.BlobRef{ref}, CreatedAt: now, UpdatedAt: now},
			{WorkspaceID: ws.ID, Kind: "endpoint", Name: "ep1", Spec: json.RawMessage(`{"auth_mode":"key"}`), CreatedAt: now, UpdatedAt: now},
		} {
			err := f.Store.Update(ctx, func(tx tandem.Tx) error {
				if err := tx.PutResource(ctx, res); err != nil {
					return err
				}
				return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: ws.ID, Kind: res.Kind, Name: res.Name, Op: tandem.OpCreate, Origin: "eastus", Time: now})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		jobsOnly := export(t, f.Region, "src", tandem.ExportOptions{Include: []string{"jobs"}})
		rep, err := f.ImportWorkspace(ctx, "jobs", tandem.ImportOptions{}, bytes.NewReader(jobsOnly))
		if err != nil || rep.Kinds["jobmetric/created"] != 1 || rep.Kinds["endpoint/created"] != 0 {
			t.Fatalf("jobs-only import: %+v, %v", rep, err)
		}
		all := export(t, f.Region, "src", tandem.ExportOptions{})
		rep, err = f.ImportWorkspace(ctx, "all", tandem.ImportOptions{}, bytes.NewReader(all))
		if err != nil || rep.Kinds["jobmetric/created"] != 1 || rep.Kinds["endpoint/created"] != 1 {
			t.Fatalf("full import: %+v, %v", rep, err)
		}
		if contentDigest(t, f.Region, "src") != contentDigest(t, f.Region, "all") {
			t.Fatal("content digests differ")
		}
	})
}
