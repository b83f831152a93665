package pipelines

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/spec"
)

// How a pipeline step becomes a command job document: the component's
// fields, overridden by the step's, with ${{parent...}} bindings resolved.

// stepBinder resolves the bindings of one step of pipeline p.
type stepBinder struct {
	r       *Service
	ctx     context.Context
	ws      *tandem.Workspace
	p       *tandem.Job
	steps   map[string]map[string]any
	inputs  map[string]any // the pipeline's inputs
	outputs map[string]any // the pipeline's outputs
	childOf func(step string) string
}

// stepSpec builds the command job document of one step: its component's
// command, code and environment (or the step's own), its inputs bound to
// the pipeline's inputs and to earlier steps' outputs (their child jobs
// named by childOf), its outputs, and the compute it asked for recorded
// as a property.
func (r *Service) stepSpec(ctx context.Context, ws *tandem.Workspace, p *tandem.Job, name string, childOf func(string) string) (map[string]any, error) {
	steps, _ := stepsOf(p.Spec)
	b := &stepBinder{r: r, ctx: ctx, ws: ws, p: p, steps: steps, childOf: childOf}
	b.inputs, _ = p.Spec["inputs"].(map[string]any)
	b.outputs, _ = p.Spec["outputs"].(map[string]any)
	step := assets.CloneMap(steps[name])
	comp, err := b.component(step["component"])
	if err != nil {
		return nil, tandem.Errorf(tandem.ErrorCode(err), "step %q: %s", name, tandem.ErrorMessage(err))
	}
	child := commandFields(p, step, comp)
	props, _ := child["properties"].(map[string]any)
	if c, _ := props[jobs.RequestedCompute].(string); c != "" {
		// A cluster of the workspace serves the step through its agents;
		// any other compute the step asks for falls back to local.
		if cc, err := b.r.FindCompute(b.ctx, b.ws.Name, c); err == nil && cc.Type == "amlcompute" {
			child["compute"] = "azureml:" + c
			delete(child, "properties")
		}
	}
	child["name"] = childOf(name)

	declIn, _ := comp["inputs"].(map[string]any)
	inputs, err := b.bindInputs(step, declIn, comp != nil)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "step %q: %s", name, tandem.ErrorMessage(err)).WithTarget("jobs." + name + ".inputs")
	}
	if len(inputs) > 0 {
		child["inputs"] = inputs
	}
	declOut, _ := comp["outputs"].(map[string]any)
	outputs, err := b.bindOutputs(step, declOut)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "step %q: %s", name, tandem.ErrorMessage(err)).WithTarget("jobs." + name + ".outputs")
	}
	if len(outputs) > 0 {
		child["outputs"] = outputs
	}
	return child, nil
}

// component returns the component a step runs: inline (or read from a
// file by the CLI), registered (azureml:NAME:VERSION, pinned at create),
// or nil for a step with its own command.
func (b *stepBinder) component(v any) (map[string]any, error) {
	switch c := v.(type) {
	case map[string]any:
		return c, nil
	case string:
		ref, _ := spec.ParseRef(c)
		var a *tandem.Asset
		err := b.r.Store.View(b.ctx, func(tx tandem.Tx) error {
			var err error
			a, err = assets.FindAssetTx(b.ctx, tx, b.ws.ID, tandem.KindComponent, ref.Name, ref.Version, ref.Label)
			return err
		})
		if err != nil {
			return nil, tandem.Errorf(tandem.ErrorCode(err), "component %q: %s", c, tandem.ErrorMessage(err))
		}
		return assets.CloneMap(a.Spec), nil
	}
	return nil, nil
}

// commandFields are the child's command fields: the component's, then the
// step's overrides, the pipeline's defaults, and the compute asked for.
func commandFields(p *tandem.Job, step, comp map[string]any) map[string]any {
	child := map[string]any{"type": "command", "compute": "azureml:" + tandem.LocalCompute}
	for _, k := range []string{"command", "code", "environment", "environment_variables", "resources", "distribution"} {
		if v, ok := comp[k]; ok {
			child[k] = v
		}
	}
	for _, k := range []string{"command", "code", "environment", "resources", "distribution", "limits", "display_name", "description", "tags"} {
		if v, ok := step[k]; ok && v != nil {
			child[k] = v
		}
	}
	if env, ok := step["environment_variables"].(map[string]any); ok {
		merged, _ := child["environment_variables"].(map[string]any)
		if merged == nil {
			merged = map[string]any{}
		}
		for k, v := range env {
			merged[k] = v
		}
		child["environment_variables"] = merged
	}
	settings := settingsOf(p.Spec)
	if _, ok := child["environment"]; !ok {
		if env, ok := settings["default_environment"]; ok {
			child["environment"] = env
		}
	}
	if e, ok := step["experiment_name"]; ok {
		child["experiment_name"] = e
	} else if p.ExperimentName != "" {
		child["experiment_name"] = p.ExperimentName
	}
	c := computeName(step["compute"])
	if c == "" {
		c = computeName(settings["default_compute"])
	}
	if c == "" {
		c = computeName(p.Spec["compute"])
	}
	if c != "" && c != tandem.LocalCompute {
		child["properties"] = map[string]any{jobs.RequestedCompute: c}
	}
	return child
}

// bindInputs returns the child's inputs: the step's bindings resolved, and
// the component's defaults for inputs the step does not bind. A required
// input of a component left unbound is an error.
func (b *stepBinder) bindInputs(step, decl map[string]any, isComponent bool) (map[string]any, error) {
	stepIn, _ := step["inputs"].(map[string]any)
	inputs := map[string]any{}
	for n, d := range decl {
		if _, bound := stepIn[n]; bound {
			continue
		}
		m, _ := d.(map[string]any)
		typ, _ := m["type"].(string)
		if def, ok := m["default"]; ok && def != nil {
			inputs[n] = map[string]any{"type": typ, "default": def}
		} else if opt, _ := m["optional"].(bool); !opt && isComponent {
			return nil, tandem.Errorf(tandem.EInvalid, "the component's required input %q is not bound", n)
		}
	}
	for n, v := range stepIn {
		m, _ := decl[n].(map[string]any)
		typ, _ := m["type"].(string)
		bound, err := b.bindInput(v, typ)
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
// type the component declares ("" for none).
func (b *stepBinder) bindInput(v any, declType string) (any, error) {
	var bound any
	switch x := v.(type) {
	case string:
		var err error
		if bound, err = b.bindString(x, declType); err != nil {
			return nil, err
		}
	case map[string]any:
		m := assets.CloneMap(x)
		for _, k := range []string{"path", "value", "default"} {
			s, ok := m[k].(string)
			if !ok || !strings.Contains(s, "${{") {
				continue
			}
			v, err := b.bindString(s, declType)
			if err != nil {
				return nil, err
			}
			data, isData := v.(map[string]any)
			if !isData {
				m[k] = v
				continue
			}
			for dk, dv := range data {
				if dk != "type" || m["type"] == nil {
					m[dk] = dv
				}
			}
			if k != "path" {
				delete(m, k)
			}
		}
		if m["type"] == nil && declType != "" {
			m["type"] = declType
		}
		bound = m
	default:
		bound = v
	}
	if s, ok := bound.(string); ok && jobs.DataInputTypes[declType] {
		bound = map[string]any{"type": declType, "path": s}
	}
	return bound, nil
}

// bindString resolves the expressions in a string. A whole-string binding
// to an earlier step's output gives that output (azureml://jobs/...); one
// to a pipeline input gives the input (literal or data); bindings inside a
// longer string are replaced by the literal values of pipeline inputs.
func (b *stepBinder) bindString(s, declType string) (any, error) {
	whole := strings.TrimSpace(s)
	if m := stepOutputRE.FindStringSubmatch(whole); m != nil && m[0] == whole {
		t := declType
		if !jobs.DataInputTypes[t] {
			t = b.outputType(m[1], m[2])
		}
		return map[string]any{"type": t, "path": "azureml://jobs/" + b.childOf(m[1]) + "/outputs/" + m[2]}, nil
	}
	if m := parentInputRE.FindStringSubmatch(whole); m != nil && m[0] == whole {
		pv, ok := b.inputs[m[1]]
		if !ok {
			return nil, fmt.Errorf("%s: the pipeline has no input %q", s, m[1])
		}
		if lit, ok := literalOf(pv); ok {
			return lit, nil
		}
		pm, ok := pv.(map[string]any)
		if !ok {
			return nil, nil
		}
		out := assets.CloneMap(pm)
		if declType != "" && out["type"] == nil {
			out["type"] = declType
		}
		return out, nil
	}
	var err error
	out := parentInputRE.ReplaceAllStringFunc(s, func(e string) string {
		n := parentInputRE.FindStringSubmatch(e)[1]
		lit, ok := literalOf(b.inputs[n])
		if !ok {
			err = fmt.Errorf("%s: input %q of the pipeline is not a literal and cannot be part of a string", s, n)
			return e
		}
		return jobs.Literal(lit)
	})
	return out, err
}

// literalOf is the literal value of a pipeline input, if it has one.
func literalOf(v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		if _, has := x["path"]; has {
			return nil, false
		}
		for _, k := range []string{"value", "default"} {
			if val, ok := x[k]; ok && val != nil {
				return val, true
			}
		}
		return nil, false
	case nil:
		return nil, false
	}
	return v, true
}

// outputType is the type of an earlier step's output: as the step, the
// pipeline output it is bound to, or its component declares it;
// uri_folder when none says.
func (b *stepBinder) outputType(step, output string) string {
	up := b.steps[step]
	upOut, _ := up["outputs"].(map[string]any)
	switch o := upOut[output].(type) {
	case map[string]any:
		if t, _ := o["type"].(string); t != "" {
			return t
		}
	case string:
		if m := parentOutputRE.FindStringSubmatch(o); m != nil {
			po, _ := b.outputs[m[1]].(map[string]any)
			if t, _ := po["type"].(string); t != "" {
				return t
			}
		}
	}
	if comp, err := b.component(up["component"]); err == nil {
		declOut, _ := comp["outputs"].(map[string]any)
		d, _ := declOut[output].(map[string]any)
		if t, _ := d["type"].(string); t != "" {
			return t
		}
	}
	return "uri_folder"
}

// bindOutputs returns the child's outputs: the component's declared ones,
// with the step's settings, a binding to a pipeline output taking that
// output's type and path (${{name}} in a path is the pipeline's name).
func (b *stepBinder) bindOutputs(step, decl map[string]any) (map[string]any, error) {
	outputs := map[string]any{}
	for n, d := range decl {
		m, _ := d.(map[string]any)
		out := map[string]any{}
		if t, _ := m["type"].(string); t != "" {
			out["type"] = t
		}
		outputs[n] = out
	}
	stepOut, _ := step["outputs"].(map[string]any)
	for n, v := range stepOut {
		out, _ := outputs[n].(map[string]any)
		if out == nil {
			out = map[string]any{}
		}
		switch x := v.(type) {
		case string:
			m := parentOutputRE.FindStringSubmatch(x)
			if m == nil {
				return nil, fmt.Errorf("output %q: %q is not a binding to a pipeline output", n, x)
			}
			po, _ := b.outputs[m[1]].(map[string]any)
			for k, pv := range po {
				out[k] = pv
			}
		case map[string]any:
			for k, pv := range x {
				out[k] = pv
			}
		}
		if ps, ok := out["path"].(string); ok {
			out["path"] = nameExprRE.ReplaceAllString(ps, b.p.Name)
		}
		outputs[n] = out
	}
	return outputs, nil
}
