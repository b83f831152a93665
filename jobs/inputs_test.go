package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

func TestJobInputs(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)

		// A data folder asset (two versions: @latest must pick 2), a
		// model, and a file written straight into the workspace's storage.
		for _, v := range []string{"1", "2"} {
			_, _, err := f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{
				Kind:  tandem.KindData,
				Spec:  map[string]any{"name": "rows", "version": v, "type": "uri_folder", "path": "rows"},
				Paths: []tandem.AssetPath{{Field: "path", Root: "rows", Dir: true}},
				Files: []tandem.AssetFile{apptest.Stage(t, f.Region, "mlw", "path", "rows/part/a.csv", "x,y\nv"+v+",1\n")},
			})
			if err != nil {
				t.Fatalf("CreateAsset: %v", err)
			}
		}
		if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "1", "weights")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Blobs.Put(ctx, "workspaces/"+ws.ID+"/example-data/iris.csv", strings.NewReader("sepal,petal\n1,2\n"), nil); err != nil {
			t.Fatal(err)
		}
		local := apptest.Stage(t, f.Region, "mlw", "inputs.notes.path", "notes.txt", "local notes\n")

		req := apptest.CommandJob(strings.Join([]string{
			"cat ${{inputs.rows}}/part/a.csv",
			"cat ${{inputs.iris}}",
			"cat ${{inputs.model}}/model.pkl; echo",
			"cat ${{inputs.notes}}",
			"echo n=${{inputs.n}}",
			"stat -c '%a %n' ${{inputs.rows}}/part/a.csv ${{inputs.rows}}/part",
			"cp ${{inputs.rows}}/part/a.csv ${{outputs.copy}}/",
			"echo named > ${{outputs.file}}",
		}, " && "), map[string]any{
			"inputs": map[string]any{
				"rows":  map[string]any{"type": "uri_folder", "path": "azureml:rows@latest", "mode": "ro_mount"},
				"iris":  map[string]any{"type": "uri_file", "path": "azureml://datastores/workspaceblobstore/paths/example-data/iris.csv", "mode": "download"},
				"model": map[string]any{"type": "custom_model", "path": "azureml:clf:1"},
				"notes": map[string]any{"type": "uri_file", "path": "notes.txt"},
				"n":     3,
			},
			"outputs": map[string]any{"copy": map[string]any{"type": "uri_folder"},
				"file": map[string]any{"type": "uri_file", "path": "azureml://datastores/workspaceblobstore/paths/results/${{name}}/result.txt"}},
		})
		req.Paths = []tandem.AssetPath{{Field: "inputs.notes.path", Root: "notes.txt"}}
		req.Files = []tandem.AssetFile{local}
		j, err := f.CreateJob(ctx, "mlw", req)
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		rows := j.Inputs["rows"]
		if rows == nil || rows.Path != "azureml:rows:2" || rows.File || len(rows.Files) != 1 || rows.Files[0].Path != "part/a.csv" {
			t.Fatalf("rows resolved to %+v", rows)
		}
		if got := j.Spec["inputs"].(map[string]any)["rows"].(map[string]any)["path"]; got != "azureml:rows:2" {
			t.Fatalf("spec records rows as %v, want azureml:rows:2", got)
		}
		if in := j.Inputs["notes"]; in == nil || !in.File || in.Files[0].Key != "runs/"+j.Name+"/inputs/notes/notes.txt" {
			t.Fatalf("notes resolved to %+v", in)
		}
		if in := j.Inputs["iris"]; in == nil || !in.File || in.Mode != "download" {
			t.Fatalf("iris resolved to %+v", in)
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		log := apptest.JobLog(t, f.Region, "mlw", j.Name)
		if j.Status != tandem.JobCompleted {
			t.Fatalf("ended %s (%s): %s", j.Status, j.Error, log)
		}
		for _, want := range []string{"v2,1", "sepal,petal", "weights", "local notes", "n=3", "444 ", "555 "} {
			if !strings.Contains(log, want) {
				t.Fatalf("log lacks %q:\n%s", want, log)
			}
		}

		if keys := strings.Join(apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/runs/"+j.Name+"/outputs/"), ","); !strings.Contains(keys, "outputs/file/result.txt") {
			t.Fatalf("the uri_file output is not named as its path says: %s", keys)
		}

		// The output of that job is the input of the next one.
		next, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("cat ${{inputs.prev}}/a.csv", map[string]any{
			"inputs": map[string]any{"prev": map[string]any{"type": "uri_folder", "path": "azureml://jobs/" + j.Name + "/outputs/copy"}},
		}))
		if err != nil {
			t.Fatalf("CreateJob from a job output: %v", err)
		}
		next = apptest.WaitJob(t, f.Region, "mlw", next.Name, apptest.Done)
		if log := apptest.JobLog(t, f.Region, "mlw", next.Name); next.Status != tandem.JobCompleted || !strings.Contains(log, "v2,1") {
			t.Fatalf("ended %s (%s): %s", next.Status, next.Error, log)
		}

		t.Run("bad input", func(t *testing.T) {
			for _, c := range []struct {
				path, code, msg string
			}{
				{"azureml:nope:1", tandem.ENotFound, "nope"},
				{"azureml:rows:9", tandem.ENotFound, "rows"},
				{"azureml://datastores/workspaceblobstore/paths/missing/", tandem.ENotFound, "missing"},
				{"azureml://datastores/other/paths/x", tandem.ENotFound, "other"},
				{"https://example.com/iris.csv", tandem.EInvalid, "not supported yet"},
				{"azureml://jobs/nope/outputs/x", tandem.ENotFound, "nope"},
			} {
				_, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("ls ${{inputs.d}}", map[string]any{
					"inputs": map[string]any{"d": map[string]any{"type": "uri_folder", "path": c.path}},
				}))
				apptest.WantCode(t, err, c.code)
				if !strings.Contains(err.Error(), c.msg) || !(strings.Contains(err.Error(), `input "d"`) || strings.Contains(err.Error(), "inputs.d")) {
					t.Fatalf("%s: error %v does not name %q and the input", c.path, err, c.msg)
				}
			}
			_, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("cat ${{inputs.d}}", map[string]any{
				"inputs": map[string]any{"d": map[string]any{"type": "uri_file", "path": "azureml:rows:1"}},
			}))
			apptest.WantCode(t, err, tandem.EInvalid)
			_, err = f.CreateJob(ctx, "mlw", apptest.CommandJob("cat ${{inputs.d}} ${{inputs.e}}", map[string]any{
				"inputs": map[string]any{"d": map[string]any{"type": "uri_file", "path": "azureml:rows:1"}},
			}))
			apptest.WantCode(t, err, tandem.EInvalid)
		})
	})
}

// Input bytes are verified as they are fetched: a data file changed in
// storage after the job was created fails the job, and nothing runs.
func TestJobInputsVerified(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "1", "weights")); err != nil {
			t.Fatal(err)
		}
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("echo ran; cat ${{inputs.m}}/model.pkl", map[string]any{
			"inputs": map[string]any{"m": map[string]any{"type": "custom_model", "path": "azureml:clf@latest"}},
		}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Blobs.Put(ctx, "workspaces/"+ws.ID+"/assets/model/clf/1/model.pkl", strings.NewReader("evil"), nil); err != nil {
			t.Fatal(err)
		}
		apptest.StartJobs(t, f.Region)
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if j.Status != tandem.JobFailed || !strings.Contains(j.Error, "prepare inputs") || !strings.Contains(j.Error, "expected sha256") {
			t.Fatalf("ended %s: %s", j.Status, j.Error)
		}
		if log := apptest.JobLog(t, f.Region, "mlw", j.Name); strings.Contains(log, "ran") {
			t.Fatalf("the command ran on corrupt input: %q", log)
		}
	})
}
