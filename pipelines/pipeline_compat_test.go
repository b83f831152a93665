package pipelines_test

import (
	"context"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/spec"
)

// yamlPipeline parses a pipeline job written as Azure writes it, as the
// CLI does before it sends it.
func yamlPipeline(t *testing.T, yaml string) *tandem.JobRequest {
	t.Helper()
	doc, err := spec.Parse([]byte(yaml), "pipeline.yml", spec.Options{Kind: "job", NoFS: true})
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	return &tandem.JobRequest{Spec: doc.Fields}
}

func outputPath(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %v in %v", keys, m)
		}
		v = mm[k]
	}
	return v
}

// ${{default_datastore}} in the output paths of a pipeline and of its
// steps is the pipeline's settings.default_datastore, or the workspace's
// default datastore.
func TestPipelineDefaultDatastore(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		if _, err := f.CreateDatastore(ctx, "mlw", map[string]any{"name": "lake", "type": "azure_blob", "account_name": "acct", "container_name": "c"}); err != nil {
			t.Fatal(err)
		}
		const steps = `
outputs:
  scores:
    type: uri_folder
    path: azureml://datastores/${{default_datastore}}/paths/scores/${{name}}/
jobs:
  score:
    type: command
    command: echo a > ${{outputs.scores}}/a.txt
    environment:
      image: library/python:latest
    outputs:
      scores: ${{parent.outputs.scores}}
  extra:
    type: command
    command: echo b > ${{outputs.out}}/b.txt
    environment:
      image: library/python:latest
    outputs:
      out:
        type: uri_folder
        path: azureml://datastores/${{default_datastore}}/paths/extra/
`
		for _, c := range []struct{ settings, want string }{
			{"", "workspaceblobstore"},
			{"settings:\n  default_datastore: azureml:lake\n", "lake"},
		} {
			j, err := f.CreateJob(ctx, "mlw", yamlPipeline(t, "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\ntype: pipeline\n"+c.settings+steps))
			if err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			if got, want := outputPath(t, j.Spec, "outputs", "scores", "path"), "azureml://datastores/"+c.want+"/paths/scores/${{name}}/"; got != want {
				t.Fatalf("pipeline output path %v, want %s", got, want)
			}
			if got, want := outputPath(t, j.Spec, "jobs", "extra", "outputs", "out", "path"), "azureml://datastores/"+c.want+"/paths/extra/"; got != want {
				t.Fatalf("step output path %v, want %s", got, want)
			}
			j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
			if j.Status != tandem.JobCompleted {
				t.Fatalf("ended %s (%s)", j.Status, j.Error)
			}
		}
	})
}
