package jobdoc

import (
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem/spec"
)

// What job code asks of typed documents.

// ResubmitKey is Tandem's extension key: resubmit the job in the new
// primary after a failover.
const ResubmitKey = "resubmit_on_failover"

// Resubmits reports whether the job asks to be resubmitted after a
// failover: `resubmit_on_failover: true`, or, in a file that must pass
// Azure's own validator unchanged, the property
// `resubmit_on_failover: "true"`.
func (j *Job) Resubmits() bool {
	if j.ResubmitOnFailover {
		return true
	}
	b, _ := strconv.ParseBool(j.Properties[ResubmitKey])
	return b
}

// StepNames returns the names of the pipeline's steps, sorted.
func (j *Job) StepNames() []string { return Names(j.Jobs) }

// ContinueOnStepFailure is settings.continue_on_step_failure.
func (j *Job) ContinueOnStepFailure() bool {
	return j.Settings != nil && j.Settings.ContinueOnStepFailure
}

// StepCompute is the compute a step of the pipeline asks for (see
// ComputeName): its own compute, else the pipeline's
// settings.default_compute, else the pipeline's compute; "" when none
// says.
func (j *Job) StepCompute(step string) string {
	if s := j.Jobs[step]; s != nil && s.Compute != "" {
		return ComputeName(s.Compute)
	}
	if j.Settings != nil && j.Settings.DefaultCompute != "" {
		return ComputeName(j.Settings.DefaultCompute)
	}
	return ComputeName(j.Compute)
}

// OutputNames returns the outputs a command job writes, sorted: those it
// declares and those its command names with ${{outputs.NAME}}.
func (j *Job) OutputNames() []string {
	set := map[string]bool{}
	for name := range j.Outputs {
		set[name] = true
	}
	for _, e := range Exprs(j.Command) {
		if e.Kind == ExprOutput {
			set[e.Name] = true
		}
	}
	return Names(set)
}

// SubstituteInputs is SubstituteInputs of the job's command and inputs.
func (j *Job) SubstituteInputs() (string, error) {
	return SubstituteInputs(j.Command, j.Inputs)
}

// Runs is the component the step runs: its trial for a sweep step, its
// component otherwise; nil for a step with its own command.
func (s *Step) Runs() *ComponentRef {
	if s.Trial != nil {
		return s.Trial
	}
	return s.Component
}

// Deps returns the steps whose outputs the step takes: every
// ${{parent.jobs.STEP.outputs.NAME}} in its inputs and outputs, wherever
// it is written (a binding, a path, a value), sorted and once each.
func (s *Step) Deps() []string {
	set := map[string]bool{}
	visit := func(v any) {
		walkStrings(v, func(str string) {
			for _, e := range Exprs(str) {
				if e.Kind == ExprStepOutput {
					set[e.Step] = true
				}
			}
		})
	}
	for _, in := range s.Inputs {
		visit(in.Encode())
	}
	for _, o := range s.Outputs {
		visit(o.Encode())
	}
	return Names(set)
}

// walkStrings calls fn with every string in a JSON-compatible value.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(x[k], fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// Reference parses the registered component a step names.
func (c *ComponentRef) Reference() (spec.Ref, bool) {
	if c.Ref == "" {
		return spec.Ref{}, false
	}
	r, ok := spec.ParseRef(c.Ref)
	if ok && r.Kind == "" {
		r.Kind = spec.KindComponent
	}
	return r, ok
}

// Reference parses the registered environment a command names; false for
// an inline environment.
func (e *Environment) Reference() (spec.Ref, bool) {
	if e.Ref == "" {
		return spec.Ref{}, false
	}
	r, ok := spec.ParseRef(e.Ref)
	if ok && r.Kind == "" {
		r.Kind = spec.KindEnvironment
	}
	return r, ok
}

// IsData reports whether the input is data given by a path (a mapping
// with a path), delivered as files rather than as a value.
func (in *Input) IsData() bool { return in != nil && in.Mapping && in.Path != "" }

// LiteralValue is the literal value of an input, if it has one: the
// scalar it is written as, or a mapping's value, else its default; none
// for data (a mapping with a path) and for null.
func (in *Input) LiteralValue() (any, bool) {
	switch {
	case in == nil:
		return nil, false
	case !in.Mapping:
		return in.Literal, in.Literal != nil
	case in.Path != "":
		return nil, false
	case in.Value != nil:
		return in.Value, true
	case in.Default != nil:
		return in.Default, true
	}
	return nil, false
}

// CommandValue is what ${{inputs.NAME}} becomes in a command before it
// runs (name is the input's name): its LiteralValue, formatted with
// FormatLiteral; the expression itself for data, which the run replaces
// with the data's local path; none for an input without a value.
func (in *Input) CommandValue(name string) (string, bool) {
	if in.IsData() {
		return Expr{Kind: ExprInput, Name: name}.String(), true
	}
	v, ok := in.LiteralValue()
	if !ok {
		return "", false
	}
	return FormatLiteral(v), true
}

// Expr is the binding an input is written as: a literal string, or a
// mapping's path or value, that is exactly one expression.
func (in *Input) Expr() (Expr, bool) {
	switch {
	case in == nil:
		return Expr{}, false
	case !in.Mapping:
		s, _ := in.Literal.(string)
		return ParseExpr(s)
	}
	if e, ok := ParseExpr(in.Path); ok {
		return e, true
	}
	s, _ := in.Value.(string)
	return ParseExpr(s)
}

// Expr is the binding an output is written as (${{parent.outputs.NAME}}).
func (o *Output) Expr() (Expr, bool) {
	if o == nil {
		return Expr{}, false
	}
	return ParseExpr(o.Binding)
}

// Clone returns a copy of the input that shares nothing with it.
func (in *Input) Clone() *Input {
	if in == nil {
		return nil
	}
	c := *in
	c.Literal, c.Value, c.Default = normalizeValue(in.Literal), normalizeValue(in.Value), normalizeValue(in.Default)
	c.Extra = cloneExtra(in.Extra)
	return &c
}

// Clone returns a copy of the output that shares nothing with it.
func (o *Output) Clone() *Output {
	if o == nil {
		return nil
	}
	c := *o
	c.Extra = cloneExtra(o.Extra)
	return &c
}

// Merge sets in the fields over holds, as when over's mapping is laid on
// in's key by key: each field over gives, and each key of over's Extra,
// replaces in's. An input merged with a mapping becomes a mapping.
func (in *Input) Merge(over *Input) {
	if over == nil {
		return
	}
	if !over.Mapping {
		if over.Literal != nil {
			*in = Input{Literal: normalizeValue(over.Literal)}
		}
		return
	}
	if !in.Mapping {
		*in = Input{Mapping: true}
	}
	setStr(&in.Type, over.Type)
	setStr(&in.Path, over.Path)
	setStr(&in.Mode, over.Mode)
	if over.Value != nil {
		in.Value = normalizeValue(over.Value)
	}
	if over.Default != nil {
		in.Default = normalizeValue(over.Default)
	}
	in.Optional = in.Optional || over.Optional
	setStr(&in.Description, over.Description)
	setStr(&in.Datastore, over.Datastore)
	setStr(&in.PathOnCompute, over.PathOnCompute)
	in.Extra = mergeExtra(in.Extra, over.Extra)
}

// Merge sets in o the fields over's mapping holds, key by key as Input's
// Merge; an output merged with a mapping becomes a mapping (a binding
// merged in is ignored: resolve it first).
func (o *Output) Merge(over *Output) {
	if over == nil || !over.Mapping {
		return
	}
	o.Mapping, o.Binding = true, ""
	setStr(&o.Type, over.Type)
	setStr(&o.Mode, over.Mode)
	setStr(&o.Path, over.Path)
	setStr(&o.Name, over.Name)
	setStr(&o.Version, over.Version)
	setStr(&o.Description, over.Description)
	setStr(&o.Datastore, over.Datastore)
	setStr(&o.PathOnCompute, over.PathOnCompute)
	o.Extra = mergeExtra(o.Extra, over.Extra)
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func cloneExtra(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out, _ := normalizeValue(m).(map[string]any)
	return out
}

func mergeExtra(base, over map[string]any) map[string]any {
	if len(over) == 0 {
		return base
	}
	out := cloneExtra(base)
	if out == nil {
		out = make(map[string]any, len(over))
	}
	for k, v := range over {
		out[k] = normalizeValue(v)
	}
	return out
}

// SetDefaultDatastore writes datastore for ${{default_datastore}} in the
// paths of the job's outputs and of its steps' outputs. A pipeline's
// settings.default_datastore, when set, is used instead of datastore.
func (j *Job) SetDefaultDatastore(datastore string) {
	if j.Settings != nil && j.Settings.DefaultDatastore != "" {
		datastore = strings.TrimPrefix(j.Settings.DefaultDatastore, "azureml:")
	}
	setDatastore := func(outputs map[string]*Output) {
		for _, o := range outputs {
			if o != nil && o.Path != "" {
				o.Path = ReplaceExprs(o.Path, func(e Expr) (string, bool) {
					return datastore, e.Kind == ExprDefaultDatastore
				})
			}
		}
	}
	setDatastore(j.Outputs)
	for _, s := range j.Jobs {
		if s != nil {
			setDatastore(s.Outputs)
		}
	}
}
