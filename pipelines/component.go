package pipelines

import (
	"context"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// A pipeline job may run a pipeline component (a top-level `component:`
// with `inputs` and `outputs` and no `jobs`), as Azure's does: the
// pipeline's graph is the component's steps, and the job's inputs and
// outputs are the component's, with the values the job gives. The job is
// recorded as that pipeline, its steps written out.

// expandComponent makes a pipeline job that runs a pipeline component the
// pipeline of the component's steps. A job with steps of its own is left
// as it is.
func (r *Service) expandComponent(ctx context.Context, ws *tandem.Workspace, d *jobdoc.Job) error {
	if d.Component == nil || len(d.Jobs) > 0 {
		return nil
	}
	comp, err := r.pipelineComponent(ctx, ws, d.Component)
	if err != nil {
		return err
	}
	if t := comp.Type; t != "" && t != "pipeline" {
		return tandem.Errorf(tandem.EInvalid, "component: a pipeline job runs a pipeline component, not a %s component", t).WithTarget("component")
	}
	if len(comp.Jobs) == 0 {
		return tandem.Errorf(tandem.EInvalid, "component: the pipeline component has no steps (jobs)").WithTarget("component")
	}
	inputs, err := componentInputs(d.Inputs, comp.Inputs)
	if err != nil {
		return err
	}
	outputs := map[string]*jobdoc.Output{}
	for _, n := range jobdoc.Names(d.Outputs) {
		if _, ok := comp.Outputs[n]; !ok {
			return tandem.Errorf(tandem.EInvalid, "output %q: the component has no output %q (it has: %s)", n, n, strings.Join(jobdoc.Names(comp.Outputs), ", ")).WithTarget("outputs." + n)
		}
	}
	for n, decl := range comp.Outputs {
		o := &jobdoc.Output{Mapping: true}
		if decl != nil {
			o.Type, o.Mode = decl.Type, decl.Mode
		}
		o.Merge(d.Outputs[n])
		outputs[n] = o
	}
	for _, n := range jobdoc.Names(comp.Jobs) {
		if msg, bad := unsupportedStepTypes[comp.Jobs[n].Type]; bad {
			return tandem.Errorf(tandem.EInvalid, "component: step %q: %s", n, msg).WithTarget("component.jobs." + n)
		}
	}
	d.Inputs, d.Outputs, d.Jobs, d.Component = inputs, outputs, comp.Jobs, nil
	d.SetDefaultDatastore(assets.DefaultDatastore)
	return nil
}

// componentInputs binds the job's inputs to the component's declarations:
// a value the job gives (a data input taking the declared type and mode
// where it gives none), else the declared default; an input with neither
// must be optional, and is null.
func componentInputs(given, decls map[string]*jobdoc.Input) (map[string]*jobdoc.Input, error) {
	for _, n := range jobdoc.Names(given) {
		if _, ok := decls[n]; !ok {
			return nil, tandem.Errorf(tandem.EInvalid, "input %q: the component has no input %q (it has: %s)", n, n, strings.Join(jobdoc.Names(decls), ", ")).WithTarget("inputs." + n)
		}
	}
	inputs := map[string]*jobdoc.Input{}
	for _, n := range jobdoc.Names(decls) {
		decl, in := decls[n], given[n]
		if decl == nil {
			decl = &jobdoc.Input{}
		}
		switch {
		case in != nil && in.Mapping:
			if in.Type == "" {
				in.Type = decl.Type
			}
			if in.Mode == "" {
				in.Mode = decl.Mode
			}
		case in != nil && in.Literal != nil:
		case decl.Default != nil:
			in = &jobdoc.Input{Literal: decl.Default}
		case decl.Optional:
			in = &jobdoc.Input{} // null: the steps bound to it get no input
		default:
			return nil, tandem.Errorf(tandem.EInvalid, "input %q: the component needs a value for it (it has no default)", n).WithTarget("inputs." + n)
		}
		inputs[n] = in
	}
	return inputs, nil
}

// pipelineComponent is the component a pipeline job runs: written inline
// (or read from its file by the CLI), or registered in the workspace.
func (r *Service) pipelineComponent(ctx context.Context, ws *tandem.Workspace, c *jobdoc.ComponentRef) (*jobdoc.Component, error) {
	if c.Inline != nil {
		return c.Inline, nil
	}
	written := c.Ref
	if written == "" {
		written = c.Path
	}
	ref, ok := c.Reference()
	if !ok || ref.Registry != "" {
		return nil, tandem.Errorf(tandem.EInvalid, "component %q: only pipeline components registered in the workspace (azureml:NAME:VERSION, azureml:NAME@latest) or written in the job (inline, or a file the CLI reads) run here", written).WithTarget("component")
	}
	var a *tandem.Asset
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		a, err = assets.FindAssetTx(ctx, tx, ws.ID, tandem.KindComponent, ref.Name, ref.Version, ref.Label)
		return err
	})
	if err != nil {
		return nil, tandem.Errorf(tandem.ErrorCode(err), "component %q: %s", written, tandem.ErrorMessage(err)).WithTarget("component")
	}
	comp, err := jobdoc.ReadComponent(a.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "component %s:%s: %v", a.Name, a.Version, err).WithTarget("component")
	}
	return comp, nil
}
