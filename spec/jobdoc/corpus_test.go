package jobdoc

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/internal/corpustest"
)

// ReadJob and ReadComponent on every job and component of Azure's corpus.

var jobSchemaRe = regexp.MustCompile(`(?m)^\s*\$schema:\s*\S*/(commandJob|pipelineJob|sweepJob|autoMLJob|commandComponent|pipelineComponent|sparkComponent)\.schema\.json`)

// jsonRoundTrip returns fields as tandem.Job.Spec holds them: through JSON,
// numbers float64.
func jsonRoundTrip(t testing.TB, fields map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonText(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// corpusDir is Azure's example YAML, kept beside the repository.
const corpusDir = "../../../shared/azureml-corpus"

// corpusRejected are the job and component files of the corpus (those
// with a job or component $schema) that spec.Load rejects today, each with
// a fragment of its problem: the two sweep jobs, the automl job and the
// spark component. A file that joins or leaves this list fails the tests
// that read the corpus.
func corpusRejected() map[string]string {
	return map[string]string{
		"jobs/basics/hello-automl/hello-automl-job-basic.yml": "type: automl jobs are not supported yet",
		"jobs/basics/hello-sweep.yml":                         "type: sweep jobs (hyperparameter tuning) are not supported yet",
		"jobs/pipelines-with-components/shakespear_sample_and_word_count_using_spark/sample_word/component.yml": "type: spark components are not supported yet",
		"jobs/single-step/lightgbm/iris/job-sweep.yml":                                                          "type: sweep jobs (hyperparameter tuning) are not supported yet",
	}
}

// corpusJobDocs loads every job and component document of the corpus that
// spec.Load accepts, by path relative to cli/, with opts; it checks that
// the others are exactly those of corpusRejected, rejected for the reason
// it gives.
func corpusJobDocs(t *testing.T, opts spec.Options) map[string]*spec.Document {
	dir := corpustest.Copy(t, corpusDir)
	want := corpusRejected()
	docs := map[string]*spec.Document{}
	for _, f := range corpustest.Files(t, dir) {
		path := filepath.Join(dir, filepath.FromSlash(f))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !jobSchemaRe.Match(data) {
			continue
		}
		d, err := spec.Load(path, opts)
		reason, rejected := want[f]
		delete(want, f)
		switch {
		case rejected && err == nil:
			t.Errorf("%s: loaded, but corpusRejected expects it rejected (%s)", f, reason)
		case rejected && !strings.Contains(err.Error(), reason):
			t.Errorf("%s: rejected with %v, want a problem containing %q", f, err, reason)
		case rejected:
		case err != nil:
			t.Errorf("%s: %v", f, err)
		default:
			docs[f] = d
		}
	}
	for f := range want {
		t.Errorf("%s: in corpusRejected but not a job or component file of the corpus", f)
	}
	return docs
}

func TestReadCorpus(t *testing.T) {
	docs := corpusJobDocs(t, spec.Options{})
	var jobs, pipelines, components int
	forms := map[string]int{}
	for f, d := range docs {
		switch d.Kind {
		case spec.KindJob:
			jobs++
			j, err := ReadJob(d.Fields)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if j.Type == "pipeline" {
				pipelines++
				componentForms(j, forms)
			}
			checkCorpusJob(t, f, d, j)
		case spec.KindComponent:
			components++
			c, err := ReadComponent(d.Fields)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			checkCorpusComponent(t, f, d, c)
		default:
			t.Errorf("%s: a %s, not a job or a component", f, d.Kind)
		}
	}
	// Azure's corpus has (at least) 25 jobs, 14 of them pipelines, and 22
	// components that Tandem reads: a walk that finds fewer has lost files.
	if jobs < 25 || pipelines < 14 || components < 22 {
		t.Errorf("read %d jobs (%d pipelines) and %d components, want at least 25 (14) and 22", jobs, pipelines, components)
	}
	// Read from files, local components are inline: 13 steps run one, 3 a
	// registered one, 18 their own command (or automl, spark, parallel
	// settings).
	if forms["path"] != 0 || forms["inline"] < 13 || forms["ref"] < 3 || forms["own"] < 18 {
		t.Errorf("steps by component form: %v, want no path, at least 13 inline, 3 ref and 18 own", forms)
	}
}

// checkCorpusJob checks a job read from the corpus against its fields.
func checkCorpusJob(t *testing.T, f string, d *spec.Document, j *Job) {
	t.Helper()
	if j.Type != d.Type || j.Name != d.Name || j.Description != d.Description {
		t.Errorf("%s: type %q name %q description %q, want %q %q %q", f, j.Type, j.Name, j.Description, d.Type, d.Name, d.Description)
	}
	if got, want := jsonText(t, j.Map()), jsonText(t, d.Fields); got != want {
		t.Errorf("%s: Map does not give the fields back:\n got %s\nwant %s", f, got, want)
	}
	back, err := ReadJob(jsonRoundTrip(t, d.Fields))
	if err != nil {
		t.Fatalf("%s: after JSON: %v", f, err)
	}
	if !reflect.DeepEqual(back, j) {
		t.Errorf("%s: read after a JSON round trip:\n%#v\nwant\n%#v", f, back, j)
	}
	raw, _ := d.Fields["inputs"].(map[string]any)
	checkInputsAsWritten(t, f, raw, j.Inputs)
	if j.Type == "command" && j.Environment == nil {
		t.Errorf("%s: a command job without an environment", f)
	}
	if j.Type != "pipeline" {
		return
	}
	if len(j.Jobs) == 0 || len(j.Jobs) != len(d.Fields["jobs"].(map[string]any)) {
		t.Errorf("%s: %d steps, want those of the fields", f, len(j.Jobs))
	}
	for _, name := range j.StepNames() {
		checkCorpusStep(t, f+": step "+name, j, name)
	}
}

// checkInputsAsWritten: each input is read in the shape it is written in,
// with its type and path as written.
func checkInputsAsWritten(t *testing.T, where string, raw map[string]any, inputs map[string]*Input) {
	t.Helper()
	if len(raw) != len(inputs) {
		t.Errorf("%s: %d inputs, want %d", where, len(inputs), len(raw))
	}
	for name, v := range raw {
		in := inputs[name]
		switch x := v.(type) {
		case map[string]any:
			typ, _ := x["type"].(string)
			path, _ := x["path"].(string)
			if !in.Mapping || in.Type != typ || in.Path != path || in.IsData() != (path != "") {
				t.Errorf("%s: input %s read as %+v, want a mapping of type %q, path %q", where, name, in, typ, path)
			}
		case nil:
			if in.Mapping || in.Literal != nil {
				t.Errorf("%s: input %s read as %+v, want null", where, name, in)
			}
		default:
			if in.Mapping || !reflect.DeepEqual(in.Literal, normalizeValue(x)) {
				t.Errorf("%s: input %s read as %+v, want the literal %#v", where, name, in, x)
			}
		}
	}
}

// checkCorpusStep: the step runs a component in one of the three forms (or
// has its own command), and its bindings name the pipeline's inputs and
// outputs and the outputs of other steps, which Deps lists.
func checkCorpusStep(t *testing.T, where string, j *Job, name string) {
	t.Helper()
	s := j.Jobs[name]
	switch c := s.Runs(); {
	case c == nil:
		if s.Command == "" && s.Type != "automl" && s.Extra["entry"] == nil && s.Extra["task"] == nil {
			t.Errorf("%s: no component, no command", where)
		}
	default:
		forms := 0
		for _, set := range []bool{c.Ref != "", c.Path != "", c.Inline != nil} {
			if set {
				forms++
			}
		}
		if forms != 1 {
			t.Errorf("%s: component %+v is in %d forms, want one", where, c, forms)
		}
		if _, ok := c.Reference(); c.Ref != "" && !ok {
			t.Errorf("%s: component reference %q does not parse", where, c.Ref)
		}
		if c.Inline != nil && c.Inline.Type != s.Type && s.Type != "sweep" {
			t.Errorf("%s: a %s step runs a %s component", where, s.Type, c.Inline.Type)
		}
	}
	deps := map[string]bool{}
	for in, v := range s.Inputs {
		e, ok := v.Expr()
		s, isStr := v.Literal.(string)
		if isStr && strings.Contains(s, "${{") && !ok {
			t.Errorf("%s: input %s: binding %q does not parse", where, in, s)
		}
		switch {
		case !ok:
		case e.Kind == ExprParentInput:
			if j.Inputs[e.Name] == nil {
				t.Errorf("%s: input %s binds pipeline input %q, which is not read", where, in, e.Name)
			}
		case e.Kind == ExprStepOutput:
			deps[e.Step] = true
			if j.Jobs[e.Step] == nil || e.Step == name {
				t.Errorf("%s: input %s binds an output of step %q", where, in, e.Step)
			}
			checkStepHasOutput(t, where, j.Jobs[e.Step], e.Name)
		default:
			t.Errorf("%s: input %s: a binding of kind %d", where, in, e.Kind)
		}
	}
	if got, want := s.Deps(), Names(deps); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: Deps %v, want %v", where, got, want)
	}
	for o, v := range s.Outputs {
		if v.Binding == "" {
			continue
		}
		if e, ok := v.Expr(); !ok || e.Kind != ExprParentOutput || j.Outputs[e.Name] == nil {
			t.Errorf("%s: output %s: binding %q is not to an output of the pipeline", where, o, v.Binding)
		}
	}
}

// checkStepHasOutput: a step whose component is known here has the output
// another step binds.
func checkStepHasOutput(t *testing.T, where string, s *Step, output string) {
	t.Helper()
	if s == nil {
		return
	}
	if _, ok := s.Outputs[output]; ok {
		return
	}
	if c := s.Runs(); c != nil && c.Inline != nil {
		if _, ok := c.Inline.Outputs[output]; ok {
			return
		}
	}
	if c := s.Runs(); c == nil || c.Inline != nil {
		t.Errorf("%s: binds output %q, which the step does not have", where, output)
	}
}

func checkCorpusComponent(t *testing.T, f string, d *spec.Document, c *Component) {
	t.Helper()
	if c.Type != d.Type || c.Name != d.Name || c.Version != d.Version {
		t.Errorf("%s: type %q name %q version %q, want %q %q %q", f, c.Type, c.Name, c.Version, d.Type, d.Name, d.Version)
	}
	if got, want := jsonText(t, c.Map()), jsonText(t, d.Fields); got != want {
		t.Errorf("%s: Map does not give the fields back:\n got %s\nwant %s", f, got, want)
	}
	back, err := ReadComponent(jsonRoundTrip(t, d.Fields))
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("%s: read after a JSON round trip: %v\n%#v\nwant\n%#v", f, err, back, c)
	}
	raw, _ := d.Fields["inputs"].(map[string]any)
	checkInputsAsWritten(t, f, raw, c.Inputs)
	for name, in := range c.Inputs {
		// A declaration always has a type; only primitive inputs a default.
		if in.Type == "" || (in.Default != nil && !isPrimitive(in.Type)) {
			t.Errorf("%s: input %s declared as %+v", f, name, in)
		}
	}
	switch c.Type {
	case "command":
		if c.Command == "" || c.Environment == nil || c.Jobs != nil {
			t.Errorf("%s: a command component read without command or environment, or with steps", f)
		}
	case "pipeline":
		if len(c.Jobs) == 0 || c.Command != "" {
			t.Errorf("%s: a pipeline component read without steps", f)
		}
	}
}

// componentForms counts the steps of j by the form of what they run.
func componentForms(j *Job, forms map[string]int) {
	for _, s := range j.Jobs {
		switch c := s.Runs(); {
		case c == nil:
			forms["own"]++
		case c.Path != "":
			forms["path"]++
		case c.Ref != "":
			forms["ref"]++
		case c.Inline != nil:
			forms["inline"]++
		}
	}
}

// TestReadCorpusNoFS reads the pipelines as the server does (NoFS): local
// components stay paths, which Parse otherwise reads in.
func TestReadCorpusNoFS(t *testing.T) {
	docs := corpusJobDocs(t, spec.Options{NoFS: true})
	forms := map[string]int{}
	for f, d := range docs {
		if d.Kind != spec.KindJob || d.Type != "pipeline" {
			continue
		}
		j, err := ReadJob(d.Fields)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		componentForms(j, forms)
		for _, name := range j.StepNames() {
			if c := j.Jobs[name].Runs(); c != nil && c.Path != "" && !strings.HasSuffix(c.Path, ".yml") && !strings.HasSuffix(c.Path, ".yaml") {
				t.Errorf("%s: step %s: path %q is not a YAML file", f, name, c.Path)
			}
		}
		if got, want := jsonText(t, j.Map()), jsonText(t, d.Fields); got != want {
			t.Errorf("%s: Map does not give the fields back:\n got %s\nwant %s", f, got, want)
		}
	}
	// The 13 steps that run a local component file keep its path.
	if forms["inline"] != 0 || forms["path"] < 13 || forms["ref"] < 3 || forms["own"] < 18 {
		t.Errorf("steps by component form: %v, want no inline, at least 13 path, 3 ref and 18 own", forms)
	}
}

// TestReadCorpusExamples checks what a few corpus files read to, field by
// field.
func TestReadCorpusExamples(t *testing.T) {
	docs := corpusJobDocs(t, spec.Options{})
	for _, c := range []struct {
		file  string
		check func(t *testing.T, j *Job)
	}{
		{"jobs/basics/hello-pipeline-abc.yml", exampleABC},
		{"jobs/pipelines-with-components/basics/1a_e2e_local_components/pipeline.yml", exampleLocalComponents},
		{"jobs/pipelines-with-components/basics/1b_e2e_registered_components/pipeline.yml", exampleRegisteredComponents},
		{"jobs/pipelines-with-components/pipeline_with_hyperparameter_sweep/pipeline.yml", exampleSweep},
		{"jobs/basics/hello-pipeline-customize-output-file.yml", exampleOutputFile},
		{"jobs/single-step/tensorflow/mnist-distributed/job.yml", exampleDistributed},
		{"jobs/basics/hello-iris-literal.yml", exampleInputNamedType},
		{"jobs/basics/hello-model-as-output.yml", exampleModels},
	} {
		t.Run(c.file, func(t *testing.T) {
			d := docs[c.file]
			if d == nil {
				t.Fatalf("%s: not loaded", c.file)
			}
			j, err := ReadJob(d.Fields)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, j)
		})
	}
}

func exampleABC(t *testing.T, j *Job) {
	if got := j.StepNames(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("steps %v", got)
	}
	if e, ok := j.Jobs["a"].Inputs["hello_string"].Expr(); !ok || e.Kind != ExprParentInput || e.Name != "hello_string_top_level_input" {
		t.Errorf("a.inputs.hello_string: %+v %v", e, ok)
	}
	if e, ok := j.Jobs["c"].Inputs["world_input"].Expr(); !ok || e.Kind != ExprStepOutput || e.Step != "b" || e.Name != "world_output" {
		t.Errorf("c.inputs.world_input: %+v %v", e, ok)
	}
	if got := j.Jobs["c"].Deps(); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("c depends on %v", got)
	}
	if len(j.Jobs["a"].Deps()) != 0 || len(j.Jobs["b"].Deps()) != 0 {
		t.Errorf("a or b depends on a step")
	}
	if o, ok := j.Jobs["b"].Outputs["world_output"]; !ok || o.Mapping || o.Binding != "" || o.Encode() != nil {
		t.Errorf("b.outputs.world_output %+v, want declared with nothing", o)
	}
	if j.Settings.DefaultCompute != "azureml:cpu-cluster" || j.StepCompute("a") != "cpu-cluster" {
		t.Errorf("default compute %q, step compute %q", j.Settings.DefaultCompute, j.StepCompute("a"))
	}
	if v, ok := j.Inputs["hello_string_top_level_input"].LiteralValue(); !ok || v != "hello world" {
		t.Errorf("pipeline input %v %v", v, ok)
	}
	env := j.Jobs["a"].Environment
	if r, ok := env.Reference(); !ok || r.Registry != "azureml" || r.Name != "sklearn-1.5" || r.Label != "latest" {
		t.Errorf("environment %+v: %+v %v", env, r, ok)
	}
}

func exampleLocalComponents(t *testing.T, j *Job) {
	if lit := j.Inputs["pipeline_job_training_max_epocs"].Literal; lit != int64(20) {
		t.Errorf("max_epocs %#v", lit)
	}
	if lit := j.Inputs["pipeline_job_training_learning_rate"].Literal; lit != 1.8 {
		t.Errorf("learning_rate %#v", lit)
	}
	if o := j.Outputs["pipeline_job_trained_model"]; !o.Mapping || o.Mode != "upload" || o.Type != "" {
		t.Errorf("pipeline output %+v", o)
	}
	train := j.Jobs["train_job"]
	comp := train.Component.Inline
	if comp == nil || comp.Type != "command" || comp.Name != "train" || comp.Version != "10" {
		t.Fatalf("train_job component %+v", train.Component)
	}
	if in := comp.Inputs["learning_rate"]; in.Type != "number" || in.Default != 0.01 || in.Optional {
		t.Errorf("declared learning_rate %+v", in)
	}
	if in := comp.Inputs["learning_rate_schedule"]; in.Type != "string" || in.Default != "time-based" {
		t.Errorf("declared learning_rate_schedule %+v", in)
	}
	if o := comp.Outputs["model_output"]; o.Type != "uri_folder" {
		t.Errorf("declared model_output %+v", o)
	}
	if in := train.Inputs["training_data"]; !in.IsData() || in.Type != "uri_folder" || in.Path != "./data" {
		t.Errorf("training_data %+v", in)
	}
	if e, ok := train.Outputs["model_output"].Expr(); !ok || e.Kind != ExprParentOutput || e.Name != "pipeline_job_trained_model" {
		t.Errorf("train_job.outputs.model_output %+v", e)
	}
	if got := j.Jobs["score_job"].Deps(); !reflect.DeepEqual(got, []string{"train_job"}) {
		t.Errorf("score_job depends on %v", got)
	}
	if got := j.Jobs["evaluate_job"].Deps(); !reflect.DeepEqual(got, []string{"score_job"}) {
		t.Errorf("evaluate_job depends on %v", got)
	}
	if j.StepCompute("train_job") != "cpu-cluster" {
		t.Errorf("train_job compute %q", j.StepCompute("train_job"))
	}
}

func exampleRegisteredComponents(t *testing.T, j *Job) {
	c := j.Jobs["train_job"].Component
	if r, ok := c.Reference(); c.Ref != "azureml:my_train@latest" || !ok || r.Name != "my_train" || r.Label != "latest" || r.Kind != spec.KindComponent {
		t.Errorf("train_job component %+v: %+v", c, r)
	}
	svc, _ := j.Jobs["train_job"].Extra["services"].(map[string]any)
	if len(svc) != 3 {
		t.Errorf("services not kept in Extra: %v", j.Jobs["train_job"].Extra)
	}
}

func exampleSweep(t *testing.T, j *Job) {
	sw := j.Jobs["sweep_step"]
	if sw.Type != "sweep" || sw.Trial == nil || sw.Trial.Inline == nil || sw.Component != nil || sw.Runs() != sw.Trial {
		t.Fatalf("sweep step %+v", sw)
	}
	if sw.Limits.Timeout != 7200 || sw.Limits.Extra["max_total_trials"] != int64(5) || sw.Timeout().Hours() != 2 {
		t.Errorf("sweep limits %+v", sw.Limits)
	}
	for name, want := range map[string]any{"degree": int64(3), "gamma": "scale", "shrinking": false, "tol": 0.001, "max_iter": int64(-1)} {
		if got := sw.Inputs[name].Literal; got != want {
			t.Errorf("sweep input %s: %#v, want %#v", name, got, want)
		}
	}
	if _, ok := sw.Extra["search_space"].(map[string]any); !ok {
		t.Errorf("search_space not kept: %v", sw.Extra)
	}
	if got := j.Jobs["predict_step"].Deps(); !reflect.DeepEqual(got, []string{"sweep_step"}) {
		t.Errorf("predict_step depends on %v", got)
	}
}

func exampleOutputFile(t *testing.T, j *Job) {
	o := j.Outputs["output"]
	if o.Type != "uri_file" || o.Mode != "rw_mount" || o.Path != "azureml://datastores/workspaceblobstore/paths/${{name}}/hello_world.txt" {
		t.Errorf("output %+v", o)
	}
	got := ReplaceExprs(o.Path, func(e Expr) (string, bool) { return "pipe1", e.Kind == ExprName })
	if got != "azureml://datastores/workspaceblobstore/paths/pipe1/hello_world.txt" {
		t.Errorf("path with the name: %s", got)
	}
	if j.StepCompute("hello_world") != "cpu-cluster" {
		t.Errorf("step compute %q", j.StepCompute("hello_world"))
	}
}

func exampleDistributed(t *testing.T, j *Job) {
	if j.InstanceCount() != 2 || j.Distribution.Type != "tensorflow" || j.Distribution.WorkerCount != 2 || ComputeName(j.Compute) != "gpu-cluster" {
		t.Errorf("resources %+v distribution %+v compute %q", j.Resources, j.Distribution, j.Compute)
	}
	if r, ok := j.Environment.Reference(); !ok || r.Name != "AzureML-tensorflow-2.16-cuda12" || r.Label != "latest" || r.Kind != spec.KindEnvironment {
		t.Errorf("environment %+v", r)
	}
	if cmd, err := j.SubstituteInputs(); err != nil || cmd != "python train.py --epochs 1 --model-dir outputs/keras-model" {
		t.Errorf("command %q %v", cmd, err)
	}
	if j.ExperimentName != "tensorflow-mnist-distributed-example" || j.DisplayName != j.ExperimentName {
		t.Errorf("experiment %q display name %q", j.ExperimentName, j.DisplayName)
	}
}

// exampleInputNamedType: an input may be called type.
func exampleInputNamedType(t *testing.T, j *Job) {
	if in := j.Inputs["type"]; in.Literal != "uri_file" || in.Mapping {
		t.Errorf("an input named type: %+v", in)
	}
	if in := j.Inputs["iris_csv"]; in.Literal != "https://azuremlexamples.blob.core.windows.net/datasets/iris.csv" {
		t.Errorf("iris_csv %+v", in)
	}
}

func exampleModels(t *testing.T, j *Job) {
	if in := j.Inputs["input_model"]; !in.IsData() || in.Type != "mlflow_model" {
		t.Errorf("input_model %+v", in)
	}
	if o := j.Outputs["output_folder"]; o.Type != "custom_model" || !o.Mapping {
		t.Errorf("output_folder %+v", o)
	}
	if got := j.OutputNames(); !reflect.DeepEqual(got, []string{"output_folder"}) {
		t.Errorf("output names %v", got)
	}
	if cmd, err := j.SubstituteInputs(); err != nil || !strings.Contains(cmd, "--input_model ${{inputs.input_model}}") {
		t.Errorf("a data input must stay for the run: %q %v", cmd, err)
	}
}

// isPrimitive reports whether t is a primitive input type, which alone may
// have a default.
func isPrimitive(t string) bool {
	switch t {
	case "string", "integer", "number", "boolean":
		return true
	}
	return false
}
