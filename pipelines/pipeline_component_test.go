package pipelines_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/spec"
)

// twiceComponent is a pipeline component of two steps: the first writes
// its input x, the second copies that to the component's output. Its
// optional input suffix no step uses.
const twiceComponent = `$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: twice
version: "1"
inputs:
  x:
    type: integer
    default: 2
  word:
    type: string
  suffix:
    type: string
    optional: true
outputs:
  out:
    type: uri_folder
jobs:
  first:
    type: command
    command: echo ${{inputs.word}}=${{inputs.x}} > ${{outputs.o}}/v.txt
    environment:
      image: library/python:latest
    inputs:
      x: ${{parent.inputs.x}}
      word: ${{parent.inputs.word}}
    outputs:
      o:
  second:
    type: command
    command: cat ${{inputs.v}}/v.txt && cp ${{inputs.v}}/v.txt ${{outputs.o}}/
    environment:
      image: library/python:latest
    inputs:
      v: ${{parent.jobs.first.outputs.o}}
    outputs:
      o: ${{parent.outputs.out}}
`

// A pipeline job runs a pipeline component given inline, as a local file
// or registered: the component's steps are its graph, its inputs and
// outputs the component's.
func TestPipelineJobRunsComponent(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "mlw")
		apptest.StartJobs(t, f.Region)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "twice.yml"), []byte(twiceComponent), 0o644); err != nil {
			t.Fatal(err)
		}
		comp, err := spec.Parse([]byte(twiceComponent), filepath.Join(dir, "twice.yml"), spec.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.CreateAsset(ctx, "mlw", &tandem.AssetRequest{Kind: tandem.KindComponent, Spec: comp.Fields}); err != nil {
			t.Fatalf("register the pipeline component: %v", err)
		}
		inline := "component:\n" + indent(strings.SplitN(twiceComponent, "\n", 2)[1])
		for _, c := range []struct{ name, component, x, want string }{
			{"inline", inline, "  x: 5\n", "hi=5"},
			{"file", "component: ./twice.yml\n", "", "hi=2"},
			{"registered", "component: azureml:twice:1\n", "  x: 7\n", "hi=7"},
		} {
			t.Run(c.name, func(t *testing.T) {
				yaml := "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\ntype: pipeline\n" +
					"inputs:\n  word: hi\n" + c.x + "outputs:\n  out:\n    mode: upload\n" + c.component
				doc, err := spec.Parse([]byte(yaml), filepath.Join(dir, "job.yml"), spec.Options{})
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				j, err := f.CreateJob(ctx, "mlw", &tandem.JobRequest{Spec: doc.Fields})
				if err != nil {
					t.Fatalf("CreateJob: %v", err)
				}
				if len(j.Steps) != 2 {
					t.Fatalf("steps %+v, want the component's first and second", j.Steps)
				}
				j = apptest.WaitJob(t, f.Region, "mlw", j.Name, apptest.Done)
				if j.Status != tandem.JobCompleted {
					t.Fatalf("ended %s (%s)", j.Status, j.Error)
				}
				if log := apptest.JobLog(t, f.Region, "mlw", stepOf(t, j, "second").Job); !strings.Contains(log, c.want) {
					t.Fatalf("second step's log lacks %q: %s", c.want, log)
				}
			})
		}

		t.Run("refused", func(t *testing.T) {
			for _, c := range []struct{ yaml, code, msg string }{
				{"inputs:\n  x: 1\ncomponent: azureml:nope:1\n", tandem.ENotFound, "nope"},
				{"inputs:\n  x: 1\ncomponent: azureml://registries/azureml/components/twice/versions/1\n", tandem.EInvalid, "registered in the workspace"},
				{"inputs:\n  x: 1\ncomponent: azureml:twice:1\n", tandem.EInvalid, `input "word"`},
				{"inputs:\n  word: a\n  y: 1\ncomponent: azureml:twice:1\n", tandem.EInvalid, `input "y"`},
			} {
				_, err := f.CreateJob(ctx, "mlw", yamlPipeline(t, "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\ntype: pipeline\n"+c.yaml))
				apptest.WantCode(t, err, c.code)
				if !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("%s: error %v does not say %s", c.yaml, err, c.msg)
				}
			}
		})
	})
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n") + "\n"
}
