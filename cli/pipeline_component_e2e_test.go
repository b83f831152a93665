package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// A pipeline job that runs a pipeline component from a local file, whose
// step has local code, is created through the CLI (the component and its
// code uploaded with the job) and runs; ${{default_datastore}} in its
// output path is accepted.
func TestE2EPipelineJobComponentFile(t *testing.T) {
	_, endpoint, token := startServer(t)
	dir := t.TempDir()
	env := map[string]string{cmdutil.EnvEndpoint: endpoint, cmdutil.EnvToken: token}
	mustRun(t, dir, env, "workspace", "create", "--name", "mlw")
	env[cmdutil.EnvWorkspace] = "mlw"
	files := map[string]string{
		"components/greet/src/greet.sh": "echo \"$1, from the component\" > \"$2/greeting.txt\"; cat \"$2/greeting.txt\"\n",
		"components/greet/pipeline.yml": `$schema: https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json
type: pipeline
name: greet_pipeline
inputs:
  who:
    type: string
outputs:
  greeting:
    type: uri_folder
jobs:
  greet:
    type: command
    code: ./src
    command: sh greet.sh ${{inputs.who}} ${{outputs.out}}
    environment:
      image: library/python:latest
    inputs:
      who: ${{parent.inputs.who}}
    outputs:
      out: ${{parent.outputs.greeting}}
`,
		"job.yml": `$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
inputs:
  who: hello
outputs:
  greeting:
    mode: upload
    path: azureml://datastores/${{default_datastore}}/paths/greetings/${{name}}/
component: ./components/greet/pipeline.yml
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, dir, env, "validate", "-f", "job.yml")
	created := decode[tandem.Job](t, mustRun(t, dir, env, "job", "create", "-f", "job.yml", "-o", "json"))
	j := waitJobDone(t, dir, env, created.Name)
	if j.Status != tandem.JobCompleted {
		t.Fatalf("%s ended %s (%s): %+v", j.Name, j.Status, j.Error, j.Steps)
	}
	if out := mustRun(t, dir, env, "job", "stream", "--name", stepJob(t, j, "greet")); !strings.Contains(out.stdout, "hello, from the component") {
		t.Fatalf("step log lacks the greeting:\n%s", out.stdout)
	}
}
