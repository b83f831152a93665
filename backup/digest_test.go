package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/blobstore/blobtest"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/sqlstore/sqltest"
	"github.com/tandemml/tandem/vault"
)

func mustDigest(t *testing.T, r *apptest.Region, ctx context.Context, name string, verify bool) *tandem.WorkspaceDigest {
	t.Helper()
	d, err := r.DigestWorkspace(ctx, name, tandem.DigestOptions{VerifyBlobs: verify})
	if err != nil {
		t.Fatalf("DigestWorkspace(%q, verify=%v): %v", name, verify, err)
	}
	if !strings.HasPrefix(d.Digest, "sha256:") || len(d.Digest) != len("sha256:")+64 || d.Format != tandem.DigestFormat {
		t.Fatalf("got digest %q format %q, want sha256:<64 hex> in %s", d.Digest, d.Format, tandem.DigestFormat)
	}
	return d
}

func putBlob(t *testing.T, r *apptest.Region, key, body string) tandem.BlobRef {
	t.Helper()
	ref, err := r.Blobs.Put(context.Background(), key, strings.NewReader(body), nil)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return ref
}

// populate fills workspace "mlw" of r with one item of every kind the
// region writes today, and a few blobs written straight to storage, among
// them region-local ones. r must have a vault.
func populate(t *testing.T, r *apptest.Region) *tandem.Workspace {
	t.Helper()
	ctx := context.Background()
	ws := &tandem.Workspace{Name: "mlw", DisplayName: "ML <prod> & co", Description: "line one\nline two",
		Tags: map[string]string{"team": "vision", "cost center": "42", "a": "", "zeta": "ω"}}
	if err := r.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]string{"train.ipynb": `{"cells": []}`, "exp/with space.py": "print(1)\n"} {
		if _, err := r.UploadNotebook(ctx, "mlw", path, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := r.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, r, "mlw", "", "weights-v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetSecret(ctx, "mlw", "storage-key", []byte("s3cr3t")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateToken(ctx, "mlw-ci", "mlw"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateToken(ctx, "admin-2", ""); err != nil { // region-local, not covered
		t.Fatal(err)
	}
	p := ws.Resources.Storage
	putBlob(t, r, p+"runs/job-1/outputs/metrics.json", `{"acc": 0.9}`)
	putBlob(t, r, p+"runs/job-1/logs/std_log.txt", "epoch 1\n")
	putBlob(t, r, p+"staging/"+strings.Repeat("0", 64), "a staged upload")
	return ws
}

// replicate copies workspace ws of src into dst as replication would: the
// resource bodies and workspace tokens as they are (secrets rewrapped under
// dst's own key), the covered blobs verified; while dst writes its own
// workspace row (another name, its region, its own times), its own storage
// marker, and has region-local blobs of its own.
func replicate(t *testing.T, src *apptest.Region, ws *tandem.Workspace, dst *apptest.Region, name string) {
	t.Helper()
	ctx := context.Background()
	var (
		resources []*tandem.Resource
		tokens    []*tandem.Token
	)
	err := src.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if resources, err = tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID}); err != nil {
			return err
		}
		tokens, err = tx.ListTokens(ctx, tandem.TokenFilter{WorkspaceID: ws.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	copyWS := *ws
	copyWS.Name, copyWS.Region = name, dst.Name
	copyWS.CreatedAt, copyWS.UpdatedAt = ws.CreatedAt.Add(3*time.Hour), ws.UpdatedAt.Add(4*time.Hour)
	err = dst.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := tx.CreateWorkspace(ctx, &copyWS); err != nil {
			return err
		}
		for _, res := range resources {
			if res.Kind == tandem.KindSecret {
				var sp struct {
					Version int64         `json:"version"`
					Sealed  tandem.Sealed `json:"sealed"`
				}
				if err := json.Unmarshal(res.Spec, &sp); err != nil {
					return err
				}
				old := sp.Sealed
				if sp.Sealed, err = dst.Vault.Rewrap(sp.Sealed); err != nil {
					return err
				}
				if sp.Sealed.KeyID == old.KeyID || bytes.Equal(sp.Sealed.WrappedKey, old.WrappedKey) {
					t.Fatalf("secret %s was not rewrapped under the secondary's key", res.Name)
				}
				if res.Spec, err = json.Marshal(sp); err != nil {
					return err
				}
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
		}
		for _, tok := range tokens {
			c := &tandem.Token{ID: uuid.NewString(), Name: tok.Name, WorkspaceID: tok.WorkspaceID, Hash: tok.Hash, CreatedAt: tok.CreatedAt.Add(time.Hour)}
			if err := tx.CreateToken(ctx, c); err != nil {
				return err
			}
		}
		return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: ws.ID, Kind: tandem.KindWorkspace, Name: name, Op: tandem.OpCreate, Origin: "replication"})
	})
	if err != nil {
		t.Fatalf("apply to %s: %v", dst.Name, err)
	}
	p := ws.Resources.Storage
	err = src.Blobs.List(ctx, p, func(ref tandem.BlobRef) error {
		rel := strings.TrimPrefix(ref.Key, p)
		if strings.HasPrefix(rel, "staging/") || rel == ".tandem/workspace.json" {
			return nil
		}
		rc, err := src.Blobs.OpenVerified(ctx, ref)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = dst.Blobs.Put(ctx, ref.Key, rc, &ref)
		return err
	})
	if err != nil {
		t.Fatalf("copy blobs: %v", err)
	}
	putBlob(t, dst, p+".tandem/workspace.json", `{"id": "`+ws.ID+`", "name": "`+name+`", "region": "`+dst.Name+`"}`)
	putBlob(t, dst, p+"staging/"+strings.Repeat("1", 64), "another staged upload")
	putBlob(t, dst, p+"snapshots/2026-11-01T12:00:00Z/metadata.json", "{}")
}

// secondRegion returns a region named westus on the other metadata backend
// when there is one (the same backend, in a fresh database, otherwise) and
// on file:// storage, with a vault whose current key is its own but which
// holds the primary's key file's keys too (so it can rewrap what it
// receives, as rewrap on transfer does).
func secondRegion(t *testing.T, primary *apptest.Region, primaryKeyFile string) *apptest.Region {
	t.Helper()
	backend := sqltest.SQLite
	if db, ok := primary.Store.(*sqlstore.DB); ok && db.Dialect() == sqltest.SQLite && slices.Contains(sqltest.Backends(), sqltest.Postgres) {
		backend = sqltest.Postgres
	}
	r := apptest.New("westus", sqltest.Open(t, backend), blobtest.Open(t, "file"))
	r.Now = func() time.Time { return time.Date(2027, 3, 4, 5, 6, 7, 0, time.UTC) }
	r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	data, err := os.ReadFile(primaryKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vault.key")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	kf, err := vault.OpenKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kf.AddKey(); err != nil {
		t.Fatal(err)
	}
	r.Vault = kf
	return r
}

func TestDigest_SameAcrossRegions(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		keyFile := apptest.WithVault(t, f)
		ws := populate(t, f.Region)
		f.Clock.Advance(time.Hour)
		primary := mustDigest(t, f.Region, ctx, "mlw", true)

		west := secondRegion(t, f.Region, keyFile)
		replicate(t, f.Region, ws, west, "mlw-dr")
		secondary := mustDigest(t, west, ctx, "mlw-dr", true)

		if primary.Digest != secondary.Digest {
			t.Fatalf("primary %s, secondary %s: converged workspaces must have the same digest", primary.Digest, secondary.Digest)
		}
		want := map[string]int64{"notebook": 2, "model": 1, "secret": 1, "token": 1, "blob": 5}
		if !maps.Equal(primary.Counts, want) || !maps.Equal(secondary.Counts, want) {
			t.Fatalf("got counts %v and %v, want %v", primary.Counts, secondary.Counts, want)
		}
		if primary.Bytes != secondary.Bytes || primary.Bytes == 0 {
			t.Fatalf("got %d and %d bytes, want the same, not 0", primary.Bytes, secondary.Bytes)
		}
		if primary.Workspace != "mlw" || secondary.Workspace != "mlw-dr" || primary.ID != ws.ID || secondary.ID != ws.ID || !primary.VerifiedBlobs {
			t.Fatalf("got %+v and %+v", primary, secondary)
		}
		if !slices.Equal(primary.Excluded, secondary.Excluded) {
			t.Fatalf("excluded lists differ: %q and %q", primary.Excluded, secondary.Excluded)
		}
		for _, want := range []string{"workspace name", "workspace region", ws.Resources.Storage + "staging/", ws.Resources.Storage + "snapshots/", ws.Resources.Storage + ".tandem/workspace.json", "sealed.kid"} {
			if !slices.ContainsFunc(primary.Excluded, func(e string) bool { return strings.Contains(e, want) }) {
				t.Errorf("excluded %q does not mention %q", primary.Excluded, want)
			}
		}
		// The secondary can still open the secret: the digest compared the
		// same value under two different key wraps.
		if v, err := west.GetSecretValue(ctx, "mlw-dr", "storage-key"); err != nil || string(v) != "s3cr3t" {
			t.Fatalf("secondary secret: %q, %v", v, err)
		}

		// A write the secondary has not received makes them differ.
		if _, err := f.UpdateAsset(ctx, "mlw", tandem.KindModel, "clf", "1", tandem.AssetUpdate{Description: ptr("v1 tuned")}); err != nil {
			t.Fatal(err)
		}
		if d := mustDigest(t, f.Region, ctx, "mlw", false); d.Digest == secondary.Digest {
			t.Fatal("digest unchanged after a write the secondary lacks")
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestDigest_Changes changes one thing at a time: replicable content must
// change the digest, region-local things must not.
func TestDigest_Changes(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		ws := populate(t, f.Region)
		p := ws.Resources.Storage
		name := "mlw"
		last := mustDigest(t, f.Region, ctx, name, false)
		seen := map[string]string{last.Digest: "the start"}
		step := func(what string, changes bool, fn func()) {
			t.Helper()
			f.Clock.Advance(time.Minute)
			fn()
			d := mustDigest(t, f.Region, ctx, name, false)
			switch {
			case changes && d.Digest == last.Digest:
				t.Fatalf("%s: digest did not change", what)
			case changes && seen[d.Digest] != "":
				t.Fatalf("%s: digest is the one after %q", what, seen[d.Digest])
			case !changes && d.Digest != last.Digest:
				t.Fatalf("%s: digest changed, but it is region-local", what)
			}
			seen[d.Digest] = what
			last = d
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		update := func(upd tandem.WorkspaceUpdate) func() {
			return func() { _, err := f.UpdateWorkspace(ctx, name, upd); must(err) }
		}

		step("a tag value", true, update(tandem.WorkspaceUpdate{Tags: map[string]string{"team": "nlp", "cost center": "42", "a": "", "zeta": "ω"}}))
		step("a tag removed", true, update(tandem.WorkspaceUpdate{Tags: map[string]string{"team": "nlp", "cost center": "42", "a": ""}}))
		step("the description", true, update(tandem.WorkspaceUpdate{Description: ptr("line one")}))
		step("the display name", true, update(tandem.WorkspaceUpdate{DisplayName: ptr("ML")}))
		step("an update that changes nothing but updated_at", false, update(tandem.WorkspaceUpdate{DisplayName: ptr("ML")}))
		step("a resource spec", true, func() {
			_, err := f.UpdateAsset(ctx, name, tandem.KindModel, "clf", "1", tandem.AssetUpdate{Tags: map[string]string{"stage": "prod"}})
			must(err)
		})
		step("a new asset version", true, func() {
			_, _, err := f.CreateAsset(ctx, name, apptest.ModelRequest(t, f.Region, name, "", "weights-v2"))
			must(err)
		})
		step("a notebook's bytes", true, func() {
			_, err := f.UploadNotebook(ctx, name, "train.ipynb", strings.NewReader(`{"cells": [1]}`))
			must(err)
		})
		step("a job output's bytes", true, func() { putBlob(t, f.Region, p+"runs/job-1/outputs/metrics.json", `{"acc": 0.95}`) })
		step("a new blob", true, func() { putBlob(t, f.Region, p+"runs/job-2/logs/std_log.txt", "") })
		step("a secret's value", true, func() {
			_, err := f.SetSecret(ctx, name, "storage-key", []byte("n3w"))
			must(err)
		})
		step("a new workspace token", true, func() {
			_, _, err := f.CreateToken(ctx, "mlw-bot", name)
			must(err)
		})
		step("a revoked workspace token", true, func() { must(f.RevokeToken(ctx, "mlw-ci")) })

		step("a region admin token", false, func() {
			_, _, err := f.CreateToken(ctx, "admin-3", "")
			must(err)
		})
		step("a staged upload", false, func() { putBlob(t, f.Region, p+"staging/"+strings.Repeat("2", 64), "staged") })
		step("a snapshot", false, func() { putBlob(t, f.Region, p+"snapshots/2026-11-01T13:00:00Z/metadata.json", "{}") })
		step("the storage marker", false, func() { putBlob(t, f.Region, p+".tandem/workspace.json", `{"region": "elsewhere"}`) })
		step("another workspace's blob", false, func() { putBlob(t, f.Region, "workspaces/"+uuid.NewString()+"/notebooks/x", "x") })
		step("a vault key rotation (secrets rewrapped)", false, func() {
			_, err := f.RotateKey(ctx)
			must(err)
		})
		step("the name, region and row times of the workspace", false, func() {
			must(f.Store.Update(ctx, func(tx tandem.Tx) error {
				w, err := tx.FindWorkspaceByID(ctx, ws.ID)
				if err != nil {
					return err
				}
				w.Name, w.Region = "mlw-renamed", "westus"
				w.CreatedAt, w.UpdatedAt = w.CreatedAt.Add(-time.Hour), w.UpdatedAt.Add(time.Hour)
				if err := tx.UpdateWorkspace(ctx, w); err != nil {
					return err
				}
				return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: ws.ID, Kind: tandem.KindWorkspace, Name: w.Name, Op: tandem.OpUpdate, Origin: "test"})
			}))
			name = "mlw-renamed"
		})
		step("a spec stored with other key order and spacing", false, func() {
			must(f.Store.Update(ctx, func(tx tandem.Tx) error {
				res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindModel, Name: "clf", Version: "1"})
				if err != nil {
					return err
				}
				var v map[string]any
				if err := json.Unmarshal(res.Spec, &v); err != nil {
					return err
				}
				var b bytes.Buffer
				b.WriteString("{\n")
				keys := slices.Sorted(maps.Keys(v))
				slices.Reverse(keys)
				for i, k := range keys {
					kb, _ := json.Marshal(k)
					vb, _ := json.MarshalIndent(v[k], "  ", "    ")
					if i > 0 {
						b.WriteString(",\n")
					}
					b.WriteString("  " + string(kb) + " :  " + string(vb))
				}
				b.WriteString("\n}")
				if bytes.Equal(b.Bytes(), res.Spec) {
					t.Fatal("the rewritten spec is the same text")
				}
				res.Spec = b.Bytes()
				if err := tx.PutResource(ctx, res); err != nil {
					return err
				}
				return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: ws.ID, Kind: tandem.KindModel, Name: "clf", Version: "1", Op: tandem.OpUpdate, Origin: "test"})
			}))
		})

		beforeDelete := last.Digest
		step("a soft delete", true, func() {
			_, err := f.DeleteWorkspace(ctx, name, tandem.DeleteOptions{})
			must(err)
		})
		if last.Workspace != name {
			t.Fatalf("digest of the soft-deleted workspace names %q", last.Workspace)
		}
		f.Clock.Advance(time.Minute)
		if _, err := f.RecoverWorkspace(ctx, name); err != nil {
			t.Fatal(err)
		}
		if d := mustDigest(t, f.Region, ctx, name, false); d.Digest != beforeDelete {
			t.Fatalf("after recover: %s, want the digest before the delete %s", d.Digest, beforeDelete)
		}
	})
}

func TestDigest_Deterministic(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		populate(t, f.Region)
		first := mustDigest(t, f.Region, ctx, "mlw", false)
		for range 5 {
			f.Clock.Advance(time.Hour)
			if d := mustDigest(t, f.Region, ctx, "mlw", false); d.Digest != first.Digest || !maps.Equal(d.Counts, first.Counts) {
				t.Fatalf("got %s %v, then %s %v", first.Digest, first.Counts, d.Digest, d.Counts)
			}
		}
		if v := mustDigest(t, f.Region, ctx, "mlw", true); v.Digest != first.Digest || !v.VerifiedBlobs {
			t.Fatalf("verified digest %s (verified %v), want %s", v.Digest, v.VerifiedBlobs, first.Digest)
		}
	})
}

// TestDigest_Format pins the definition in docs/design.md: the line stream
// of a small workspace, written out by hand. A change here is a new
// tandem.DigestFormat.
func TestDigest_Format(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw") // description "d", tags team=vision
		nb, err := f.UploadNotebook(ctx, "mlw", "a b.ipynb", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := f.CreateToken(ctx, "ci", "mlw")
		if err != nil {
			t.Fatal(err)
		}
		var hash string
		err = f.Store.View(ctx, func(tx tandem.Tx) error {
			list, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: tok.Name})
			if err == nil && len(list) == 1 {
				hash = list[0].Hash
			}
			return err
		})
		if err != nil || hash == "" {
			t.Fatalf("token hash: %q, %v", hash, err)
		}
		ts := "2026-11-01T12:00:00.000000Z"
		doc := `{"blobs":[{"key":"workspaces/` + ws.ID + `/notebooks/a b.ipynb","sha256":"` + nb.SHA256 + `","size":2}],` +
			`"created_at":"` + ts + `","kind":"notebook","name":"a b.ipynb","spec":{"path":"a b.ipynb"},"updated_at":"` + ts + `","version":""}`
		stream := "tandem-workspace-digest/v1\n" +
			`workspace "` + ws.ID + `" "" "d" live` + "\n" +
			`tag "team" "vision"` + "\n" +
			`resource "notebook" "a b.ipynb" "" ` + hexSum(doc) + "\n" +
			`token "ci" ` + hash + "\n" +
			`blob "notebooks/a b.ipynb" ` + nb.SHA256 + " 2\n"
		d := mustDigest(t, f.Region, ctx, "mlw", false)
		if want := "sha256:" + hexSum(stream); d.Digest != want {
			t.Fatalf("got %s, want %s over\n%s", d.Digest, want, stream)
		}
		if want := map[string]int64{"notebook": 1, "token": 1, "blob": 1}; !maps.Equal(d.Counts, want) {
			t.Fatalf("got counts %v, want %v", d.Counts, want)
		}
		if d.ComputedAt.IsZero() || d.Bytes != 2 {
			t.Fatalf("got %+v", d)
		}
	})
}

func hexSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestDigest_VerifyBlobs(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		ws := populate(t, f.Region)
		p := ws.Resources.Storage
		good := mustDigest(t, f.Region, ctx, "mlw", true)
		wantCorrupt := func(parts ...string) {
			t.Helper()
			_, err := f.DigestWorkspace(ctx, "mlw", tandem.DigestOptions{VerifyBlobs: true})
			apptest.WantCode(t, err, tandem.ECorrupt)
			for _, s := range parts {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("got %q, want it to mention %q", err, s)
				}
			}
		}

		// Bytes rotted at rest, recorded sha256 kept: only verification sees it.
		nbKey := p + "notebooks/train.ipynb"
		blobtest.Corrupt(t, f.Blobs, nbKey, []byte(`{"cells": [] }`))
		if d := mustDigest(t, f.Region, ctx, "mlw", false); d.Digest != good.Digest {
			t.Fatal("the digest without verification read the bytes")
		}
		wantCorrupt("1 blob(s) failed verification", nbKey, "do not match the recorded sha256")
		_, err := f.UploadNotebook(ctx, "mlw", "train.ipynb", strings.NewReader(`{"cells": []}`))
		if err != nil {
			t.Fatal(err)
		}
		mustDigest(t, f.Region, ctx, "mlw", true)

		// A blob no resource references rots too.
		runKey := p + "runs/job-1/logs/std_log.txt"
		blobtest.Corrupt(t, f.Blobs, runKey, []byte("epoch 2\n"))
		wantCorrupt(runKey)
		putBlob(t, f.Region, runKey, "epoch 1\n")

		// Other bytes put over an asset file: the store records their sha256,
		// the model version still references the old one.
		modelKey := p + "assets/model/clf/1/model.pkl"
		putBlob(t, f.Region, modelKey, "evil")
		wantCorrupt(modelKey, "references sha256", "model clf:1")

		// A referenced blob that is gone, together with the one above.
		if err := f.Blobs.Delete(ctx, nbKey); err != nil {
			t.Fatal(err)
		}
		wantCorrupt("2 blob(s) failed verification", nbKey+": missing, referenced by notebook train.ipynb", modelKey)

		// Region-local blobs are not verified.
		putBlob(t, f.Region, modelKey, "weights-v1")
		if _, err := f.UploadNotebook(ctx, "mlw", "train.ipynb", strings.NewReader(`{"cells": []}`)); err != nil {
			t.Fatal(err)
		}
		staged := p + "staging/" + strings.Repeat("0", 64)
		blobtest.Corrupt(t, f.Blobs, staged, []byte("rotten"))
		if d := mustDigest(t, f.Region, ctx, "mlw", true); d.Digest != good.Digest {
			t.Fatalf("after repairs: %s, want %s", d.Digest, good.Digest)
		}
	})
}

func TestDigest_ManyBlobsReported(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		for i := range 25 {
			key := ws.Resources.Storage + "runs/j/outputs/" + string(rune('a'+i))
			putBlob(t, f.Region, key, "x")
			blobtest.Corrupt(t, f.Blobs, key, []byte("y"))
		}
		_, err := f.DigestWorkspace(ctx, "mlw", tandem.DigestOptions{VerifyBlobs: true})
		apptest.WantCode(t, err, tandem.ECorrupt)
		if msg := err.Error(); !strings.Contains(msg, "25 blob(s)") || !strings.Contains(msg, "and 5 more") || strings.Count(msg, "do not match") != 20 {
			t.Fatalf("got %q, want 20 keys and a count of the rest", msg)
		}
	})
}

func TestDigest_Access(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.MustCreate(t, f.Region, "other")
		_, secret, err := f.CreateToken(ctx, "ci", "mlw")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		scoped := tandem.NewContextWithPrincipal(ctx, tok)
		own := mustDigest(t, f.Region, scoped, "mlw", true)
		if admin := mustDigest(t, f.Region, ctx, "mlw", false); admin.Digest != own.Digest {
			t.Fatalf("a workspace token and the region got %s and %s", own.Digest, admin.Digest)
		}
		_, err = f.DigestWorkspace(scoped, "other", tandem.DigestOptions{})
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.DigestWorkspace(ctx, "nope", tandem.DigestOptions{})
		apptest.WantCode(t, err, tandem.ENotFound)
	})
}

// The digest lists storage through the BlobStore interface only: a store
// that lists out of order is refused rather than hashed differently.
func TestDigest_ErrUnorderedList(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ws := apptest.MustCreate(t, f.Region, "mlw")
		putBlob(t, f.Region, ws.Resources.Storage+"runs/a", "a")
		putBlob(t, f.Region, ws.Resources.Storage+"runs/b", "b")
		f.Blobs = reversedList{f.Blobs}
		_, err := f.DigestWorkspace(context.Background(), "mlw", tandem.DigestOptions{})
		if err == nil || !strings.Contains(err.Error(), "in order") {
			t.Fatalf("got %v, want an error about the listing order", err)
		}
	})
}

type reversedList struct{ tandem.BlobStore }

func (s reversedList) List(ctx context.Context, prefix string, fn func(tandem.BlobRef) error) error {
	var refs []tandem.BlobRef
	if err := s.BlobStore.List(ctx, prefix, func(r tandem.BlobRef) error { refs = append(refs, r); return nil }); err != nil {
		return err
	}
	slices.Reverse(refs)
	for _, r := range refs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
