package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// Model inputs of every model type take a registered model by
// azureml:NAME:VERSION and azureml:NAME@latest; a model in an Azure ML
// registry is refused at create, naming the registry.
func TestModelInputTypes(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		_, _, err := f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{
			Kind:  tandem.KindModel,
			Spec:  map[string]any{"name": "heart-classifier", "version": "1", "type": "mlflow_model", "path": "model"},
			Paths: []tandem.AssetPath{{Field: "path", Root: "model", Dir: true}},
			Files: []tandem.AssetFile{
				apptest.Stage(t, f.Region, "mlw", "path", "model/MLmodel", "flavors: {}\n"),
				apptest.Stage(t, f.Region, "mlw", "path", "model/model.pkl", "weights"),
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		req := yamlJob(t, `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
command: cat ${{inputs.mlflow}}/MLmodel ${{inputs.custom}}/model.pkl && ls ${{inputs.triton}}
inputs:
  mlflow:
    type: mlflow_model
    path: azureml:heart-classifier:1
  custom:
    type: custom_model
    path: azureml:heart-classifier@latest
  triton:
    type: triton_model
    path: azureml:heart-classifier:1
environment:
  image: library/python:latest
`)
		j, err := f.CreateJob(ctx, "mlw", req)
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		for _, name := range []string{"mlflow", "custom", "triton"} {
			in := j.Inputs[name]
			if in == nil || in.Path != "azureml:heart-classifier:1" || in.File || len(in.Files) != 2 {
				t.Fatalf("%s resolved to %+v", name, in)
			}
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		log := apptest.JobLog(t, f.Region, "mlw", j.Name)
		if j.Status != tandem.JobCompleted || !strings.Contains(log, "flavors") || !strings.Contains(log, "weights") {
			t.Fatalf("ended %s (%s): %s", j.Status, j.Error, log)
		}

		// A registry model validates, and is refused at create: even with
		// a workspace model of that name and version.
		// Without a type, the registry reference says it is a model.
		for _, typ := range []string{"mlflow_model", "custom_model", "triton_model", ""} {
			typeLine := ""
			if typ != "" {
				typeLine = "    type: " + typ + "\n"
			}
			req := yamlJob(t, `command: ls ${{inputs.m}}
inputs:
  m:
`+typeLine+`    path: azureml://registries/azureml/models/heart-classifier/versions/1
environment:
  image: library/python:latest
`)
			_, err := f.CreateJob(ctx, "mlw", req)
			apptest.WantCode(t, err, tandem.EInvalid)
			for _, want := range []string{`registry "azureml"`, `input "m"`, "azureml:heart-classifier:1"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: error %v does not say %s", typ, err, want)
				}
			}
		}
	})
}

// A model registered by reference to a job's output (az ml model create
// --path azureml://jobs/JOB/outputs/NAME) is an input of that output's
// files.
func TestModelFromJobOutput(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		train, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("echo 'flavors: {}' > ${{outputs.model}}/MLmodel", map[string]any{
			"outputs": map[string]any{"model": map[string]any{"type": "mlflow_model"}},
		}))
		if err != nil {
			t.Fatal(err)
		}
		if train = apptest.WaitJob(t, f.Region, "mlw", train.Name, apptest.Done); train.Status != tandem.JobCompleted {
			t.Fatalf("training ended %s (%s)", train.Status, train.Error)
		}
		_, _, err = f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{Kind: tandem.KindModel, Spec: map[string]any{
			"name": "trained", "version": "1", "type": "mlflow_model", "path": "azureml://jobs/" + train.Name + "/outputs/model"}})
		if err != nil {
			t.Fatalf("register the model: %v", err)
		}
		j, err := f.CreateJob(ctx, "mlw", apptest.CommandJob("cat ${{inputs.m}}/MLmodel", map[string]any{
			"inputs": map[string]any{"m": map[string]any{"type": "mlflow_model", "path": "azureml:trained@latest"}},
		}))
		if err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		if in := j.Inputs["m"]; in == nil || in.Path != "azureml:trained:1" || len(in.Files) != 1 || in.Files[0].Path != "MLmodel" {
			t.Fatalf("m resolved to %+v", in)
		}
		j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
		if log := apptest.JobLog(t, f.Region, "mlw", j.Name); j.Status != tandem.JobCompleted || !strings.Contains(log, "flavors") {
			t.Fatalf("ended %s (%s): %s", j.Status, j.Error, log)
		}
	})
}
