package jobdoc

import (
	"fmt"
	"math"

	"github.com/tandemml/tandem/spec"
)

// ReadJob reads a normalized job document (spec.Document.Fields of a job, or
// tandem.Job.Spec) into a Job. The map is not changed and the Job shares
// nothing with it. A value of the wrong shape is a *FieldError.
func ReadJob(fields map[string]any) (*Job, error) {
	st := &readState{}
	j := readJob(newReader(st, "", fields))
	if st.err != nil {
		return nil, st.err
	}
	return j, nil
}

// ReadComponent reads a normalized component document (spec.Document.Fields of
// a component, a registered component's stored spec, or a step's inline
// component) into a Component.
func ReadComponent(fields map[string]any) (*Component, error) {
	st := &readState{}
	c := readComponent(newReader(st, "", fields))
	if st.err != nil {
		return nil, st.err
	}
	return c, nil
}

// readState holds the first shape error of one read.
type readState struct{ err *FieldError }

// reader takes the fields of one mapping; what it does not take is Extra.
type reader struct {
	st   *readState
	path string
	rest map[string]any
}

func newReader(st *readState, path string, m map[string]any) *reader {
	rest := make(map[string]any, len(m))
	for k, v := range m {
		rest[k] = v
	}
	return &reader{st: st, path: path, rest: rest}
}

func (r *reader) field(key string) string { return join(r.path, key) }

func (r *reader) fail(field, format string, args ...any) {
	if r.st.err == nil {
		r.st.err = &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
}

// get returns the value of key when it is there and not null.
func (r *reader) get(key string) (any, bool) {
	v, ok := r.rest[key]
	return v, ok && v != nil
}

// str takes a string field; an empty string stays in Extra.
func (r *reader) str(key string) string {
	v, ok := r.get(key)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(r.field(key), "must be a string, not %s", describeValue(v))
		return ""
	}
	if s != "" {
		delete(r.rest, key)
	}
	return s
}

// boolean takes a boolean field; false stays in Extra.
func (r *reader) boolean(key string) bool {
	v, ok := r.get(key)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		r.fail(r.field(key), "must be true or false, not %s", describeValue(v))
		return false
	}
	if b {
		delete(r.rest, key)
	}
	return b
}

// integer takes a whole-number field (int64 from YAML, float64 from JSON);
// 0 stays in Extra.
func (r *reader) integer(key string) int64 {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	n, isInt := normalizeValue(v).(int64)
	if !isInt {
		r.fail(r.field(key), "must be a whole number, not %s", describeValue(v))
		return 0
	}
	if n != 0 {
		delete(r.rest, key)
	}
	return n
}

// value takes a field of any shape, copied.
func (r *reader) value(key string) any {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	delete(r.rest, key)
	return normalizeValue(v)
}

// strMap takes a mapping of strings (tags, properties, environment
// variables).
func (r *reader) strMap(key string) map[string]string {
	m, ok := r.mapping(key)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for _, k := range Names(m) {
		s, isStr := m[k].(string)
		if !isStr {
			r.fail(join(r.field(key), k), "must be a string, not %s", describeValue(m[k]))
			return nil
		}
		out[k] = s
	}
	return out
}

// mapping takes a field that must be a mapping. ok is false when the
// field is absent, null or of another shape (reported).
func (r *reader) mapping(key string) (map[string]any, bool) {
	v, ok := r.get(key)
	if !ok {
		return nil, false
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		r.fail(r.field(key), "must be a mapping, not %s", describeValue(v))
		return nil, false
	}
	delete(r.rest, key)
	return m, true
}

// sub returns a reader of the mapping under key, or nil.
func (r *reader) sub(key string) *reader {
	m, ok := r.mapping(key)
	if !ok {
		return nil
	}
	return newReader(r.st, r.field(key), m)
}

// extra is what was not taken, copied; nil when nothing is left.
func (r *reader) extra() map[string]any {
	if len(r.rest) == 0 {
		return nil
	}
	out, _ := normalizeValue(r.rest).(map[string]any)
	return out
}

func readJob(r *reader) *Job {
	j := &Job{Type: r.str("type")}
	r.meta(&j.Meta)
	j.ExperimentName = r.str("experiment_name")
	j.Compute = r.str("compute")
	j.ResubmitOnFailover = r.boolean("resubmit_on_failover")
	r.command(&j.CommandFields)
	j.Inputs = r.inputs("inputs")
	j.Outputs = r.outputs("outputs")
	j.Settings = r.settings("settings")
	j.Jobs = r.steps("jobs")
	j.Component = r.componentRef("component")
	j.Extra = r.extra()
	return j
}

func readStep(r *reader) *Step {
	s := &Step{Type: r.str("type")}
	r.meta(&s.Meta)
	s.ExperimentName = r.str("experiment_name")
	s.Compute = r.str("compute")
	s.Component = r.componentRef("component")
	s.Trial = r.componentRef("trial")
	r.command(&s.CommandFields)
	s.Inputs = r.inputs("inputs")
	s.Outputs = r.outputs("outputs")
	s.Settings = r.settings("settings")
	s.Extra = r.extra()
	return s
}

func readComponent(r *reader) *Component {
	c := &Component{Type: r.str("type")}
	r.meta(&c.Meta)
	c.Version = r.str("version")
	r.command(&c.CommandFields)
	c.Inputs = r.inputs("inputs")
	c.Outputs = r.outputs("outputs")
	c.Jobs = r.steps("jobs")
	c.Extra = r.extra()
	return c
}

func (r *reader) meta(m *Meta) {
	m.Name = r.str("name")
	m.DisplayName = r.str("display_name")
	m.Description = r.str("description")
	m.Tags = r.strMap("tags")
	m.Properties = r.strMap("properties")
}

func (r *reader) command(c *CommandFields) {
	c.Command = r.str("command")
	c.Code = r.str("code")
	c.Environment = r.environment("environment")
	c.EnvironmentVariables = r.strMap("environment_variables")
	if d := r.sub("distribution"); d != nil {
		c.Distribution = &Distribution{Type: d.str("type"), ProcessCountPerInstance: d.integer("process_count_per_instance"),
			WorkerCount: d.integer("worker_count"), ParameterServerCount: d.integer("parameter_server_count")}
		c.Distribution.Extra = d.extra()
	}
	if s := r.sub("resources"); s != nil {
		c.Resources = &Resources{InstanceCount: s.integer("instance_count"), InstanceType: s.str("instance_type"), ShmSize: s.str("shm_size")}
		c.Resources.Extra = s.extra()
	}
	if s := r.sub("limits"); s != nil {
		c.Limits = &Limits{Timeout: s.integer("timeout")}
		c.Limits.Extra = s.extra()
	}
}

func (r *reader) settings(key string) *Settings {
	s := r.sub(key)
	if s == nil {
		return nil
	}
	out := &Settings{DefaultCompute: s.str("default_compute"), DefaultDatastore: s.str("default_datastore"),
		DefaultEnvironment: s.environment("default_environment"), ContinueOnStepFailure: s.boolean("continue_on_step_failure"),
		ForceRerun: s.boolean("force_rerun")}
	out.Extra = s.extra()
	return out
}

// environment takes an environment: a reference or an inline mapping.
func (r *reader) environment(key string) *Environment {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		if s := r.str(key); s != "" {
			return &Environment{Ref: s}
		}
		return nil
	case map[string]any:
		s := r.sub(key)
		env := &Environment{Image: s.str("image")}
		env.Extra = s.extra()
		return env
	default:
		r.fail(r.field(key), "must be an environment (azureml:NAME:VERSION or a mapping), not %s", describeValue(x))
		return nil
	}
}

// componentRef takes a step's component (or trial) in one of its three
// forms.
func (r *reader) componentRef(key string) *ComponentRef {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case string:
		s := r.str(key)
		switch {
		case s == "":
			return nil
		case spec.IsRefString(s):
			return &ComponentRef{Ref: s}
		}
		return &ComponentRef{Path: s}
	case map[string]any:
		return &ComponentRef{Inline: readComponent(r.sub(key))}
	default:
		r.fail(r.field(key), "must be a component (azureml:NAME:VERSION, a path or a mapping), not %s", describeValue(x))
		return nil
	}
}

// steps takes the `jobs` mapping of a pipeline.
func (r *reader) steps(key string) map[string]*Step {
	s := r.sub(key)
	if s == nil {
		return nil
	}
	out := make(map[string]*Step, len(s.rest))
	for _, name := range Names(s.rest) {
		if _, isMap := s.rest[name].(map[string]any); !isMap {
			r.fail(s.field(name), "must be a mapping (a step), not %s", describeValue(s.rest[name]))
			return nil
		}
		out[name] = readStep(s.sub(name))
	}
	return out
}

// inputs takes a mapping of inputs.
func (r *reader) inputs(key string) map[string]*Input {
	s := r.sub(key)
	if s == nil {
		return nil
	}
	out := make(map[string]*Input, len(s.rest))
	for _, name := range Names(s.rest) {
		out[name] = s.input(name)
	}
	return out
}

func (r *reader) input(key string) *Input {
	switch x := r.rest[key].(type) {
	case nil:
		return &Input{}
	case string, bool, int, int32, int64, float32, float64:
		return &Input{Literal: normalizeValue(x)}
	case map[string]any:
		s := r.sub(key)
		in := &Input{Mapping: true, Type: spec.LegacyInputType(s.str("type")), Path: s.str("path"), Mode: s.str("mode"),
			Value: s.value("value"), Default: s.value("default"), Optional: s.boolean("optional"),
			Description: s.str("description"), Datastore: s.str("datastore"), PathOnCompute: s.str("path_on_compute")}
		in.Extra = s.extra()
		return in
	default:
		r.fail(r.field(key), "must be a value or a mapping with type and path, not %s", describeValue(x))
		return &Input{}
	}
}

// outputs takes a mapping of outputs.
func (r *reader) outputs(key string) map[string]*Output {
	s := r.sub(key)
	if s == nil {
		return nil
	}
	out := make(map[string]*Output, len(s.rest))
	for _, name := range Names(s.rest) {
		out[name] = s.output(name)
	}
	return out
}

func (r *reader) output(key string) *Output {
	switch x := r.rest[key].(type) {
	case nil:
		return &Output{}
	case string:
		return &Output{Binding: x}
	case map[string]any:
		s := r.sub(key)
		o := &Output{Mapping: true, Type: s.str("type"), Mode: s.str("mode"), Path: s.str("path"),
			Name: s.str("name"), Version: s.str("version"), Description: s.str("description"),
			Datastore: s.str("datastore"), PathOnCompute: s.str("path_on_compute")}
		o.Extra = s.extra()
		return o
	default:
		r.fail(r.field(key), "must be nothing, a binding or a mapping with type, mode and path, not %s", describeValue(x))
		return &Output{}
	}
}

// join appends key to a dotted field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// normalizeValue returns a deep copy of a JSON-compatible value with
// numbers made int64 when whole and float64 otherwise.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return normalizeValue(float64(x))
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 && !(x == 0 && math.Signbit(x)) {
			return int64(x)
		}
		return x
	}
	return v
}

// describeValue names the shape of a value for a message.
func describeValue(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int32, int64, float32, float64:
		return "a number"
	case map[string]any, map[string]string:
		return "a mapping"
	case []any, []string:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}
