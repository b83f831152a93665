// Package jobdoc reads job documents into types: command jobs, pipeline
// jobs, their steps, the components steps run, and the inputs and outputs
// of all of them.
//
// ReadJob and ReadComponent turn a normalized document
// (spec.Document.Fields, or the same map after a JSON round trip, as
// tandem.Job.Spec holds it) into these types; Map and Encode turn them
// back. Nothing is lost on the way: every key a type does not model is
// kept in its Extra, as written, and so is a modeled key whose value is
// empty (""), false, 0 or null, which the typed field reads as absent.
// Map(ReadJob(m)) encodes to the same JSON as m.
//
// Numbers are int64 when they are whole (within int64's range), float64
// otherwise, whether the map came from YAML (int64) or from JSON
// (float64): a document and its JSON round trip read to equal values.
//
// ReadJob checks shapes only (a string where a string belongs, a mapping
// where a mapping belongs), not the rules spec.Parse applies; a wrong
// shape is a *FieldError naming the field.
package jobdoc

import (
	"sort"
	"time"
)

// FieldError is a field of a document map that does not have the shape
// its type needs.
type FieldError struct {
	Field string // dotted path: jobs.train.inputs.lr.path; "" for the document itself
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Meta are the descriptive fields jobs, steps and components share.
type Meta struct {
	Name        string
	DisplayName string
	Description string
	Tags        map[string]string
	Properties  map[string]string
}

// CommandFields are what a command runs with: the fields a command job, a
// command step and a command component share (a component has no limits).
type CommandFields struct {
	Command              string
	Code                 string // a local path, an azureml:// URI or azureml:NAME:VERSION, as written
	Environment          *Environment
	EnvironmentVariables map[string]string
	Distribution         *Distribution
	Resources            *Resources
	Limits               *Limits
}

// Job is a job document: a command job (Command and the other
// CommandFields) or a pipeline job (Settings and Jobs). Other types
// (sweep, automl, ...) read too, their own fields kept in Extra.
type Job struct {
	Type string // command, pipeline, ...
	Meta
	ExperimentName string
	Compute        string // as written: azureml:NAME, NAME or local; see ComputeName
	// ResubmitOnFailover is Tandem's extension key resubmit_on_failover;
	// see Resubmits for the property form.
	ResubmitOnFailover bool
	CommandFields
	Inputs   map[string]*Input
	Outputs  map[string]*Output
	Settings *Settings        // a pipeline's settings
	Jobs     map[string]*Step // a pipeline's steps
	// Component is the pipeline component a pipeline job without Jobs
	// runs, its inputs and outputs bound to the job's.
	Component *ComponentRef
	Extra     map[string]any
}

// Step is one step (an entry of `jobs`) of a pipeline job or a pipeline
// component.
type Step struct {
	Type string // command, pipeline, sweep, automl, spark, parallel
	Meta
	ExperimentName string
	Compute        string
	Component      *ComponentRef // what the step runs; nil for a command step with its own command
	Trial          *ComponentRef // a sweep step's trial component
	CommandFields
	Inputs   map[string]*Input  // bindings
	Outputs  map[string]*Output // bindings
	Settings *Settings          // a pipeline step's settings
	Extra    map[string]any
}

// Component is a component document, registered or written inline in a
// step: a command component (CommandFields) or a pipeline component
// (Jobs). Inputs and Outputs declare the interface: each input's Type,
// Default, Optional and Mode; each output's Type and Mode.
type Component struct {
	Type string // command, pipeline (spark, parallel inside steps)
	Meta
	Version string
	CommandFields
	Inputs  map[string]*Input
	Outputs map[string]*Output
	Jobs    map[string]*Step // a pipeline component's steps
	Extra   map[string]any
}

// ComponentRef is the component of a step, in exactly one of three forms.
type ComponentRef struct {
	// Ref is a registered component: azureml:NAME:VERSION,
	// azureml:NAME@LABEL, azureml://registries/...
	Ref string
	// Path is a local YAML file, as written (./train.yml, file:train.yml);
	// spec.Parse inlines it unless Options.NoFS.
	Path string
	// Inline is a component written in the step (or read from Path).
	Inline *Component
}

// Environment is the environment of a command: a reference (Ref) or an
// inline environment (Ref empty: its Image, the rest of its fields in
// Extra: name, version, conda_file, build, ...).
type Environment struct {
	Ref   string
	Image string
	Extra map[string]any
}

// Input is an input of a job or a step (a value, or a binding), or an
// input declaration of a component.
//
// Written as a scalar, Literal holds it (string, bool, int64 or float64; a
// string may be a binding such as ${{parent.inputs.x}}, see Expr).
// Written as a mapping, Mapping is true and the other fields hold it.
// Neither (the zero Input) is an input written as null.
type Input struct {
	Literal any
	Mapping bool

	Type          string // uri_file, uri_folder, mltable, custom_model, ..., string, integer, number, boolean
	Path          string // data: a local path, a URI, azureml:NAME:VERSION, or a binding
	Mode          string // ro_mount, download, ...
	Value         any    // a literal (or a binding) given as a mapping
	Default       any    // a declaration's default
	Optional      bool
	Description   string
	Datastore     string
	PathOnCompute string
	Extra         map[string]any // min, max, enum, ...
}

// Output is an output of a job or a step, or an output declaration of a
// component. Written as a string, Binding holds it (${{parent.outputs.x}});
// written as a mapping, Mapping is true and the other fields hold it;
// neither (the zero Output) is an output written as null, which takes the
// defaults.
type Output struct {
	Binding string
	Mapping bool

	Type          string // uri_folder (the default when empty), uri_file, mltable, custom_model, ...
	Mode          string // rw_mount, upload, direct
	Path          string // azureml://datastores/..., may hold ${{name}}
	Name          string // register the output as this asset
	Version       string // ... of this version
	Description   string
	Datastore     string
	PathOnCompute string
	Extra         map[string]any // early_available, is_control, ...
}

// Settings are the settings of a pipeline job or a pipeline step.
type Settings struct {
	DefaultCompute        string
	DefaultDatastore      string
	DefaultEnvironment    *Environment
	ContinueOnStepFailure bool
	ForceRerun            bool
	Extra                 map[string]any // on_init, on_finalize, ...
}

// Resources are the resources a command asks for.
type Resources struct {
	InstanceCount int64
	InstanceType  string
	ShmSize       string
	Extra         map[string]any // docker_args, properties, locations, ...
}

// Limits are the limits of a command (a sweep step's limits keep theirs,
// max_total_trials and the rest, in Extra).
type Limits struct {
	Timeout int64 // seconds
	Extra   map[string]any
}

// Distribution is how a distributed command runs.
type Distribution struct {
	Type                    string // pytorch, mpi, tensorflow, ray
	ProcessCountPerInstance int64
	WorkerCount             int64
	ParameterServerCount    int64
	Extra                   map[string]any
}

// Names returns the keys of m, sorted: the inputs, outputs or steps of a
// document in a stable order.
func Names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Timeout is limits.timeout; 0 for none.
func (c *CommandFields) Timeout() time.Duration {
	if c.Limits == nil || c.Limits.Timeout <= 0 {
		return 0
	}
	return time.Duration(c.Limits.Timeout) * time.Second
}

// InstanceCount is resources.instance_count, 1 when not given.
func (c *CommandFields) InstanceCount() int64 {
	if c.Resources == nil || c.Resources.InstanceCount == 0 {
		return 1
	}
	return c.Resources.InstanceCount
}

// MergeCommandFields returns base with the fields over gives in their
// place, as a step's fields override its component's: each of command,
// code, environment, distribution, resources and limits that over has
// replaces base's; environment variables are merged, over's winning.
// Neither argument is changed; the result shares their nested values.
func MergeCommandFields(base, over CommandFields) CommandFields {
	out := base
	if over.Command != "" {
		out.Command = over.Command
	}
	if over.Code != "" {
		out.Code = over.Code
	}
	if over.Environment != nil {
		out.Environment = over.Environment
	}
	if over.Distribution != nil {
		out.Distribution = over.Distribution
	}
	if over.Resources != nil {
		out.Resources = over.Resources
	}
	if over.Limits != nil {
		out.Limits = over.Limits
	}
	if over.EnvironmentVariables != nil {
		merged := make(map[string]string, len(base.EnvironmentVariables)+len(over.EnvironmentVariables))
		for k, v := range base.EnvironmentVariables {
			merged[k] = v
		}
		for k, v := range over.EnvironmentVariables {
			merged[k] = v
		}
		out.EnvironmentVariables = merged
	}
	return out
}
