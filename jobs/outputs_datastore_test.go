package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// ${{default_datastore}} in an output path is the workspace's default
// datastore.
func TestDefaultDatastoreOutput(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		req := yamlJob(t, `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: echo scored > ${{outputs.scores}}
outputs:
  scores:
    type: uri_file
    path: azureml://datastores/${{default_datastore}}/paths/scores/${{name}}/scores.txt
environment:
  image: library/python:latest
`)
		j, err := f.CreateJob(ctx, "mlw", req)
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		want := "azureml://datastores/workspaceblobstore/paths/scores/${{name}}/scores.txt"
		if got := j.Spec["outputs"].(map[string]any)["scores"].(map[string]any)["path"]; got != want {
			t.Fatalf("output path recorded as %v, want %s", got, want)
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if j.Status != tandem.JobCompleted {
			t.Fatalf("ended %s (%s): %s", j.Status, j.Error, apptest.JobLog(t, f.Region, "mlw", j.Name))
		}
		if keys := strings.Join(apptest.BlobKeys(t, f.Region, "workspaces/"+ws.ID+"/runs/"+j.Name+"/outputs/"), ","); !strings.Contains(keys, "outputs/scores/scores.txt") {
			t.Fatalf("the output is not named as its path says: %s", keys)
		}
	})
}
