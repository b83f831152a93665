package region_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func TestCreateWorkspace(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "vision-prod")
		if ws.ID == "" || ws.Region != "eastus" || !ws.CreatedAt.Equal(f.Clock.T) {
			t.Fatalf("got id %q region %q created %v, want an id, eastus, %v", ws.ID, ws.Region, ws.CreatedAt, f.Clock.T)
		}
		if want := "workspaces/" + ws.ID + "/"; ws.Resources.Storage != want {
			t.Fatalf("got storage %q, want %q", ws.Resources.Storage, want)
		}
		if ws.Resources.KeyVault == "" || ws.Resources.ApplicationInsights == "" || ws.Resources.ContainerRegistry == "" {
			t.Fatalf("associated resources not provisioned: %+v", ws.Resources)
		}
		if keys := apptest.BlobKeys(t, f.Region, ws.Resources.Storage); len(keys) != 1 {
			t.Fatalf("got storage keys %v, want the workspace marker", keys)
		}
		got, err := f.FindWorkspace(ctx, "vision-prod")
		if err != nil || got.ID != ws.ID || got.Tags["team"] != "vision" {
			t.Fatalf("FindWorkspace: got %+v, %v", got, err)
		}
		log := apptest.Changes(t, f.Region, ws.ID)
		if len(log) != 1 || log[0].Seq != 1 || log[0].Op != tandem.OpCreate || log[0].Kind != tandem.KindWorkspace || log[0].Origin != "eastus" {
			t.Fatalf("got change log %+v, want one create entry from eastus", log)
		}
	})
}

func TestCreateWorkspace_ErrInvalidName(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		for _, name := range []string{"", "ab", "-abc", "_abc", "has space", "a.b.c", "abcdefghijklmnopqrstuvwxyz01234567", "café"} {
			err := f.CreateWorkspace(context.Background(), &tandem.Workspace{Name: name})
			apptest.WantCode(t, err, tandem.EInvalid)
			if !strings.Contains(err.Error(), "invalid workspace name") {
				t.Fatalf("name %q: got %q, want a message explaining the rule", name, err)
			}
		}
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"); len(keys) != 0 {
			t.Fatalf("got storage keys %v after failed creates, want none", keys)
		}
		for _, name := range []string{"abc", "A_b-c", "0ws", "abcdefghijklmnopqrstuvwxyz0123456"} {
			apptest.MustCreate(t, f.Region, name)
		}
	})
}

func TestCreateWorkspace_ErrConflict(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "dup")
		err := f.CreateWorkspace(ctx, &tandem.Workspace{Name: "dup"})
		apptest.WantCode(t, err, tandem.EConflict)

		if _, err := f.DeleteWorkspace(ctx, "dup", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err = f.CreateWorkspace(ctx, &tandem.Workspace{Name: "dup"})
		apptest.WantCode(t, err, tandem.EConflict)
		if !strings.Contains(err.Error(), "soft-deleted") || !strings.Contains(err.Error(), "purge") {
			t.Fatalf("got %q, want a message saying the name is soft-deleted until purged", err)
		}
		if err := f.PurgeWorkspace(ctx, "dup", tandem.PurgeOptions{}); err != nil {
			t.Fatal(err)
		}
		apptest.MustCreate(t, f.Region, "dup")
	})
}

func TestSoftDeleteAndRecover(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "ws1")
		apptest.MustCreate(t, f.Region, "ws2")
		if _, err := f.UploadNotebook(ctx, "ws1", "nb/a.ipynb", strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}
		deleted, err := f.DeleteWorkspace(ctx, "ws1", tandem.DeleteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := f.Clock.T.Add(14 * 24 * time.Hour); deleted.PurgeAt == nil || !deleted.PurgeAt.Equal(want) {
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
		apptest.WantCode(t, err, tandem.ENotFound)
		if !strings.Contains(err.Error(), "recover") {
			t.Fatalf("got %q, want a hint to recover", err)
		}
		_, err = f.DeleteWorkspace(ctx, "ws1", tandem.DeleteOptions{})
		apptest.WantCode(t, err, tandem.ENotFound)

		back, err := f.RecoverWorkspace(ctx, "ws1")
		if err != nil || back.Deleted() || back.ID != ws.ID {
			t.Fatalf("RecoverWorkspace: got %+v, %v", back, err)
		}
		nbs, err := f.ListNotebooks(ctx, "ws1")
		if err != nil || len(nbs) != 1 || nbs[0].Path != "nb/a.ipynb" {
			t.Fatalf("notebooks after recover: got %v, %v; want nb/a.ipynb", nbs, err)
		}
		_, err = f.RecoverWorkspace(ctx, "ws1")
		apptest.WantCode(t, err, tandem.EConflict)
		_, err = f.RecoverWorkspace(ctx, "nope")
		apptest.WantCode(t, err, tandem.ENotFound)

		log := apptest.Changes(t, f.Region, ws.ID)
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
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "ws1")
		if _, err := f.UploadNotebook(ctx, "ws1", "a.py", strings.NewReader("print(1)")); err != nil {
			t.Fatal(err)
		}
		err := f.PurgeWorkspace(ctx, "ws1", tandem.PurgeOptions{})
		apptest.WantCode(t, err, tandem.EConflict)
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
		if len(apptest.Changes(t, f.Region, ws.ID)) != 0 {
			t.Fatal("change log survived the purge")
		}
		nbKey := "workspaces/" + ws.ID + "/notebooks/a.py"
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/notebooks/"); len(keys) != 1 || keys[0] != nbKey {
			t.Fatalf("got notebook keys %v after purge, want %s kept", keys, nbKey)
		}

		ws2 := apptest.MustCreate(t, f.Region, "ws2")
		if _, err := f.UploadNotebook(ctx, "ws2", "a.py", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.DeleteWorkspace(ctx, "ws2", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.PurgeWorkspace(ctx, "ws2", tandem.PurgeOptions{Storage: true}); err != nil {
			t.Fatal(err)
		}
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws2.ID+"/"); len(keys) != 0 {
			t.Fatalf("got keys %v after purge with storage, want none", keys)
		}
	})
}

func TestDeletePermanently(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "tmp-ws")
		if _, err := f.DeleteWorkspace(ctx, "tmp-ws", tandem.DeleteOptions{Permanent: true, PurgeStorage: true}); err != nil {
			t.Fatal(err)
		}
		for _, deleted := range []bool{false, true} {
			if l, _ := f.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: deleted}); len(l) != 0 {
				t.Fatalf("got %v (deleted=%v), want nothing after a permanent delete", names(l), deleted)
			}
		}
		if keys := apptest.BlobKeys(t, f.Region, ws.Resources.Storage); len(keys) != 0 {
			t.Fatalf("got keys %v, want storage purged", keys)
		}
		apptest.MustCreate(t, f.Region, "tmp-ws")
	})
}

func TestPurgeExpired(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		f.Retention = 48 * time.Hour
		apptest.MustCreate(t, f.Region, "old")
		apptest.MustCreate(t, f.Region, "recent")
		apptest.MustCreate(t, f.Region, "live")
		if _, err := f.DeleteWorkspace(ctx, "old", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(24 * time.Hour)
		if _, err := f.DeleteWorkspace(ctx, "recent", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(23 * time.Hour)
		if n, err := f.PurgeExpired(ctx); err != nil || n != 0 {
			t.Fatalf("PurgeExpired before retention: got %d, %v; want 0", n, err)
		}
		f.Clock.Advance(time.Hour)
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
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "ws1")
		desc, display := "new description", "Vision"
		ws, err := f.UpdateWorkspace(ctx, "ws1", tandem.WorkspaceUpdate{Description: &desc, DisplayName: &display, Tags: map[string]string{"a": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.FindWorkspace(ctx, "ws1")
		if got.Description != desc || got.DisplayName != display || len(got.Tags) != 1 || got.Tags["a"] != "1" {
			t.Fatalf("got %+v, want the updated fields", got)
		}
		if log := apptest.Changes(t, f.Region, ws.ID); len(log) != 2 || log[1].Op != tandem.OpUpdate {
			t.Fatalf("got %d changes, want create and update", len(log))
		}
		long := strings.Repeat("x", 5000)
		_, err = f.UpdateWorkspace(ctx, "ws1", tandem.WorkspaceUpdate{Description: &long})
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.UpdateWorkspace(ctx, "missing", tandem.WorkspaceUpdate{Description: &desc})
		apptest.WantCode(t, err, tandem.ENotFound)
	})
}

func TestTokens(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws1 := apptest.MustCreate(t, f.Region, "ws1")
		apptest.MustCreate(t, f.Region, "ws2")
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
		apptest.WantCode(t, err, tandem.EConflict)
		_, _, err = f.CreateToken(ctx, "bad name", "")
		apptest.WantCode(t, err, tandem.EInvalid)
		_, _, err = f.CreateToken(ctx, "x", "missing")
		apptest.WantCode(t, err, tandem.ENotFound)

		p, err := f.Authenticate(ctx, secret)
		if err != nil || p.Name != "ci" {
			t.Fatalf("Authenticate: got %+v, %v", p, err)
		}
		_, err = f.Authenticate(ctx, "tdm_wrong")
		apptest.WantCode(t, err, tandem.EUnauthorized)

		// A workspace token sees and uses only its workspace.
		sctx := tandem.NewContextWithPrincipal(ctx, p)
		list, err := f.ListWorkspaces(sctx, tandem.WorkspaceFilter{})
		if err != nil || len(list) != 1 || list[0].Name != "ws1" {
			t.Fatalf("scoped list: got %v, %v; want [ws1]", names(list), err)
		}
		_, err = f.FindWorkspace(sctx, "ws2")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.UploadNotebook(sctx, "ws2", "a", strings.NewReader("x"))
		apptest.WantCode(t, err, tandem.ENotFound)
		if _, err := f.UploadNotebook(sctx, "ws1", "a", strings.NewReader("x")); err != nil {
			t.Fatalf("scoped upload to own workspace: %v", err)
		}
		err = f.CreateWorkspace(sctx, &tandem.Workspace{Name: "ws3"})
		apptest.WantCode(t, err, tandem.EForbidden)
		_, err = f.DeleteWorkspace(sctx, "ws1", tandem.DeleteOptions{})
		apptest.WantCode(t, err, tandem.EForbidden)
		_, _, err = f.CreateToken(sctx, "more", "ws1")
		apptest.WantCode(t, err, tandem.EForbidden)
		toks, err := f.ListTokens(sctx)
		if err != nil || len(toks) != 1 || toks[0].Name != "ci" || toks[0].Workspace != "ws1" {
			t.Fatalf("scoped ListTokens: got %+v, %v; want only ci", toks, err)
		}

		// Workspace tokens are logged (they replicate); admin tokens are not.
		var tokenChanges int
		for _, c := range apptest.Changes(t, f.Region, ws1.ID) {
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
		apptest.WantCode(t, err, tandem.EUnauthorized)
		apptest.WantCode(t, f.RevokeToken(ctx, "ci"), tandem.ENotFound)
	})
}

func TestNotebooks(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "ws1")
		body := bytes.Repeat([]byte("cell\n"), 1000)
		nb, err := f.UploadNotebook(ctx, "ws1", "./dir//train.ipynb", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if nb.Path != "dir/train.ipynb" || nb.Size != int64(len(body)) || len(nb.SHA256) != 64 {
			t.Fatalf("got %+v, want dir/train.ipynb of %d bytes with a sha256", nb, len(body))
		}
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/notebooks/"); len(keys) != 1 || keys[0] != "workspaces/"+ws.ID+"/notebooks/dir/train.ipynb" {
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
		log := apptest.Changes(t, f.Region, ws.ID)
		if last := log[len(log)-1]; last.Kind != tandem.KindNotebook || last.Op != tandem.OpUpdate {
			t.Fatalf("got last change %+v, want a notebook update", last)
		}
		for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a\\b", "."} {
			_, err := f.UploadNotebook(ctx, "ws1", bad, strings.NewReader("x"))
			apptest.WantCode(t, err, tandem.EInvalid)
		}
		_, _, err = f.OpenNotebook(ctx, "ws1", "missing.ipynb")
		apptest.WantCode(t, err, tandem.ENotFound)

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
		apptest.WantCode(t, err, tandem.ECorrupt)
	})
}

func TestEnsureAdminToken(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
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
