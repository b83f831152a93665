package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/spec"
)

// yamlJob parses a job document written as Azure writes it, as the CLI
// does before it sends it.
func yamlJob(t *testing.T, yaml string) *tandem.JobRequest {
	t.Helper()
	doc, err := spec.Parse([]byte(yaml), "job.yml", spec.Options{Kind: "job", NoFS: true})
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	return &tandem.JobRequest{Spec: doc.Fields}
}

// The legacy input type `path` is read as uri_folder.
func TestLegacyPathInput(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		if _, err := f.Blobs.Put(ctx, "workspaces/"+ws.ID+"/legacy/rows.csv", strings.NewReader("a,b\n1,2\n"), nil); err != nil {
			t.Fatal(err)
		}
		req := yamlJob(t, `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: cat ${{inputs.data}}/rows.csv
inputs:
  data:
    type: path
    path: azureml://datastores/workspaceblobstore/paths/legacy/
environment:
  image: library/python:latest
`)
		j, err := f.CreateJob(ctx, "mlw", req)
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		if in := j.Inputs["data"]; in == nil || in.Type != "uri_folder" || in.File {
			t.Fatalf("data resolved to %+v, want a uri_folder", in)
		}
		if got := j.Spec["inputs"].(map[string]any)["data"].(map[string]any)["type"]; got != "uri_folder" {
			t.Fatalf("spec records the input's type as %v, want uri_folder", got)
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if log := apptest.JobLog(t, f.Region, "mlw", j.Name); j.Status != tandem.JobCompleted || !strings.Contains(log, "1,2") {
			t.Fatalf("ended %s (%s): %s", j.Status, j.Error, log)
		}
	})
}
