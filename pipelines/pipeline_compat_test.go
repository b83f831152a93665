package pipelines_test

import (
	"context"
	"strings"
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

// Pipeline inputs and step inputs of model types take a registered model;
// a registry model is refused at create, naming the registry.
func TestPipelineModelInputs(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		if _, _, err := f.CreateAsset(ctx, "mlw", apptest.ModelRequest(t, f.Region, "mlw", "1", "weights")); err != nil {
			t.Fatal(err)
		}
		doc := func(model string) string {
			return `$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
inputs:
  model:
    type: mlflow_model
    path: ` + model + `
jobs:
  score:
    type: command
    command: cat ${{inputs.model}}/model.pkl ${{inputs.transforms}}/model.pkl
    environment:
      image: library/python:latest
    inputs:
      model: ${{parent.inputs.model}}
      transforms:
        type: custom_model
        path: azureml:clf:1
`
		}
		j, err := f.CreateJob(ctx, "mlw", yamlPipeline(t, doc("azureml:clf@latest")))
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if j.Status != tandem.JobCompleted {
			t.Fatalf("ended %s (%s)", j.Status, j.Error)
		}
		if log := apptest.JobLog(t, f.Region, "mlw", stepOf(t, j, "score").Job); !strings.Contains(log, "weightsweights") {
			t.Fatalf("step log lacks the model twice: %s", log)
		}
		_, err = f.CreateJob(ctx, "mlw", yamlPipeline(t, doc("azureml://registries/azureml/models/clf/versions/1")))
		apptest.WantCode(t, err, tandem.EInvalid)
		if !strings.Contains(err.Error(), `registry "azureml"`) || !strings.Contains(err.Error(), "azureml:clf:1") {
			t.Fatalf("error %v does not name the registry and the workspace reference", err)
		}
	})
}
