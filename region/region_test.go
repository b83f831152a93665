package region_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore/sqltest"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

type fixture struct {
	*region.Region
	clock *clock
}

// each runs fn once per metadata backend, with a fresh region on mem:// blobs.
func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, backend := range sqltest.Backends() {
		t.Run(backend, func(t *testing.T) {
			store := sqltest.Open(t, backend)
			blobs, err := blobstore.Open(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { blobs.Close() })
			r := region.New("eastus", store, blobs)
			c := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			r.Now = c.now
			r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			fn(t, &fixture{Region: r, clock: c})
		})
	}
}

func mustCreate(t *testing.T, r *region.Region, name string) *tandem.Workspace {
	t.Helper()
	ws := &tandem.Workspace{Name: name, Description: "d", Tags: map[string]string{"team": "vision"}}
	if err := r.CreateWorkspace(context.Background(), ws); err != nil {
		t.Fatalf("CreateWorkspace(%q): %v", name, err)
	}
	return ws
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}

func changes(t *testing.T, r *region.Region, wsID string) []*tandem.Change {
	t.Helper()
	var out []*tandem.Change
	err := r.Store.View(context.Background(), func(tx tandem.Tx) (err error) {
		out, err = tx.ListChanges(context.Background(), wsID, 0, 1000000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func blobKeys(t *testing.T, r *region.Region, prefix string) []string {
	t.Helper()
	var keys []string
	err := r.Blobs.List(context.Background(), prefix, func(b tandem.BlobRef) error {
		keys = append(keys, b.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestCreateWorkspace(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws := mustCreate(t, f.Region, "vision-prod")
		if ws.ID == "" || ws.Region != "eastus" || !ws.CreatedAt.Equal(f.clock.t) {
			t.Fatalf("got id %q region %q created %v, want an id, eastus, %v", ws.ID, ws.Region, ws.CreatedAt, f.clock.t)
		}
		if want := "workspaces/" + ws.ID + "/"; ws.Resources.Storage != want {
			t.Fatalf("got storage %q, want %q", ws.Resources.Storage, want)
		}
		if ws.Resources.KeyVault == "" || ws.Resources.ApplicationInsights == "" || ws.Resources.ContainerRegistry == "" {
			t.Fatalf("associated resources not provisioned: %+v", ws.Resources)
		}
		if keys := blobKeys(t, f.Region, ws.Resources.Storage); len(keys) != 1 {
			t.Fatalf("got storage keys %v, want the workspace marker", keys)
		}
		got, err := f.FindWorkspace(ctx, "vision-prod")
		if err != nil || got.ID != ws.ID || got.Tags["team"] != "vision" {
			t.Fatalf("FindWorkspace: got %+v, %v", got, err)
		}
		log := changes(t, f.Region, ws.ID)
		if len(log) != 1 || log[0].Seq != 1 || log[0].Op != tandem.OpCreate || log[0].Kind != tandem.KindWorkspace || log[0].Origin != "eastus" {
			t.Fatalf("got change log %+v, want one create entry from eastus", log)
		}
	})
}

func TestCreateWorkspace_ErrInvalidName(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		for _, name := range []string{"", "ab", "-abc", "_abc", "has space", "a.b.c", "abcdefghijklmnopqrstuvwxyz01234567", "café"} {
			err := f.CreateWorkspace(context.Background(), &tandem.Workspace{Name: name})
			wantCode(t, err, tandem.EInvalid)
			if !strings.Contains(err.Error(), "invalid workspace name") {
				t.Fatalf("name %q: got %q, want a message explaining the rule", name, err)
			}
		}
		if keys := blobKeys(t, f.Region, "workspaces/"); len(keys) != 0 {
			t.Fatalf("got storage keys %v after failed creates, want none", keys)
		}
		for _, name := range []string{"abc", "A_b-c", "0ws", "abcdefghijklmnopqrstuvwxyz0123456"} {
			mustCreate(t, f.Region, name)
		}
	})
}

func TestCreateWorkspace_ErrConflict(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		mustCreate(t, f.Region, "dup")
		err := f.CreateWorkspace(ctx, &tandem.Workspace{Name: "dup"})
		wantCode(t, err, tandem.EConflict)

		if _, err := f.DeleteWorkspace(ctx, "dup", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err = f.CreateWorkspace(ctx, &tandem.Workspace{Name: "dup"})
		wantCode(t, err, tandem.EConflict)
		if !strings.Contains(err.Error(), "soft-deleted") || !strings.Contains(err.Error(), "purge") {
			t.Fatalf("got %q, want a message saying the name is soft-deleted until purged", err)
		}
		if err := f.PurgeWorkspace(ctx, "dup", tandem.PurgeOptions{}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, f.Region, "dup")
	})
}

func TestSoftDeleteAndRecover(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws := mustCreate(t, f.Region, "ws1")
		mustCreate(t, f.Region, "ws2")
		if _, err := f.UploadNotebook(ctx, "ws1", "nb/a.ipynb", strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}
		deleted, err := f.DeleteWorkspace(ctx, "ws1", tandem.DeleteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := f.clock.t.Add(14 * 24 * time.Hour); deleted.PurgeAt == nil || !deleted.PurgeAt.Equal(want) {
			t.Fatalf("got purge time %v, want %v", deleted.PurgeAt, want)
		}
		live, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
		if len(live) != 1 || live[0].Name != "ws2" {
			t.Fatalf("got live list %v, want only ws2", names(live))
		}
		gone, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
		if len(gone) != 1 || gone[0].Name != "ws1" || gone[0].DeletedAt == nil || gone[0].PurgeAt == nil {
			t.Fatalf("got deleted list %+v, want ws1 with deletion and purge times", gone)
		}
		_, err = f.FindWorkspace(ctx, "ws1")
		wantCode(t, err, tandem.ENotFound)
		if !strings.Contains(err.Error(), "recover") {
			t.Fatalf("got %q, want a hint to recover", err)
		}
		_, err = f.DeleteWorkspace(ctx, "ws1", tandem.DeleteOptions{})
		wantCode(t, err, tandem.ENotFound)

		back, err := f.RecoverWorkspace(ctx, "ws1")
		if err != nil || back.Deleted() || back.ID != ws.ID {
			t.Fatalf("RecoverWorkspace: got %+v, %v", back, err)
		}
		nbs, err := f.ListNotebooks(ctx, "ws1")
		if err != nil || len(nbs) != 1 || nbs[0].Path != "nb/a.ipynb" {
			t.Fatalf("notebooks after recover: got %v, %v; want nb/a.ipynb", nbs, err)
		}
		_, err = f.RecoverWorkspace(ctx, "ws1")
		wantCode(t, err, tandem.EConflict)
		_, err = f.RecoverWorkspace(ctx, "nope")
		wantCode(t, err, tandem.ENotFound)

		log := changes(t, f.Region, ws.ID)
		var ops []string
		for _, c := range log {
			ops = append(ops, string(c.Op))
		}
		if got, want := strings.Join(ops, ","), "create,create,delete,recover"; got != want {
			t.Fatalf("got change ops %s, want %s", got, want)
		}
	})
}

func names(list []*tandem.Workspace) []string {
	var out []string
	for _, w := range list {
		out = append(out, w.Name)
	}
	return out
}

func TestPurge(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws := mustCreate(t, f.Region, "ws1")
		if _, err := f.UploadNotebook(ctx, "ws1", "a.py", strings.NewReader("print(1)")); err != nil {
			t.Fatal(err)
		}
		err := f.PurgeWorkspace(ctx, "ws1", tandem.PurgeOptions{})
		wantCode(t, err, tandem.EConflict)
		if !strings.Contains(err.Error(), "--permanently-delete") {
			t.Fatalf("got %q, want a hint about --permanently-delete", err)
		}
		if _, err := f.DeleteWorkspace(ctx, "ws1", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.PurgeWorkspace(ctx, "ws1", tandem.PurgeOptions{}); err != nil {
			t.Fatal(err)
		}
		gone, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
		if len(gone) != 0 {
			t.Fatalf("got deleted list %v after purge, want empty", names(gone))
		}
		if len(changes(t, f.Region, ws.ID)) != 0 {
			t.Fatal("change log survived the purge")
		}
		nbKey := "workspaces/" + ws.ID + "/notebooks/a.py"
		if keys := blobKeys(t, f.Region, "workspaces/"+ws.ID+"/notebooks/"); len(keys) != 1 || keys[0] != nbKey {
			t.Fatalf("got notebook keys %v after purge, want %s kept", keys, nbKey)
		}

		ws2 := mustCreate(t, f.Region, "ws2")
		if _, err := f.UploadNotebook(ctx, "ws2", "a.py", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.DeleteWorkspace(ctx, "ws2", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.PurgeWorkspace(ctx, "ws2", tandem.PurgeOptions{Storage: true}); err != nil {
			t.Fatal(err)
		}
		if keys := blobKeys(t, f.Region, "workspaces/"+ws2.ID+"/"); len(keys) != 0 {
			t.Fatalf("got keys %v after purge with storage, want none", keys)
		}
	})
}

func TestDeletePermanently(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws := mustCreate(t, f.Region, "tmp-ws")
		if _, err := f.DeleteWorkspace(ctx, "tmp-ws", tandem.DeleteOptions{Permanent: true, PurgeStorage: true}); err != nil {
			t.Fatal(err)
		}
		for _, deleted := range []bool{false, true} {
			if l, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: deleted}); len(l) != 0 {
				t.Fatalf("got %v (deleted=%v), want nothing after a permanent delete", names(l), deleted)
			}
		}
		if keys := blobKeys(t, f.Region, ws.Resources.Storage); len(keys) != 0 {
			t.Fatalf("got keys %v, want storage purged", keys)
		}
		mustCreate(t, f.Region, "tmp-ws")
	})
}

func TestPurgeExpired(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.Retention = 48 * time.Hour
		mustCreate(t, f.Region, "old")
		mustCreate(t, f.Region, "recent")
		mustCreate(t, f.Region, "live")
		if _, err := f.DeleteWorkspace(ctx, "old", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(24 * time.Hour)
		if _, err := f.DeleteWorkspace(ctx, "recent", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(23 * time.Hour)
		if n, err := f.PurgeExpired(ctx); err != nil || n != 0 {
			t.Fatalf("PurgeExpired before retention: got %d, %v; want 0", n, err)
		}
		f.clock.advance(time.Hour)
		if n, err := f.PurgeExpired(ctx); err != nil || n != 1 {
			t.Fatalf("PurgeExpired: got %d, %v; want 1", n, err)
		}
		gone, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
		if got := strings.Join(names(gone), ","); got != "recent" {
			t.Fatalf("got deleted %q, want recent", got)
		}
		if _, err := f.FindWorkspace(ctx, "live"); err != nil {
			t.Fatalf("live workspace: %v", err)
		}
	})
}

func TestUpdateWorkspace(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		mustCreate(t, f.Region, "ws1")
		desc, display := "new description", "Vision"
		ws, err := f.UpdateWorkspace(ctx, "ws1", tandem.WorkspaceUpdate{Description: &desc, DisplayName: &display, Tags: map[string]string{"a": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.FindWorkspace(ctx, "ws1")
		if got.Description != desc || got.DisplayName != display || len(got.Tags) != 1 || got.Tags["a"] != "1" {
			t.Fatalf("got %+v, want the updated fields", got)
		}
		if log := changes(t, f.Region, ws.ID); len(log) != 2 || log[1].Op != tandem.OpUpdate {
			t.Fatalf("got %d changes, want create and update", len(log))
		}
		long := strings.Repeat("x", 5000)
		_, err = f.UpdateWorkspace(ctx, "ws1", tandem.WorkspaceUpdate{Description: &long})
		wantCode(t, err, tandem.EInvalid)
		_, err = f.UpdateWorkspace(ctx, "missing", tandem.WorkspaceUpdate{Description: &desc})
		wantCode(t, err, tandem.ENotFound)
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws1 := mustCreate(t, f.Region, "ws1")
		mustCreate(t, f.Region, "ws2")
		admin, adminSecret, err := f.CreateToken(ctx, "ops", "")
		if err != nil || !admin.Admin() {
			t.Fatalf("CreateToken admin: got %+v, %v", admin, err)
		}
		scoped, secret, err := f.CreateToken(ctx, "ci", "ws1")
		if err != nil || scoped.WorkspaceID != ws1.ID {
			t.Fatalf("CreateToken scoped: got %+v, %v", scoped, err)
		}
		if secret == adminSecret || !strings.HasPrefix(secret, "tdm_") {
			t.Fatalf("got secret %q, want a fresh tdm_ secret", secret)
		}
		_, _, err = f.CreateToken(ctx, "ci", "")
		wantCode(t, err, tandem.EConflict)
		_, _, err = f.CreateToken(ctx, "bad name", "")
		wantCode(t, err, tandem.EInvalid)
		_, _, err = f.CreateToken(ctx, "x", "missing")
		wantCode(t, err, tandem.ENotFound)

		p, err := f.Authenticate(ctx, secret)
		if err != nil || p.Name != "ci" {
			t.Fatalf("Authenticate: got %+v, %v", p, err)
		}
		_, err = f.Authenticate(ctx, "tdm_wrong")
		wantCode(t, err, tandem.EUnauthorized)

		// A workspace token sees and uses only its workspace.
		sctx := tandem.NewContextWithPrincipal(ctx, p)
		list, err := f.ListWorkspaces(sctx, tandem.WorkspaceFilter{})
		if err != nil || len(list) != 1 || list[0].Name != "ws1" {
			t.Fatalf("scoped list: got %v, %v; want [ws1]", names(list), err)
		}
		_, err = f.FindWorkspace(sctx, "ws2")
		wantCode(t, err, tandem.ENotFound)
		_, err = f.UploadNotebook(sctx, "ws2", "a", strings.NewReader("x"))
		wantCode(t, err, tandem.ENotFound)
		if _, err := f.UploadNotebook(sctx, "ws1", "a", strings.NewReader("x")); err != nil {
			t.Fatalf("scoped upload to own workspace: %v", err)
		}
		err = f.CreateWorkspace(sctx, &tandem.Workspace{Name: "ws3"})
		wantCode(t, err, tandem.EForbidden)
		_, err = f.DeleteWorkspace(sctx, "ws1", tandem.DeleteOptions{})
		wantCode(t, err, tandem.EForbidden)
		_, _, err = f.CreateToken(sctx, "more", "ws1")
		wantCode(t, err, tandem.EForbidden)
		toks, err := f.ListTokens(sctx)
		if err != nil || len(toks) != 1 || toks[0].Name != "ci" || toks[0].Workspace != "ws1" {
			t.Fatalf("scoped ListTokens: got %+v, %v; want only ci", toks, err)
		}

		// Workspace tokens are logged (they replicate); admin tokens are not.
		var tokenChanges int
		for _, c := range changes(t, f.Region, ws1.ID) {
			if c.Kind == tandem.KindToken {
				tokenChanges++
				if !strings.Contains(string(c.Body), scoped.Hash) {
					t.Fatalf("token change body %s lacks the hash a replica needs", c.Body)
				}
			}
		}
		if tokenChanges != 1 {
			t.Fatalf("got %d token changes, want 1", tokenChanges)
		}

		if err := f.RevokeToken(ctx, "ci"); err != nil {
			t.Fatal(err)
		}
		_, err = f.Authenticate(ctx, secret)
		wantCode(t, err, tandem.EUnauthorized)
		wantCode(t, f.RevokeToken(ctx, "ci"), tandem.ENotFound)
	})
}

func TestNotebooks(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ws := mustCreate(t, f.Region, "ws1")
		body := bytes.Repeat([]byte("cell\n"), 1000)
		nb, err := f.UploadNotebook(ctx, "ws1", "./dir//train.ipynb", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if nb.Path != "dir/train.ipynb" || nb.Size != int64(len(body)) || len(nb.SHA256) != 64 {
			t.Fatalf("got %+v, want dir/train.ipynb of %d bytes with a sha256", nb, len(body))
		}
		if keys := blobKeys(t, f.Region, "workspaces/"+ws.ID+"/notebooks/"); len(keys) != 1 || keys[0] != "workspaces/"+ws.ID+"/notebooks/dir/train.ipynb" {
			t.Fatalf("got keys %v, want the file at its readable path", keys)
		}
		_, rc, err := f.OpenNotebook(ctx, "ws1", "dir/train.ipynb")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read back %d bytes, %v; want the %d bytes uploaded", len(got), err, len(body))
		}
		if _, err := f.UploadNotebook(ctx, "ws1", "dir/train.ipynb", strings.NewReader("v2")); err != nil {
			t.Fatal(err)
		}
		log := changes(t, f.Region, ws.ID)
		if last := log[len(log)-1]; last.Kind != tandem.KindNotebook || last.Op != tandem.OpUpdate {
			t.Fatalf("got last change %+v, want a notebook update", last)
		}
		for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a\\b", "."} {
			_, err := f.UploadNotebook(ctx, "ws1", bad, strings.NewReader("x"))
			wantCode(t, err, tandem.EInvalid)
		}
		_, _, err = f.OpenNotebook(ctx, "ws1", "missing.ipynb")
		wantCode(t, err, tandem.ENotFound)

		// Bytes changed behind Tandem's back are caught on read.
		key := "workspaces/" + ws.ID + "/notebooks/dir/train.ipynb"
		if _, err := f.Blobs.Put(ctx, key, strings.NewReader("tampered"), nil); err != nil {
			t.Fatal(err)
		}
		_, rc, err = f.OpenNotebook(ctx, "ws1", "dir/train.ipynb")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		wantCode(t, err, tandem.ECorrupt)
	})
}

func TestEnsureAdminToken(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		path := t.TempDir() + "/admin.token"
		created, err := f.EnsureAdminToken(ctx, path)
		if err != nil || !created {
			t.Fatalf("first EnsureAdminToken: got %v, %v; want created", created, err)
		}
		created, err = f.EnsureAdminToken(ctx, path)
		if err != nil || created {
			t.Fatalf("second EnsureAdminToken: got %v, %v; want kept", created, err)
		}
		toks, _ := f.ListTokens(ctx)
		if len(toks) != 1 || toks[0].Name != "admin" || !toks[0].Admin() {
			t.Fatalf("got tokens %+v, want one admin token", toks)
		}
	})
}
