package jobdoc

// Writing typed documents back as normalized maps: Extra first, then each
// field that holds something (a typed field set anew wins over an empty
// value Extra kept for the same key).

// writer builds one mapping.
type writer map[string]any

func newWriter(extra map[string]any) writer {
	w := make(writer, len(extra)+8)
	for k, v := range extra {
		w[k] = normalizeValue(v)
	}
	return w
}

func (w writer) str(key, v string) {
	if v != "" {
		w[key] = v
	}
}

func (w writer) boolean(key string, v bool) {
	if v {
		w[key] = true
	}
}

func (w writer) integer(key string, v int64) {
	if v != 0 {
		w[key] = v
	}
}

func (w writer) value(key string, v any) {
	if v != nil {
		w[key] = normalizeValue(v)
	}
}

func (w writer) strMap(key string, m map[string]string) {
	if m == nil {
		return
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	w[key] = out
}

func (w writer) meta(m *Meta) {
	w.str("name", m.Name)
	w.str("display_name", m.DisplayName)
	w.str("description", m.Description)
	w.strMap("tags", m.Tags)
	w.strMap("properties", m.Properties)
}

func (w writer) command(c *CommandFields) {
	w.str("command", c.Command)
	w.str("code", c.Code)
	if c.Environment != nil {
		w["environment"] = c.Environment.Encode()
	}
	w.strMap("environment_variables", c.EnvironmentVariables)
	if d := c.Distribution; d != nil {
		m := newWriter(d.Extra)
		m.str("type", d.Type)
		m.integer("process_count_per_instance", d.ProcessCountPerInstance)
		m.integer("worker_count", d.WorkerCount)
		m.integer("parameter_server_count", d.ParameterServerCount)
		w["distribution"] = map[string]any(m)
	}
	if res := c.Resources; res != nil {
		m := newWriter(res.Extra)
		m.integer("instance_count", res.InstanceCount)
		m.str("instance_type", res.InstanceType)
		m.str("shm_size", res.ShmSize)
		w["resources"] = map[string]any(m)
	}
	if l := c.Limits; l != nil {
		m := newWriter(l.Extra)
		m.integer("timeout", l.Timeout)
		w["limits"] = map[string]any(m)
	}
}

func (w writer) io(inputs map[string]*Input, outputs map[string]*Output) {
	if inputs != nil {
		m := make(map[string]any, len(inputs))
		for k, in := range inputs {
			m[k] = in.Encode()
		}
		w["inputs"] = m
	}
	if outputs != nil {
		m := make(map[string]any, len(outputs))
		for k, o := range outputs {
			m[k] = o.Encode()
		}
		w["outputs"] = m
	}
}

func (w writer) settings(s *Settings) {
	if s == nil {
		return
	}
	m := newWriter(s.Extra)
	m.str("default_compute", s.DefaultCompute)
	m.str("default_datastore", s.DefaultDatastore)
	if s.DefaultEnvironment != nil {
		m["default_environment"] = s.DefaultEnvironment.Encode()
	}
	m.boolean("continue_on_step_failure", s.ContinueOnStepFailure)
	m.boolean("force_rerun", s.ForceRerun)
	w["settings"] = map[string]any(m)
}

func (w writer) steps(steps map[string]*Step) {
	if steps == nil {
		return
	}
	m := make(map[string]any, len(steps))
	for k, s := range steps {
		m[k] = s.Map()
	}
	w["jobs"] = m
}

// Map returns the job as a normalized document map, new and
// JSON-compatible.
func (j *Job) Map() map[string]any {
	w := newWriter(j.Extra)
	w.str("type", j.Type)
	w.meta(&j.Meta)
	w.str("experiment_name", j.ExperimentName)
	w.str("compute", j.Compute)
	w.boolean("resubmit_on_failover", j.ResubmitOnFailover)
	w.command(&j.CommandFields)
	w.io(j.Inputs, j.Outputs)
	w.settings(j.Settings)
	w.steps(j.Jobs)
	if j.Component != nil {
		w["component"] = j.Component.Encode()
	}
	return w
}

// Map returns the step as a normalized map.
func (s *Step) Map() map[string]any {
	w := newWriter(s.Extra)
	w.str("type", s.Type)
	w.meta(&s.Meta)
	w.str("experiment_name", s.ExperimentName)
	w.str("compute", s.Compute)
	if s.Component != nil {
		w["component"] = s.Component.Encode()
	}
	if s.Trial != nil {
		w["trial"] = s.Trial.Encode()
	}
	w.command(&s.CommandFields)
	w.io(s.Inputs, s.Outputs)
	w.settings(s.Settings)
	return w
}

// Map returns the component as a normalized map.
func (c *Component) Map() map[string]any {
	w := newWriter(c.Extra)
	w.str("type", c.Type)
	w.meta(&c.Meta)
	w.str("version", c.Version)
	w.command(&c.CommandFields)
	w.io(c.Inputs, c.Outputs)
	w.steps(c.Jobs)
	return w
}

// Encode returns the component as written in a step: the reference or
// path string, or the inline component's map.
func (c *ComponentRef) Encode() any {
	switch {
	case c.Inline != nil:
		return c.Inline.Map()
	case c.Ref != "":
		return c.Ref
	}
	return c.Path
}

// Encode returns the environment as written: its reference, or the inline
// environment's map.
func (e *Environment) Encode() any {
	if e.Ref != "" {
		return e.Ref
	}
	w := newWriter(e.Extra)
	w.str("image", e.Image)
	return map[string]any(w)
}

// Encode returns the input as written: its literal, its mapping, or nil.
func (in *Input) Encode() any {
	if in == nil {
		return nil
	}
	if !in.Mapping {
		return normalizeValue(in.Literal)
	}
	w := newWriter(in.Extra)
	w.str("type", in.Type)
	w.str("path", in.Path)
	w.str("mode", in.Mode)
	w.value("value", in.Value)
	w.value("default", in.Default)
	w.boolean("optional", in.Optional)
	w.str("description", in.Description)
	w.str("datastore", in.Datastore)
	w.str("path_on_compute", in.PathOnCompute)
	return map[string]any(w)
}

// Encode returns the output as written: its binding, its mapping, or nil.
func (o *Output) Encode() any {
	switch {
	case o == nil:
		return nil
	case o.Mapping:
	case o.Binding != "":
		return o.Binding
	default:
		return nil
	}
	w := newWriter(o.Extra)
	w.str("type", o.Type)
	w.str("mode", o.Mode)
	w.str("path", o.Path)
	w.str("name", o.Name)
	w.str("version", o.Version)
	w.str("description", o.Description)
	w.str("datastore", o.Datastore)
	w.str("path_on_compute", o.PathOnCompute)
	return map[string]any(w)
}
