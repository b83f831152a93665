package assets_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func TestCreateAsset(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		a, created, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "", "weights-v1"))
		if err != nil || !created {
			t.Fatalf("CreateAsset: got %v, %v", created, err)
		}
		if a.Version != "1" || a.Spec["version"] != "1" || len(a.Files) != 1 {
			t.Fatalf("got version %q (spec %v) with %d files, want version 1 with one file", a.Version, a.Spec["version"], len(a.Files))
		}
		if want := "azureml://datastores/workspaceblobstore/paths/assets/model/clf/1/model.pkl"; a.Spec["path"] != want {
			t.Fatalf("got path %v, want %s", a.Spec["path"], want)
		}
		key := "workspaces/" + ws.ID + "/assets/model/clf/1/model.pkl"
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/assets/"); len(keys) != 1 || keys[0] != key {
			t.Fatalf("got asset keys %v, want %s", keys, key)
		}
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/staging/"); len(keys) != 0 {
			t.Fatalf("staging not cleaned: %v", keys)
		}
		last := apptest.Changes(t, f.Region, ws.ID)
		if c := last[len(last)-1]; c.Kind != tandem.KindModel || c.Name != "clf" || c.Version != "1" || c.Op != tandem.OpCreate {
			t.Fatalf("got last change %+v, want the model's create", c)
		}

		// Omitted version: the next integer.
		b, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "", "weights-v2"))
		if err != nil || b.Version != "2" {
			t.Fatalf("second create: got %v, %v; want version 2", b, err)
		}

		// Same version, same content: a no-op success.
		again, created, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "1", "weights-v1"))
		if err != nil || created || again.Version != "1" {
			t.Fatalf("identical re-create: got created=%v, %v", created, err)
		}
		// The YAML that show prints (path = its storage URI) is accepted back too.
		back := &tandem.AssetRequest{Kind: tandem.KindModel, Spec: a.Spec}
		if _, created, err := f.CreateAsset(ctx, "mlw", back); err != nil || created {
			t.Fatalf("re-create from show's document: got created=%v, %v", created, err)
		}

		// Same version, other bytes: a conflict, and the stored bytes stay.
		_, _, err = f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "1", "tampered"))
		apptest.WantCode(t, err, tandem.EConflict)
		_, rc, err := f.OpenAssetFile(ctx, "mlw", tandem.KindModel, "clf", "1", "model.pkl")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != "weights-v1" {
			t.Fatalf("read back %q, %v; want weights-v1", got, err)
		}
	})
}

func TestCreateAsset_Errors(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")

		req := apptest.ModelRequest(t, f.Region, "mlw", "", "x")
		req.Files[0].SHA256 = strings.Repeat("ab", 32)
		_, _, err := f.CreateAsset(ctx, "mlw", req)
		apptest.WantCode(t, err, tandem.ENotFound)

		req = apptest.ModelRequest(t, f.Region, "mlw", "", "x")
		req.Paths = nil
		_, _, err = f.CreateAsset(ctx, "mlw", req)
		apptest.WantCode(t, err, tandem.EInvalid)

		req = apptest.ModelRequest(t, f.Region, "mlw", "", "x")
		req.Spec["name"] = "bad name!"
		_, _, err = f.CreateAsset(ctx, "mlw", req)
		apptest.WantCode(t, err, tandem.EInvalid)

		comp := &tandem.AssetRequest{Kind: tandem.KindComponent, Spec: map[string]any{
			"name": "train", "type": "command", "command": "echo hi",
			"environment": "azureml:missing-env:3",
		}}
		_, _, err = f.CreateAsset(ctx, "mlw", comp)
		apptest.WantCode(t, err, tandem.ENotFound)
		if !strings.Contains(err.Error(), "missing-env") {
			t.Fatalf("got %q, want the unknown reference named", err)
		}

		_, err = f.StageBlob(ctx, "mlw", tandem.BlobRef{SHA256: strings.Repeat("0", 64), Size: 1}, strings.NewReader("y"))
		apptest.WantCode(t, err, tandem.ECorrupt)

		// Nothing was registered and no asset bytes were left behind.
		list, err := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel})
		if err != nil || len(list) != 0 {
			t.Fatalf("got %d models, %v; want none", len(list), err)
		}
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/assets/"); len(keys) != 0 {
			t.Fatalf("got asset keys %v after failed creates, want none", keys)
		}
	})
}

func TestAssetVersionsLabelsArchive(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		for _, body := range []string{"a", "b", "c"} {
			if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "", body)); err != nil {
				t.Fatal(err)
			}
			f.Clock.Advance(1e9)
		}
		latest, err := f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "", tandem.LabelLatest)
		if err != nil || latest.Version != "3" {
			t.Fatalf("latest: got %+v, %v; want version 3", latest, err)
		}
		if err := f.ArchiveAsset(ctx, "mlw", tandem.KindModel, "clf", "3", true); err != nil {
			t.Fatal(err)
		}
		latest, _ = f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "", tandem.LabelLatest)
		if latest.Version != "2" {
			t.Fatalf("latest after archiving 3: got %s, want 2", latest.Version)
		}
		all, _ := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel, Name: "clf"})
		if len(all) != 2 || all[0].Version != "2" || all[1].Version != "1" {
			t.Fatalf("versions: got %d, want 2 and 1 newest first", len(all))
		}
		withArchived, _ := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel, Name: "clf", IncludeArchived: true})
		if len(withArchived) != 3 {
			t.Fatalf("got %d versions with archived, want 3", len(withArchived))
		}
		if err := f.ArchiveAsset(ctx, "mlw", tandem.KindModel, "clf", "", false); err != nil {
			t.Fatal(err)
		}
		latest, _ = f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "", tandem.LabelLatest)
		if latest.Version != "3" {
			t.Fatalf("latest after restore: got %s, want 3", latest.Version)
		}
		desc := "retrained"
		upd, err := f.UpdateAsset(ctx, "mlw", tandem.KindModel, "clf", "2", tandem.AssetUpdate{Description: &desc, Tags: map[string]string{"stage": "prod"}})
		if err != nil || upd.Description != desc || upd.Tags["stage"] != "prod" {
			t.Fatalf("UpdateAsset: got %+v, %v", upd, err)
		}
		_, err = f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "9", "")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.FindAsset(ctx, "mlw", tandem.KindModel, "clf", "", "best")
		apptest.WantCode(t, err, tandem.EInvalid)
	})
}

func TestOpenAssetFile_Corrupt(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "", "good")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Blobs.Put(ctx, "workspaces/"+ws.ID+"/assets/model/clf/1/model.pkl", bytes.NewReader([]byte("evil")), nil); err != nil {
			t.Fatal(err)
		}
		_, rc, err := f.OpenAssetFile(ctx, "mlw", tandem.KindModel, "clf", "1", "model.pkl")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		apptest.WantCode(t, err, tandem.ECorrupt)
	})
}

func TestUploadLimit(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		f.MaxUpload = 10
		body := "eleven byte"
		sum := sha256.Sum256([]byte(body))
		want := tandem.BlobRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
		_, err := f.StageBlob(ctx, "mlw", want, strings.NewReader(body))
		apptest.WantCode(t, err, tandem.ETooLarge)
		want.Size = -1 // size not declared: the limit still holds while reading
		_, err = f.StageBlob(ctx, "mlw", want, strings.NewReader(body))
		apptest.WantCode(t, err, tandem.ETooLarge)
		_, err = f.UploadNotebook(ctx, "mlw", "big.ipynb", strings.NewReader(body))
		apptest.WantCode(t, err, tandem.ETooLarge)
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/"); len(keys) != 1 {
			t.Fatalf("got keys %v, want only the workspace marker", keys)
		}
		if _, err := f.UploadNotebook(ctx, "mlw", "small.ipynb", strings.NewReader("ten bytes!")); err != nil {
			t.Fatalf("a file of exactly the limit: %v", err)
		}
	})
}
