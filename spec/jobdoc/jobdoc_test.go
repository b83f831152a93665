package jobdoc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/spec"
)

const pipelineSchema = "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"

// m is shorthand for the maps of these tests.
type m = map[string]any

func mustReadJob(t *testing.T, fields map[string]any) *Job {
	t.Helper()
	j, err := ReadJob(fields)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestReadJobShapeErrors(t *testing.T) {
	for _, c := range []struct {
		fields      m
		field, want string
	}{
		{m{"compute": int64(5)}, "compute", "must be a string, not a number"},
		{m{"type": true}, "type", "must be a string, not a boolean"},
		{m{"tags": m{"a": int64(1)}}, "tags.a", "must be a string, not a number"},
		{m{"properties": []any{"x"}}, "properties", "must be a mapping, not a list"},
		{m{"resubmit_on_failover": "yes"}, "resubmit_on_failover", "must be true or false, not a string"},
		{m{"environment": int64(3)}, "environment", "must be an environment (azureml:NAME:VERSION or a mapping), not a number"},
		{m{"environment": m{"image": m{}}}, "environment.image", "must be a string, not a mapping"},
		{m{"limits": m{"timeout": 1.5}}, "limits.timeout", "must be a whole number, not a number"},
		{m{"limits": m{"timeout": "60"}}, "limits.timeout", "must be a whole number, not a string"},
		{m{"resources": m{"instance_count": "2"}}, "resources.instance_count", "must be a whole number, not a string"},
		{m{"distribution": "mpi"}, "distribution", "must be a mapping, not a string"},
		{m{"environment_variables": m{"A": false}}, "environment_variables.A", "must be a string, not a boolean"},
		{m{"inputs": []any{}}, "inputs", "must be a mapping, not a list"},
		{m{"inputs": m{"x": []any{int64(1)}}}, "inputs.x", "must be a value or a mapping with type and path, not a list"},
		{m{"inputs": m{"x": m{"path": int64(1)}}}, "inputs.x.path", "must be a string, not a number"},
		{m{"inputs": m{"x": m{"optional": "no"}}}, "inputs.x.optional", "must be true or false, not a string"},
		{m{"outputs": m{"o": int64(5)}}, "outputs.o", "must be nothing, a binding or a mapping with type, mode and path, not a number"},
		{m{"outputs": m{"o": m{"version": int64(2)}}}, "outputs.o.version", "must be a string, not a number"},
		{m{"settings": "x"}, "settings", "must be a mapping, not a string"},
		{m{"settings": m{"continue_on_step_failure": "true"}}, "settings.continue_on_step_failure", "must be true or false, not a string"},
		{m{"settings": m{"default_environment": []any{}}}, "settings.default_environment", "must be an environment"},
		{m{"jobs": "a"}, "jobs", "must be a mapping, not a string"},
		{m{"jobs": m{"a": "x"}}, "jobs.a", "must be a mapping (a step), not a string"},
		{m{"jobs": m{"a": nil}}, "jobs.a", "must be a mapping (a step), not null"},
		{m{"jobs": m{"a": m{"component": int64(1)}}}, "jobs.a.component", "must be a component (azureml:NAME:VERSION, a path or a mapping), not a number"},
		{m{"jobs": m{"a": m{"trial": []any{}}}}, "jobs.a.trial", "must be a component"},
		{m{"jobs": m{"a": m{"inputs": m{"x": m{"mode": false}}}}}, "jobs.a.inputs.x.mode", "must be a string, not a boolean"},
		{m{"jobs": m{"a": m{"component": m{"inputs": m{"x": m{"type": int64(3)}}}}}}, "jobs.a.component.inputs.x.type", "must be a string, not a number"},
		{m{"jobs": m{"a": m{"component": m{"type": "pipeline", "jobs": m{"inner": m{"compute": false}}}}}}, "jobs.a.component.jobs.inner.compute", "must be a string, not a boolean"},
	} {
		_, err := ReadJob(c.fields)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%v: got %v, want a FieldError", c.fields, err)
			continue
		}
		if fe.Field != c.field || !strings.Contains(fe.Msg, c.want) || err.Error() != fe.Field+": "+fe.Msg {
			t.Errorf("%v: got %q (field %q), want field %q and %q", c.fields, err, fe.Field, c.field, c.want)
		}
	}
	if _, err := ReadComponent(m{"outputs": m{"o": true}}); err == nil || !strings.HasPrefix(err.Error(), "outputs.o: ") {
		t.Errorf("component: got %v, want an error on outputs.o", err)
	}
}

// fullPipeline has every field the types model and some they do not, at
// every level, and empty values that must stay as written.
func fullPipeline() m {
	return m{
		"type": "pipeline", "name": "p1", "display_name": "P", "description": "", "experiment_name": "exp",
		"tags": m{"a": "1"}, "properties": m{}, "compute": "azureml:cpu", "resubmit_on_failover": false,
		"identity":      m{"type": "user_identity"},
		"x_unknown_top": []any{int64(1), "two", m{"three": 3.5}},
		"inputs": m{
			"n": int64(3), "f": 0.5, "s": "text", "b": true, "null": nil,
			"data": m{"type": "uri_folder", "path": "azureml:d:1", "mode": "ro_mount", "optional": false, "x_in": "kept"},
			"lit":  m{"type": "integer", "value": int64(7), "default": int64(1), "min": int64(0)},
		},
		"outputs": m{
			"out":  m{"type": "uri_file", "mode": "upload", "path": "azureml://datastores/workspaceblobstore/paths/${{name}}/o.txt", "name": "asset", "version": "2", "early_available": true},
			"none": nil,
		},
		"settings": m{"default_compute": "azureml:cpu", "default_datastore": "azureml:workspaceblobstore", "continue_on_step_failure": true,
			"force_rerun": false, "on_init": "a", "default_environment": "azureml:env:1"},
		"jobs": m{
			"train": m{
				"type": "command", "compute": "", "component": m{
					"type": "command", "name": "train", "version": "3", "command": "python t.py ${{inputs.lr}}",
					"environment":         m{"image": "python:3.12", "conda_file": m{"dependencies": []any{"pip"}}},
					"inputs":              m{"lr": m{"type": "number", "default": 0.01, "optional": true, "enum": []any{0.01, 0.1}}},
					"outputs":             m{"model": m{"type": "mlflow_model", "is_control": false}},
					"additional_includes": []any{"../common"}, "is_deterministic": true,
				},
				"inputs":                m{"lr": "${{parent.inputs.f}}", "d": m{"type": "uri_folder", "path": "${{parent.jobs.prep.outputs.o}}"}},
				"outputs":               m{"model": "${{parent.outputs.out}}"},
				"services":              m{"vs": m{"type": "vs_code"}},
				"resources":             m{"instance_count": int64(1), "instance_type": "big", "shm_size": "2g", "docker_args": "--x"},
				"limits":                m{"timeout": int64(60)},
				"distribution":          m{"type": "pytorch", "process_count_per_instance": int64(2), "worker_count": int64(0), "x": "y"},
				"environment_variables": m{"A": "1"},
			},
			"prep": m{"type": "command", "command": "echo", "code": "./src", "environment": "azureml:env@latest",
				"outputs": m{"o": nil}, "queue_settings": m{"job_tier": "spot"}},
			"reg":   m{"type": "command", "component": "azureml:comp:4"},
			"local": m{"type": "command", "component": "file:./c.yml"},
			"tune": m{"type": "sweep", "trial": "./trial.yml", "limits": m{"max_total_trials": int64(4)},
				"objective": m{"goal": "minimize", "primary_metric": "loss"}},
		},
	}
}

func TestReadJobKeepsEverything(t *testing.T) {
	fields := fullPipeline()
	j := mustReadJob(t, fields)
	if got := j.Map(); !reflect.DeepEqual(got, fields) {
		t.Fatalf("Map changed the document:\n got %#v\nwant %#v", got, fields)
	}
	if !reflect.DeepEqual(fields, fullPipeline()) {
		t.Fatal("ReadJob changed its argument")
	}
	// Unmodeled keys, and modeled ones holding an empty value, are in Extra.
	wantExtra := []struct {
		extra map[string]any
		keys  []string
	}{
		{j.Extra, []string{"description", "identity", "resubmit_on_failover", "x_unknown_top"}},
		{j.Inputs["data"].Extra, []string{"optional", "x_in"}},
		{j.Inputs["lit"].Extra, []string{"min"}},
		{j.Outputs["out"].Extra, []string{"early_available"}},
		{j.Settings.Extra, []string{"force_rerun", "on_init"}},
		{j.Jobs["train"].Extra, []string{"compute", "services"}},
		{j.Jobs["train"].Component.Inline.Extra, []string{"additional_includes", "is_deterministic"}},
		{j.Jobs["train"].Component.Inline.Inputs["lr"].Extra, []string{"enum"}},
		{j.Jobs["train"].Component.Inline.Environment.Extra, []string{"conda_file"}},
		{j.Jobs["train"].Resources.Extra, []string{"docker_args"}},
		{j.Jobs["train"].Distribution.Extra, []string{"worker_count", "x"}},
		{j.Jobs["prep"].Extra, []string{"queue_settings"}},
		{j.Jobs["tune"].Extra, []string{"objective"}},
		{j.Jobs["tune"].Limits.Extra, []string{"max_total_trials"}},
	}
	for i, w := range wantExtra {
		if got := Names(w.extra); !reflect.DeepEqual(got, w.keys) {
			t.Errorf("extra %d: %v, want %v", i, got, w.keys)
		}
	}
	if j.Properties == nil || len(j.Properties) != 0 {
		t.Errorf("an empty properties mapping must read as empty, not absent: %#v", j.Properties)
	}
	// The typed document shares nothing with the map it was read from or
	// the maps it writes.
	fields["jobs"].(m)["train"].(m)["component"].(m)["inputs"].(m)["lr"].(m)["enum"].([]any)[0] = "changed"
	fields["x_unknown_top"].([]any)[2].(m)["three"] = "changed"
	out := j.Map()
	out["jobs"].(m)["train"].(m)["resources"].(m)["docker_args"] = "changed"
	if again := j.Map(); !reflect.DeepEqual(again, fullPipeline()) {
		t.Errorf("the typed document changed with the maps: %#v", again)
	}
}

func TestReadJobTyped(t *testing.T) {
	j := mustReadJob(t, fullPipeline())
	train := j.Jobs["train"]
	want := &Step{
		Type: "command",
		Component: &ComponentRef{Inline: &Component{
			Type: "command", Meta: Meta{Name: "train"}, Version: "3",
			CommandFields: CommandFields{Command: "python t.py ${{inputs.lr}}", Environment: &Environment{Image: "python:3.12",
				Extra: m{"conda_file": m{"dependencies": []any{"pip"}}}}},
			Inputs:  map[string]*Input{"lr": {Mapping: true, Type: "number", Default: 0.01, Optional: true, Extra: m{"enum": []any{0.01, 0.1}}}},
			Outputs: map[string]*Output{"model": {Mapping: true, Type: "mlflow_model", Extra: m{"is_control": false}}},
			Extra:   m{"additional_includes": []any{"../common"}, "is_deterministic": true},
		}},
		CommandFields: CommandFields{
			Environment:          nil,
			EnvironmentVariables: map[string]string{"A": "1"},
			Distribution:         &Distribution{Type: "pytorch", ProcessCountPerInstance: 2, Extra: m{"worker_count": int64(0), "x": "y"}},
			Resources:            &Resources{InstanceCount: 1, InstanceType: "big", ShmSize: "2g", Extra: m{"docker_args": "--x"}},
			Limits:               &Limits{Timeout: 60},
		},
		Inputs: map[string]*Input{"lr": {Literal: "${{parent.inputs.f}}"},
			"d": {Mapping: true, Type: "uri_folder", Path: "${{parent.jobs.prep.outputs.o}}"}},
		Outputs: map[string]*Output{"model": {Binding: "${{parent.outputs.out}}"}},
		Extra:   m{"compute": "", "services": m{"vs": m{"type": "vs_code"}}},
	}
	if !reflect.DeepEqual(train, want) {
		t.Errorf("train:\n got %#v\nwant %#v", train, want)
	}
	if c := j.Jobs["reg"].Component; c.Ref != "azureml:comp:4" || c.Path != "" || c.Inline != nil {
		t.Errorf("reg: %+v", c)
	}
	if c := j.Jobs["local"].Component; c.Path != "file:./c.yml" || c.Ref != "" {
		t.Errorf("local: %+v", c)
	}
	if c := j.Jobs["tune"].Runs(); c != j.Jobs["tune"].Trial || c.Path != "./trial.yml" {
		t.Errorf("tune runs %+v", c)
	}
	if in := j.Inputs["null"]; in == nil || in.Mapping || in.Literal != nil || in.Encode() != nil {
		t.Errorf("a null input: %+v", in)
	}
	if s := j.Settings; s.DefaultEnvironment == nil || s.DefaultEnvironment.Ref != "azureml:env:1" || !j.ContinueOnStepFailure() {
		t.Errorf("settings %+v", s)
	}
}

// TestReadJobJSON: a document and its JSON round trip (numbers float64, as
// in tandem.Job.Spec) read to the same typed job; the numbers are int64
// when whole.
func TestReadJobJSON(t *testing.T) {
	fields := fullPipeline()
	viaJSON := jsonRoundTrip(t, fields)
	if _, isFloat := viaJSON["inputs"].(m)["n"].(float64); !isFloat {
		t.Fatal("the JSON round trip does not make numbers float64")
	}
	a, b := mustReadJob(t, fields), mustReadJob(t, viaJSON)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("read after JSON differs:\n%#v\n%#v", a, b)
	}
	if b.Inputs["n"].Literal != int64(3) || b.Inputs["f"].Literal != 0.5 || b.Jobs["train"].Limits.Timeout != 60 {
		t.Errorf("numbers: %#v %#v %d", b.Inputs["n"].Literal, b.Inputs["f"].Literal, b.Jobs["train"].Limits.Timeout)
	}
	if b.Jobs["train"].Timeout() != time.Minute || b.Jobs["train"].InstanceCount() != 1 {
		t.Errorf("timeout %v, instances %d", b.Jobs["train"].Timeout(), b.Jobs["train"].InstanceCount())
	}
	if got, want := jsonText(t, b.Map()), jsonText(t, viaJSON); got != want {
		t.Errorf("Map after JSON:\n got %s\nwant %s", got, want)
	}
	// A document from Parse: Map gives Fields back exactly.
	d, err := spec.Parse([]byte(pipelineSchema+`type: pipeline
inputs:
  epochs: 20
  lr: 1.8
  name: time-based
jobs:
  a:
    command: echo ${{inputs.x}} > ${{outputs.o}}/f
    environment: azureml:e:1
    inputs:
      x: ${{parent.inputs.epochs}}
    outputs:
      o:
    limits:
      timeout: 600
`), "p.yml", spec.Options{NoFS: true})
	if err != nil {
		t.Fatal(err)
	}
	j := mustReadJob(t, d.Fields)
	if got := j.Map(); !reflect.DeepEqual(got, d.Fields) {
		t.Errorf("Map of a parsed document:\n got %#v\nwant %#v", got, d.Fields)
	}
	if j2 := mustReadJob(t, jsonRoundTrip(t, d.Fields)); !reflect.DeepEqual(j2, j) {
		t.Errorf("parsed document after JSON:\n%#v\n%#v", j2, j)
	}
}

// TestJobEdits makes the changes job code makes to a stored document:
// recording resolved inputs, pinning a component, setting the name.
func TestJobEdits(t *testing.T) {
	j := mustReadJob(t, fullPipeline())
	j.Name = "p2"
	j.Inputs["data"].Path, j.Inputs["data"].Type = "azureml:d:7", "uri_file"
	j.Jobs["reg"].Component = &ComponentRef{Ref: "azureml:comp:5"}
	j.Jobs["train"].Compute = "azureml:gpu"
	j.Outputs["none"] = &Output{Mapping: true, Type: "uri_folder"}
	delete(j.Jobs, "tune")

	want := fullPipeline()
	want["name"] = "p2"
	want["inputs"].(m)["data"].(m)["path"] = "azureml:d:7"
	want["inputs"].(m)["data"].(m)["type"] = "uri_file"
	want["jobs"].(m)["reg"].(m)["component"] = "azureml:comp:5"
	want["jobs"].(m)["train"].(m)["compute"] = "azureml:gpu"
	want["outputs"].(m)["none"] = m{"type": "uri_folder"}
	delete(want["jobs"].(m), "tune")
	if got := j.Map(); !reflect.DeepEqual(got, want) {
		t.Errorf("after edits:\n got %#v\nwant %#v", got, want)
	}
}

func TestComponentRefForms(t *testing.T) {
	for _, c := range []struct {
		v                any
		ref, path        string
		inline, resolves bool
	}{
		{v: "azureml:train:3", ref: "azureml:train:3", resolves: true},
		{v: "azureml:train@latest", ref: "azureml:train@latest", resolves: true},
		{v: "azureml://registries/azureml/components/train/versions/1", ref: "azureml://registries/azureml/components/train/versions/1", resolves: true},
		{v: "./train.yml", path: "./train.yml"},
		{v: "file:train.yml", path: "file:train.yml"},
		{v: "train:3", path: "train:3"}, // Parse reads a bare name:version as a file, as Azure does
		{v: m{"type": "command", "command": "ls"}, inline: true},
	} {
		j := mustReadJob(t, m{"jobs": m{"s": m{"component": c.v}}})
		cr := j.Jobs["s"].Component
		if cr.Ref != c.ref || cr.Path != c.path || (cr.Inline != nil) != c.inline {
			t.Errorf("%v: read as %+v", c.v, cr)
		}
		if _, ok := cr.Reference(); ok != c.resolves {
			t.Errorf("%v: Reference ok=%v", c.v, ok)
		}
		if got := cr.Encode(); !reflect.DeepEqual(got, c.v) {
			t.Errorf("%v: encoded as %#v", c.v, got)
		}
	}
}

func TestComponentRead(t *testing.T) {
	fields := m{"type": "pipeline", "name": "pc", "version": "1",
		"inputs":  m{"x": m{"type": "integer", "default": int64(2)}, "d": m{"type": "uri_folder", "optional": true, "mode": "download"}},
		"outputs": m{"o": m{"type": "uri_folder"}},
		"jobs":    m{"s": m{"type": "command", "component": "./c.yml", "inputs": m{"x": "${{parent.inputs.x}}"}, "outputs": m{"o": "${{parent.outputs.o}}"}}}}
	c, err := ReadComponent(fields)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "pipeline" || c.Inputs["x"].Default != int64(2) || !c.Inputs["d"].Optional || c.Inputs["d"].Mode != "download" ||
		c.Jobs["s"].Component.Path != "./c.yml" || c.Outputs["o"].Type != "uri_folder" {
		t.Errorf("component %#v", c)
	}
	if v, ok := c.Inputs["x"].LiteralValue(); !ok || v != int64(2) {
		t.Errorf("default %v %v", v, ok)
	}
	if got := c.Map(); !reflect.DeepEqual(got, fields) {
		t.Errorf("Map:\n got %#v\nwant %#v", got, fields)
	}
}

// A pipeline job that runs a pipeline component reads it into Component
// and writes it back as it was.
func TestReadJobComponent(t *testing.T) {
	inline := m{"type": "pipeline", "inputs": m{"x": m{"type": "integer", "default": int64(2)}},
		"jobs": m{"s": m{"type": "command", "command": "echo ${{inputs.x}}", "environment": "azureml:e:1",
			"inputs": m{"x": "${{parent.inputs.x}}"}}}}
	for _, c := range []any{inline, "azureml:pc:1", "./pipe.yml"} {
		fields := m{"type": "pipeline", "inputs": m{"x": int64(3)}, "component": c}
		j := mustReadJob(t, fields)
		if j.Component == nil || len(j.Jobs) != 0 || len(j.Extra) != 0 {
			t.Fatalf("%v: read as component %+v, jobs %v, extra %v", c, j.Component, j.Jobs, j.Extra)
		}
		if got := j.Map(); !reflect.DeepEqual(got, fields) {
			t.Fatalf("Map changed the document:\n got %#v\nwant %#v", got, fields)
		}
	}
}
