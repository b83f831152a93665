package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem/spec/internal/corpustest"
)

// A pipeline job runs the corpus's pipeline component (batch scoring with
// preprocessing: registered steps, model inputs by @latest) through a
// top-level component:, its inputs and outputs bound to the component's
// and its output written to ${{default_datastore}}.
func TestCorpusPipelineComponentAsJob(t *testing.T) {
	dir := corpustest.Copy(t, corpusDir)
	base := filepath.Join(dir, "endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing")
	job := func(name, inputs string) string {
		p := filepath.Join(base, name)
		yaml := pipelineSchema + "type: pipeline\ninputs:\n" + inputs + "outputs:\n  scores:\n    mode: upload\n" +
			"    path: azureml://datastores/${{default_datastore}}/paths/scores/${{name}}/\ncomponent: ./pipeline.yml\n"
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	d, err := Load(job("job.yml", "  input_data:\n    type: path\n    path: azureml:heart-data@latest\n  score_mode: append\n"), Options{})
	if err != nil {
		t.Fatalf("got %v, want ok", err)
	}
	comp, ok := d.Fields["component"].(map[string]any)
	if !ok || comp["type"] != "pipeline" || comp["jobs"] == nil {
		t.Fatalf("component read as %#v, want the pipeline component inline", d.Fields["component"])
	}
	if in := d.Fields["inputs"].(map[string]any)["input_data"].(map[string]any); in["type"] != "uri_folder" {
		t.Fatalf("input_data type %v, want the legacy path read as uri_folder", in["type"])
	}
	models := map[string]bool{}
	for _, r := range d.Refs {
		if r.Kind == KindModel {
			models[r.Name] = true
		}
	}
	if !models["heart-classifier"] || !models["heart-classifier-transforms"] {
		t.Fatalf("refs %+v lack the component's models", d.Refs)
	}

	_, err = Load(job("bad.yml", "  input_data:\n    type: uri_folder\n    path: azureml:heart-data@latest\n  scoring: append\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), `bad.yml:7:3: inputs.scoring: the component has no input "scoring"`) {
		t.Fatalf("got %v, want the unknown input named at its line", err)
	}
}
