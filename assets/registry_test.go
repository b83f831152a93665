package assets_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// registryFixture creates workspace mlw and a run "run1" that logged a
// model's artifacts under model/.
func registryFixture(t *testing.T, f *apptest.Fixture) *tandem.Workspace {
	t.Helper()
	ctx := context.Background()
	ws := apptest.MustCreate(t, f.Region, "mlw")
	if _, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("true", map[string]any{"name": "run1"})); err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.pkl": "weights", "plot.png": "png"} {
		if _, err := f.PutArtifact(ctx, "mlw", "0/run1/artifacts/"+p, int64(len(body)), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

func TestModelRegistry(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := registryFixture(t, f)
		m, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "clf", Description: "classifier", Tags: map[string]string{"team": "cv"}})
		if err != nil || m.Name != "clf" || m.Latest != nil {
			t.Fatalf("create: %+v, %v", m, err)
		}
		_, err = f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "clf"})
		apptest.WantCode(t, err, tandem.EConflict)

		before := len(apptest.Changes(t, f.Region, ws.ID))
		mv, err := f.CreateModelVersion(ctx, "mlw", "clf", "runs:/run1/model", "run1", &tandem.ModelVersion{Description: "first"})
		if err != nil {
			t.Fatal(err)
		}
		if mv.Version != "1" || mv.RunID != "run1" || mv.Source != "runs:/run1/model" || mv.DownloadURI != "mlflow-artifacts:/0/run1/artifacts/model" {
			t.Fatalf("version %+v", mv)
		}
		if c := apptest.Changes(t, f.Region, ws.ID)[before:]; len(c) != 1 || c[0].Kind != tandem.KindModel || c[0].Version != "1" {
			t.Fatalf("creating a version wrote changes %+v", c)
		}
		// The version is a Tandem model version with lineage to the run,
		// its files the run's artifacts under model/, readable and verified.
		list, err := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel, Name: "clf"})
		if err != nil || len(list) != 1 {
			t.Fatalf("ListAssets: %v, %v", list, err)
		}
		a := list[0]
		if a.JobName != "run1" || a.Type != "mlflow_model" || len(a.Files) != 2 || a.Files[0].Path != "model/MLmodel" || a.Description != "first" {
			t.Fatalf("model version %+v", a)
		}
		_, rc, err := f.OpenAssetFile(ctx, "mlw", tandem.KindModel, "clf", "1", "model/model.pkl")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "weights" {
			t.Fatalf("model file: %q, %v", b, err)
		}

		// The run's files the version references no longer change; new
		// files beside them may be logged.
		_, err = f.PutArtifact(ctx, "mlw", "0/run1/artifacts/model/model.pkl", 3, strings.NewReader("new"))
		apptest.WantCode(t, err, tandem.EConflict)
		apptest.WantCode(t, f.DeleteArtifact(ctx, "mlw", "0/run1/artifacts/model"), tandem.EConflict)
		if _, err := f.PutArtifact(ctx, "mlw", "0/run1/artifacts/model/extra.txt", 1, strings.NewReader("x")); err != nil {
			t.Fatalf("a new file beside a registered model: %v", err)
		}

		// Other sources: mlflow-artifacts:/ and models:/, to the same bytes.
		mv2, err := f.CreateModelVersion(ctx, "mlw", "clf", "mlflow-artifacts:/0/run1/artifacts/plot.png", "", nil)
		if err != nil || mv2.Version != "2" {
			t.Fatalf("version from mlflow-artifacts: %+v, %v", mv2, err)
		}
		if _, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "prod"}); err != nil {
			t.Fatal(err)
		}
		mv3, err := f.CreateModelVersion(ctx, "mlw", "prod", "models:/clf/1", "", nil)
		if err != nil || mv3.Version != "1" || mv3.RunID != "run1" || mv3.DownloadURI != mv.DownloadURI {
			t.Fatalf("version from models:/: %+v, %v", mv3, err)
		}
		// models:/ is that version's files, not what the run holds now.
		if a, err := f.FindAsset(ctx, "mlw", tandem.KindModel, "prod", "1", ""); err != nil || len(a.Files) != 2 || a.JobName != "run1" {
			t.Fatalf("prod:1 %+v, %v", a, err)
		}

		// Aliases name versions; a version shows its aliases.
		if _, err := f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{SetAliases: map[string]string{"champion": "1"}}); err != nil {
			t.Fatal(err)
		}
		got, err := f.GetModelVersion(ctx, "mlw", "clf", "@champion")
		if err != nil || got.Version != "1" || len(got.Aliases) != 1 || got.Aliases[0] != "champion" {
			t.Fatalf("by alias: %+v, %v", got, err)
		}
		_, err = f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{SetAliases: map[string]string{"latest": "1"}})
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{SetAliases: map[string]string{"x": "9"}})
		apptest.WantCode(t, err, tandem.ENotFound)

		// Tags and description.
		desc := "better"
		m, err = f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{Description: &desc, SetTags: map[string]string{"stage": "dev"}, DeleteTags: []string{"team"}})
		if err != nil || m.Description != "better" || len(m.Tags) != 1 || m.Tags["stage"] != "dev" || m.Latest == nil || m.Latest.Version != "2" {
			t.Fatalf("update: %+v, %v", m, err)
		}
		got, err = f.UpdateModelVersion(ctx, "mlw", "clf", "1", tandem.RegistryChange{SetTags: map[string]string{"k": "v"}})
		if err != nil || got.Tags["k"] != "v" || got.Description != "first" {
			t.Fatalf("version tags: %+v, %v", got, err)
		}

		// Search.
		names := func(filter string) string {
			t.Helper()
			l, err := f.SearchRegisteredModels(ctx, "mlw", filter)
			if err != nil {
				t.Fatalf("search %q: %v", filter, err)
			}
			var s []string
			for _, m := range l {
				s = append(s, m.Name)
			}
			return strings.Join(s, ",")
		}
		for filter, want := range map[string]string{"": "clf,prod", "name LIKE 'c%'": "clf", "name ILIKE '%ROD'": "prod", "name = 'prod'": "prod", "name LIKE 'x%'": ""} {
			if got := names(filter); got != want {
				t.Errorf("search %q = %q, want %q", filter, got, want)
			}
		}
		_, err = f.SearchRegisteredModels(ctx, "mlw", "tags.x = 'y'")
		apptest.WantCode(t, err, tandem.EInvalid)
		vs, err := f.SearchModelVersions(ctx, "mlw", "name='clf'")
		if err != nil || len(vs) != 2 || vs[0].Version != "2" {
			t.Fatalf("search versions: %+v, %v", vs, err)
		}
		// A run's registered versions, as MLflow's UI asks for them.
		vs, err = f.SearchModelVersions(ctx, "mlw", "run_id = 'run1'")
		if err != nil || len(vs) != 3 {
			t.Fatalf("versions of run1: %+v, %v", vs, err)
		}
		if vs, err = f.SearchModelVersions(ctx, "mlw", "run_id = 'other'"); err != nil || len(vs) != 0 {
			t.Fatalf("versions of another run: %+v, %v", vs, err)
		}

		// Delete a version: archived, gone from MLflow, its alias dropped.
		if err := f.DeleteModelVersion(ctx, "mlw", "clf", "1"); err != nil {
			t.Fatal(err)
		}
		_, err = f.GetModelVersion(ctx, "mlw", "clf", "1")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.GetModelVersion(ctx, "mlw", "clf", "@champion")
		apptest.WantCode(t, err, tandem.ENotFound)

		// Delete the registered model: its versions are archived.
		if err := f.DeleteRegisteredModel(ctx, "mlw", "clf"); err != nil {
			t.Fatal(err)
		}
		_, err = f.GetRegisteredModel(ctx, "mlw", "clf")
		apptest.WantCode(t, err, tandem.ENotFound)
		if l, _ := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel, Name: "clf"}); len(l) != 0 {
			t.Fatalf("versions left after delete: %+v", l)
		}
	})
}

func TestModelRegistryErrors(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := registryFixture(t, f)
		// A job's token tracks its run only: the registry needs a workspace token.
		jobCtx := tandem.NewContextWithPrincipal(ctx, &tandem.Token{Name: tandem.JobTokenName(ws.ID, "run1"), WorkspaceID: ws.ID})
		_, err := f.CreateRegisteredModel(jobCtx, "mlw", &tandem.RegisteredModel{Name: "clf"})
		apptest.WantCode(t, err, tandem.EForbidden)
		_, err = f.SearchModelVersions(jobCtx, "mlw", "")
		apptest.WantCode(t, err, tandem.EForbidden)

		_, err = f.CreateModelVersion(ctx, "mlw", "nomodel", "runs:/run1/model", "", nil)
		apptest.WantCode(t, err, tandem.ENotFound)
		if _, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "clf"}); err != nil {
			t.Fatal(err)
		}
		for source, code := range map[string]string{
			"runs:/nosuchrun/model":              tandem.ENotFound,
			"runs:/run1/empty":                   tandem.EInvalid,
			"runs:/run1/../run2/model":           tandem.EInvalid,
			"runs:/run1/":                        tandem.EInvalid,
			"s3://bucket/model":                  tandem.EInvalid,
			"mlflow-artifacts:/0/run1/elsewhere": tandem.EInvalid,
			"models:/clf/7":                      tandem.ENotFound,
		} {
			_, err := f.CreateModelVersion(ctx, "mlw", "clf", source, "", nil)
			if tandem.ErrorCode(err) != code {
				t.Errorf("source %s: %v, want %s", source, err, code)
			}
		}
		_, err = f.CreateModelVersion(ctx, "mlw", "clf", "runs:/run1/model", "otherrun", nil)
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "bad name"})
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.GetModelVersion(ctx, "mlw", "clf", "1")
		apptest.WantCode(t, err, tandem.ENotFound)

		// Rename to a name that is taken.
		if _, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "taken"}); err != nil {
			t.Fatal(err)
		}
		_, err = f.RenameRegisteredModel(ctx, "mlw", "clf", "taken")
		apptest.WantCode(t, err, tandem.EConflict)
		_, err = f.RenameRegisteredModel(ctx, "mlw", "nope", "free")
		apptest.WantCode(t, err, tandem.ENotFound)
	})
}

// TestModelRegistryExportImport checks that an export of a workspace's
// assets carries its registered models with their versions and aliases.
func TestModelRegistryExportImport(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		registryFixture(t, f)
		if _, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "clf"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateModelVersion(ctx, "mlw", "clf", "runs:/run1/model", "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{SetAliases: map[string]string{"champion": "1"}}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := f.ExportWorkspace(ctx, "mlw", tandem.ExportOptions{Include: []string{tandem.IncludeAssets}}, &buf); err != nil {
			t.Fatal(err)
		}
		rep, err := f.ImportWorkspace(ctx, "copy", tandem.ImportOptions{}, &buf)
		if err != nil || rep.Kinds["registeredmodel/created"] != 1 || rep.Kinds["model/created"] != 1 {
			t.Fatalf("import: %+v, %v", rep, err)
		}
		mv, err := f.GetModelVersion(ctx, "copy", "clf", "@champion")
		if err != nil || mv.Version != "1" || mv.RunID != "run1" {
			t.Fatalf("imported version: %+v, %v", mv, err)
		}
		_, rc, err := f.OpenAssetFile(ctx, "copy", tandem.KindModel, "clf", "1", "model/model.pkl")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "weights" {
			t.Fatalf("imported model file: %q, %v", b, err)
		}
	})
}

// TestRenameRegisteredModel renames a registered model with versions: one
// from a run (its bytes referenced) and one made with `tandem model
// create` (its files copied, verified); numbers, aliases and lineage stay.
func TestRenameRegisteredModel(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := registryFixture(t, f)
		// clf:1 from `tandem model create`, then clf:2 from the run.
		if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "", "native")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateRegisteredModel(ctx, "mlw", &tandem.RegisteredModel{Name: "clf", Description: "d"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.CreateModelVersion(ctx, "mlw", "clf", "runs:/run1/model", "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.UpdateRegisteredModel(ctx, "mlw", "clf", tandem.RegistryChange{SetAliases: map[string]string{"champion": "2"}}); err != nil {
			t.Fatal(err)
		}
		before := len(apptest.Changes(t, f.Region, ws.ID))
		m, err := f.RenameRegisteredModel(ctx, "mlw", "clf", "vision")
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "vision" || m.Description != "d" || m.Aliases["champion"] != "2" || m.Latest == nil || m.Latest.Version != "2" {
			t.Fatalf("renamed: %+v", m)
		}
		// Writes: new name, two versions, two archives, old name deleted.
		if got := len(apptest.Changes(t, f.Region, ws.ID)) - before; got != 6 {
			t.Fatalf("rename wrote %d changes, want 6", got)
		}
		_, err = f.GetRegisteredModel(ctx, "mlw", "clf")
		apptest.WantCode(t, err, tandem.ENotFound)
		if l, _ := f.ListAssets(ctx, "mlw", tandem.AssetFilter{Kind: tandem.KindModel, Name: "clf"}); len(l) != 0 {
			t.Fatalf("old versions still listed: %+v", l)
		}
		mv, err := f.GetModelVersion(ctx, "mlw", "vision", "@champion")
		if err != nil || mv.Version != "2" || mv.RunID != "run1" {
			t.Fatalf("vision@champion: %+v, %v", mv, err)
		}
		for v, file := range map[string][2]string{"1": {"model.pkl", "native"}, "2": {"model/model.pkl", "weights"}} {
			_, rc, err := f.OpenAssetFile(ctx, "mlw", tandem.KindModel, "vision", v, file[0])
			if err != nil {
				t.Fatalf("vision:%s: %v", v, err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(b) != file[1] {
				t.Fatalf("vision:%s %s = %q, %v", v, file[0], b, err)
			}
		}
		if keys := apptest.BlobKeys(t, f.Region, tandem.StoragePrefix(ws.ID)+"assets/model/vision/1/"); len(keys) != 1 {
			t.Fatalf("copied files of vision:1: %v", keys)
		}
		// The next version continues the numbers.
		if mv, err := f.CreateModelVersion(ctx, "mlw", "vision", "runs:/run1/model", "", nil); err != nil || mv.Version != "3" {
			t.Fatalf("next version: %+v, %v", mv, err)
		}
	})
}
