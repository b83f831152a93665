package pipelines

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// How a pipeline step becomes a command job document: the component's
// fields, overridden by the step's, with ${{parent...}} bindings resolved.

// stepBinder resolves the bindings of one step of pipeline p, whose
// document is doc.
type stepBinder struct {
	r       *Service
	ctx     context.Context
	ws      *tandem.Workspace
	p       *tandem.Job
	doc     *jobdoc.Job
	childOf func(step string) string
}

// stepSpec builds the command job document of one step: its component's
// command, code and environment (or the step's own), its inputs bound to
// the pipeline's inputs and to earlier steps' outputs (their child jobs
// named by childOf), its outputs, and the compute it asked for recorded
// as a property.
func (r *Service) stepSpec(ctx context.Context, ws *tandem.Workspace, p *tandem.Job, doc *jobdoc.Job, name string, childOf func(string) string) (map[string]any, error) {
	b := &stepBinder{r: r, ctx: ctx, ws: ws, p: p, doc: doc, childOf: childOf}
	step := doc.Jobs[name]
	if step == nil {
		step = &jobdoc.Step{}
	}
	comp, err := b.component(step.Component)
	if err != nil {
		return nil, tandem.Errorf(tandem.ErrorCode(err), "step %q: %s", name, tandem.ErrorMessage(err))
	}
	child := commandFields(p, doc, name, comp)
	if c := child.Properties[jobs.RequestedCompute]; c != "" {
		// A cluster of the workspace serves the step through its agents;
		// any other compute the step asks for falls back to local.
		if cc, err := b.r.FindCompute(b.ctx, b.ws.Name, c); err == nil && cc.Type == "amlcompute" {
			child.Compute = "azureml:" + c
			child.Properties = nil
		}
	}
	child.Name = childOf(name)

	var declIn map[string]*jobdoc.Input
	var declOut map[string]*jobdoc.Output
	if comp != nil {
		declIn, declOut = comp.Inputs, comp.Outputs
	}
	inputs, err := b.bindInputs(step, declIn, comp != nil)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "step %q: %s", name, tandem.ErrorMessage(err)).WithTarget("jobs." + name + ".inputs")
	}
	if len(inputs) > 0 {
		child.Inputs = inputs
	}
	outputs, err := b.bindOutputs(step, declOut)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "step %q: %s", name, tandem.ErrorMessage(err)).WithTarget("jobs." + name + ".outputs")
	}
	if len(outputs) > 0 {
		child.Outputs = outputs
	}
	return child.Map(), nil
}

// component returns the component a step runs: inline (or read from a
// file by the CLI), registered (azureml:NAME:VERSION, pinned at create),
// or nil for a step with its own command.
func (b *stepBinder) component(c *jobdoc.ComponentRef) (*jobdoc.Component, error) {
	switch {
	case c == nil:
		return nil, nil
	case c.Inline != nil:
		return c.Inline, nil
	}
	written := c.Ref
	if written == "" {
		written = c.Path
	}
	ref, _ := spec.ParseRef(written)
	var a *tandem.Asset
	err := b.r.Store.View(b.ctx, func(tx tandem.Tx) error {
		var err error
		a, err = assets.FindAssetTx(b.ctx, tx, b.ws.ID, tandem.KindComponent, ref.Name, ref.Version, ref.Label)
		return err
	})
	if err != nil {
		return nil, tandem.Errorf(tandem.ErrorCode(err), "component %q: %s", written, tandem.ErrorMessage(err))
	}
	comp, err := jobdoc.ReadComponent(a.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "component %q: %v", written, err)
	}
	return comp, nil
}

// commandFields are the child's command fields: the component's, then the
// step's overrides, the pipeline's defaults, and the compute asked for.
func commandFields(p *tandem.Job, doc *jobdoc.Job, name string, comp *jobdoc.Component) *jobdoc.Job {
	step := doc.Jobs[name]
	if step == nil {
		step = &jobdoc.Step{}
	}
	child := &jobdoc.Job{Type: "command", Compute: "azureml:" + tandem.LocalCompute}
	var base jobdoc.CommandFields
	if comp != nil {
		base = comp.CommandFields
		base.Limits = nil // a component's limits are not the step's
	}
	child.CommandFields = jobdoc.MergeCommandFields(base, step.CommandFields)
	child.DisplayName, child.Description, child.Tags = step.DisplayName, step.Description, step.Tags
	if child.Environment == nil && doc.Settings != nil {
		child.Environment = doc.Settings.DefaultEnvironment
	}
	child.ExperimentName = step.ExperimentName
	if child.ExperimentName == "" {
		child.ExperimentName = p.ExperimentName
	}
	if c := doc.StepCompute(name); c != "" && c != tandem.LocalCompute {
		child.Properties = map[string]string{jobs.RequestedCompute: c}
	}
	return child
}

// bindInputs returns the child's inputs: the step's bindings resolved, and
// the component's defaults for inputs the step does not bind. A required
// input of a component left unbound is an error.
func (b *stepBinder) bindInputs(step *jobdoc.Step, decl map[string]*jobdoc.Input, isComponent bool) (map[string]*jobdoc.Input, error) {
	inputs := map[string]*jobdoc.Input{}
	for n, d := range decl {
		if _, bound := step.Inputs[n]; bound {
			continue
		}
		if d.Default != nil {
			inputs[n] = &jobdoc.Input{Mapping: true, Type: d.Type, Default: d.Default}
		} else if !d.Optional && isComponent {
			return nil, tandem.Errorf(tandem.EInvalid, "the component's required input %q is not bound", n)
		}
	}
	for n, v := range step.Inputs {
		declType := ""
		if d := decl[n]; d != nil {
			declType = d.Type
		}
		bound, err := b.bindInput(v, declType)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", n, err)
		}
		if bound != nil {
			inputs[n] = bound
		}
	}
	return inputs, nil
}

// bindInput resolves one input binding: a literal, a binding string, or a
// mapping whose path, value or default holds a binding. declType is the
// type the component declares ("" for none). nil is no input.
func (b *stepBinder) bindInput(v *jobdoc.Input, declType string) (*jobdoc.Input, error) {
	var bound *jobdoc.Input
	switch s, isStr := v.Literal.(string); {
	case v.Mapping:
		m, err := b.bindMapping(v, declType)
		if err != nil {
			return nil, err
		}
		bound = m
	case isStr:
		var err error
		if bound, err = b.bindString(s, declType); err != nil {
			return nil, err
		}
	case v.Literal != nil:
		bound = v.Clone()
	}
	if s, ok := bound.LiteralValue(); ok && !bound.Mapping && jobs.DataInputTypes[declType] {
		if s, isStr := s.(string); isStr {
			bound = &jobdoc.Input{Mapping: true, Type: declType, Path: s}
		}
	}
	return bound, nil
}

// bindMapping resolves the bindings of an input written as a mapping: a
// binding in its path, value or default is replaced by what it binds; a
// binding to data lays the data's fields over the mapping (its type only
// when the mapping has none) and leaves it a path.
func (b *stepBinder) bindMapping(v *jobdoc.Input, declType string) (*jobdoc.Input, error) {
	m := v.Clone()
	for _, k := range []string{"path", "value", "default"} {
		s, _ := inputField(m, k).(string)
		if !strings.Contains(s, "${{") {
			continue
		}
		bound, err := b.bindString(s, declType)
		if err != nil {
			return nil, err
		}
		if bound == nil || !bound.Mapping {
			var lit any
			if bound != nil {
				lit = bound.Literal
			}
			setInputField(m, k, lit)
			continue
		}
		typed, typ := hasType(m), m.Type
		m.Merge(bound)
		if typed {
			m.Type = typ
		}
		if k != "path" {
			setInputField(m, k, nil)
			delete(m.Extra, k)
		}
	}
	if !hasType(m) && declType != "" {
		m.Type = declType
	}
	return m, nil
}

// hasType reports whether a mapping input has a type, even an empty one.
func hasType(m *jobdoc.Input) bool { return m.Type != "" || m.Extra["type"] != nil }

// inputField is the path, value or default of a mapping input.
func inputField(m *jobdoc.Input, key string) any {
	switch key {
	case "value":
		return m.Value
	case "default":
		return m.Default
	}
	return m.Path
}

// setInputField sets the path, value or default of a mapping input to v
// as the mapping's key would be set: a null, or a path that is not a
// non-empty string, is kept as it is, in Extra.
func setInputField(m *jobdoc.Input, key string, v any) {
	switch key {
	case "value":
		m.Value = v
	case "default":
		m.Default = v
	default:
		m.Path, _ = v.(string)
	}
	if inputField(m, key) != "" && inputField(m, key) != nil {
		delete(m.Extra, key)
		return
	}
	if m.Extra == nil {
		m.Extra = map[string]any{}
	}
	m.Extra[key] = v
}

// bindString resolves the expressions in a string. A whole-string binding
// to an earlier step's output gives that output (azureml://jobs/...); one
// to a pipeline input gives the input (literal or data); bindings inside a
// longer string are replaced by the literal values of pipeline inputs. nil
// is no input (a pipeline input that is null).
func (b *stepBinder) bindString(s, declType string) (*jobdoc.Input, error) {
	if e, ok := jobdoc.ParseExpr(s); ok {
		switch e.Kind {
		case jobdoc.ExprStepOutput:
			t := declType
			if !jobs.DataInputTypes[t] {
				t = b.outputType(e.Step, e.Name)
			}
			return &jobdoc.Input{Mapping: true, Type: t, Path: "azureml://jobs/" + b.childOf(e.Step) + "/outputs/" + e.Name}, nil
		case jobdoc.ExprParentInput:
			pv, ok := b.doc.Inputs[e.Name]
			if !ok {
				return nil, fmt.Errorf("%s: the pipeline has no input %q", s, e.Name)
			}
			if lit, ok := pv.LiteralValue(); ok {
				return &jobdoc.Input{Literal: lit}, nil
			}
			if !pv.Mapping {
				return nil, nil
			}
			out := pv.Clone()
			if declType != "" && out.Type == "" {
				out.Type = declType
			}
			return out, nil
		}
	}
	var err error
	out := jobdoc.ReplaceExprs(s, func(e jobdoc.Expr) (string, bool) {
		if e.Kind != jobdoc.ExprParentInput {
			return "", false
		}
		lit, ok := b.doc.Inputs[e.Name].LiteralValue()
		if !ok {
			err = fmt.Errorf("%s: input %q of the pipeline is not a literal and cannot be part of a string", s, e.Name)
			return "", false
		}
		return jobdoc.FormatLiteral(lit), true
	})
	return &jobdoc.Input{Literal: out}, err
}

// outputType is the type of an earlier step's output: as the step, the
// pipeline output it is bound to, or its component declares it;
// uri_folder when none says.
func (b *stepBinder) outputType(step, output string) string {
	up := b.doc.Jobs[step]
	if up == nil {
		return "uri_folder"
	}
	if o := up.Outputs[output]; o != nil {
		if o.Type != "" {
			return o.Type
		}
		if e, ok := o.Expr(); ok && e.Kind == jobdoc.ExprParentOutput {
			if po := b.doc.Outputs[e.Name]; po != nil && po.Type != "" {
				return po.Type
			}
		}
	}
	if comp, err := b.component(up.Component); err == nil && comp != nil {
		if d := comp.Outputs[output]; d != nil && d.Type != "" {
			return d.Type
		}
	}
	return "uri_folder"
}

// bindOutputs returns the child's outputs: the component's declared ones,
// with the step's settings, a binding to a pipeline output taking that
// output's type and path (${{name}} in a path is the pipeline's name).
func (b *stepBinder) bindOutputs(step *jobdoc.Step, decl map[string]*jobdoc.Output) (map[string]*jobdoc.Output, error) {
	outputs := map[string]*jobdoc.Output{}
	for n, d := range decl {
		outputs[n] = &jobdoc.Output{Mapping: true, Type: d.Type}
	}
	for n, v := range step.Outputs {
		out := outputs[n]
		if out == nil {
			out = &jobdoc.Output{Mapping: true}
		}
		switch {
		case v.Binding != "":
			e, ok := v.Expr()
			if !ok || e.Kind != jobdoc.ExprParentOutput {
				return nil, fmt.Errorf("output %q: %q is not a binding to a pipeline output", n, v.Binding)
			}
			out.Merge(b.doc.Outputs[e.Name])
		case v.Mapping:
			out.Merge(v)
		}
		out.Path = jobdoc.ReplaceExprs(out.Path, func(e jobdoc.Expr) (string, bool) {
			return b.p.Name, e.Kind == jobdoc.ExprName
		})
		outputs[n] = out
	}
	return outputs, nil
}
