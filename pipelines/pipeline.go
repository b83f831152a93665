package pipelines

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// Pipeline jobs. The parent job holds the pipeline document and its graph
// (Steps). When the parent runs, a coordinator goroutine (not a worker:
// workers only run commands, so a waiting parent never holds a slot its
// steps need) creates each step as a child command job through CreateJob
// once its upstream steps completed, and follows the children to the end.

// unsupportedStepTypes are the step types a pipeline cannot run yet.
var unsupportedStepTypes = map[string]string{
	"sweep":    "sweep steps (hyperparameter tuning) are not supported yet",
	"automl":   "automl steps are not supported yet",
	"spark":    "spark steps are not supported yet",
	"parallel": "parallel steps are not supported yet",
	"pipeline": "pipeline steps (a pipeline component inside a pipeline) are not supported yet",
}

// createPipeline validates a pipeline job, stores its uploaded files under
// runs/<name>/paths/<field>/, resolves its registered components and data
// to versions, builds every step once as a dry run (so a step that cannot
// become a command job fails the create), records the parent as Queued and
// schedules it.
func (r *Service) createPipeline(ctx context.Context, ws *tandem.Workspace, doc *spec.Document, req *tandem.JobRequest) (*tandem.Job, error) {
	if jobs.ParentOf(ctx) != "" {
		return nil, tandem.Errorf(tandem.EInvalid, "a pipeline cannot be a step of a pipeline yet").WithTarget("type")
	}
	d, err := jobdoc.ReadJob(doc.Fields)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	j := &tandem.Job{Name: doc.Name, Type: doc.Type, Description: doc.Description, Tags: doc.Tags, Status: tandem.JobQueued, Compute: tandem.LocalCompute,
		DisplayName: d.DisplayName, ExperimentName: d.ExperimentName}
	if j.Name == "" {
		j.Name = jobs.NewJobName()
	} else if err := tandem.ValidateAssetName(j.Name); err != nil {
		return nil, err
	}
	if err := r.checkPipelineRequest(ctx, ws, j.Name, d, doc, req); err != nil {
		return nil, err
	}
	// Uploaded paths: runs/<name>/paths/<field>/...
	d.Name = j.Name
	d.SetDefaultDatastore(assets.DefaultDatastore)
	fields := d.Map()
	for _, p := range req.Paths {
		uri := assets.DatastoreURI(tandem.RunFolder(j.Name) + "paths/" + p.Field + "/")
		if !p.Dir {
			uri += p.Root
		}
		assets.SetField(fields, p.Field, uri)
	}
	if d, err = jobdoc.ReadJob(fields); err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	if err := r.expandComponent(ctx, ws, d); err != nil {
		return nil, err
	}
	if err := r.resolvePipelineRefs(ctx, ws, j.Name, d); err != nil {
		return nil, err
	}
	j.Spec = d.Map()
	if err := r.buildSteps(ctx, ws, j, d); err != nil {
		return nil, err
	}
	blobs, err := r.copyPipelineFiles(ctx, ws.ID, j, req)
	if err != nil {
		return nil, err
	}
	if err := r.RecordNewJob(ctx, ws, j, blobs, req.Files); err != nil {
		return nil, err
	}
	r.Logger.Info("pipeline queued", "workspace", ws.Name, "job", j.Name, "steps", len(j.Steps))
	r.Enqueue(jobs.JobRef{WorkspaceID: ws.ID, Name: j.Name})
	return j, nil
}

// checkPipelineRequest checks that the pipeline has steps of types that
// run, that its uploaded paths and staged files are there, the assets it
// references (but environments, which only label runs) and that no job of
// its name exists.
func (r *Service) checkPipelineRequest(ctx context.Context, ws *tandem.Workspace, name string, d *jobdoc.Job, doc *spec.Document, req *tandem.JobRequest) error {
	names := d.StepNames()
	if len(names) == 0 && d.Component == nil {
		return tandem.Errorf(tandem.EInvalid, "the pipeline has no steps").WithTarget("jobs")
	}
	for _, n := range names {
		if msg, bad := unsupportedStepTypes[d.Jobs[n].Type]; bad {
			return tandem.Errorf(tandem.EInvalid, "step %q: %s", n, msg).WithTarget("jobs." + n)
		}
	}
	areq := &tandem.AssetRequest{Kind: tandem.KindJob, Spec: req.Spec, Paths: req.Paths, Files: req.Files}
	if err := assets.CheckPaths(doc, areq); err != nil {
		return err
	}
	if err := r.CheckStaged(ctx, ws.ID, req.Files); err != nil {
		return err
	}
	refs := *doc
	refs.Refs = nil
	for _, ref := range doc.Refs {
		if !strings.Contains(ref.Field, "environment") {
			refs.Refs = append(refs.Refs, ref)
		}
	}
	if err := r.Assets.ResolveRefs(ctx, ws, &refs); err != nil {
		return err
	}
	return r.Store.View(ctx, func(tx tandem.Tx) error {
		_, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: name})
		if err == nil {
			return tandem.Errorf(tandem.EConflict, "job %q already exists in workspace %q", name, ws.Name).WithTarget(name)
		} else if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		}
		return err
	})
}

// buildSteps records the pipeline's graph on j, and builds each step once
// with stand-ins for the outputs of the steps before it.
func (r *Service) buildSteps(ctx context.Context, ws *tandem.Workspace, j *tandem.Job, d *jobdoc.Job) error {
	for _, n := range d.StepNames() {
		j.Steps = append(j.Steps, tandem.JobStep{Name: n, Status: tandem.JobNotStarted, DependsOn: d.Jobs[n].Deps(), Compute: d.StepCompute(n)})
		child, err := r.stepSpec(ctx, ws, j, d, n, func(step string) string { return j.Name + "." + step })
		if err != nil {
			return err
		}
		if err := checkStepSpec(n, child); err != nil {
			return err
		}
	}
	return nil
}

// copyPipelineFiles copies, verified, the files uploaded with the pipeline
// from staging to runs/<name>/paths/<field>/ and lists them on j. It
// returns the copies; on error none is left.
func (r *Service) copyPipelineFiles(ctx context.Context, wsID string, j *tandem.Job, req *tandem.JobRequest) ([]tandem.BlobRef, error) {
	byField := map[string]tandem.AssetPath{}
	for _, p := range req.Paths {
		byField[p.Field] = p
	}
	var blobs []tandem.BlobRef
	prefix := tandem.StoragePrefix(wsID) + tandem.RunFolder(j.Name) + "paths/"
	for _, f := range req.Files {
		p := byField[f.Field]
		rel := p.Root
		if p.Dir {
			rel = strings.TrimPrefix(f.Path, p.Root+"/")
		}
		ref, err := tandem.CopyBlob(ctx, r.Blobs, prefix+f.Field+"/"+rel, r.Blobs, tandem.BlobRef{Key: region.StagingKey(wsID, f.SHA256), SHA256: f.SHA256, Size: f.Size})
		if err != nil {
			r.RemoveBlobs(ctx, blobs)
			return nil, fmt.Errorf("copy file %s of pipeline %s: %w", f.Path, j.Name, err)
		}
		blobs = append(blobs, ref)
		j.Files = append(j.Files, tandem.AssetFile{Field: f.Field, Path: "paths/" + f.Field + "/" + rel, SHA256: f.SHA256, Size: f.Size})
	}
	sort.Slice(j.Files, func(a, b int) bool { return j.Files[a].Path < j.Files[b].Path })
	return blobs, nil
}

// resolvePipelineRefs pins registered components and data inputs named by
// a label (or none) to the version they resolve to now, and checks that
// data the steps read exists.
func (r *Service) resolvePipelineRefs(ctx context.Context, ws *tandem.Workspace, job string, d *jobdoc.Job) error {
	own := assets.DatastoreURI(tandem.RunFolder(job)) // files uploaded with the pipeline, copied once it is valid
	pin := func(inputs map[string]*jobdoc.Input, where string) error {
		for name, m := range inputs {
			p := m.Path
			if !m.Mapping || p == "" || strings.Contains(p, "${{") || strings.HasPrefix(p, own) {
				continue
			}
			in, err := r.ResolveDataPath(ctx, ws, m.Type, p)
			if err != nil {
				return tandem.Errorf(tandem.ErrorCode(err), "%sinput %q: %s", where, name, tandem.ErrorMessage(err)).WithTarget(strings.TrimPrefix(where+"inputs."+name, " "))
			}
			m.Path = in.Path
		}
		return nil
	}
	if err := pin(d.Inputs, ""); err != nil {
		return err
	}
	for _, n := range d.StepNames() {
		step := d.Jobs[n]
		if err := pin(step.Inputs, fmt.Sprintf("step %q: ", n)); err != nil {
			return err
		}
		if err := r.pinComponent(ctx, ws, n, step); err != nil {
			return err
		}
	}
	return nil
}

// pinComponent pins the registered component a step names to the version
// it resolves to now; only command components of the workspace run.
func (r *Service) pinComponent(ctx context.Context, ws *tandem.Workspace, n string, step *jobdoc.Step) error {
	c := step.Component
	if c == nil || c.Inline != nil {
		return nil
	}
	written := c.Ref
	if written == "" {
		written = c.Path
	}
	ref, ok := c.Reference()
	if !ok || ref.Registry != "" {
		return tandem.Errorf(tandem.EInvalid, "step %q: component %q: only components registered in the workspace (azureml:NAME:VERSION, azureml:NAME@latest) or written in the pipeline run here", n, written).WithTarget("jobs." + n + ".component")
	}
	var a *tandem.Asset
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		a, err = assets.FindAssetTx(ctx, tx, ws.ID, tandem.KindComponent, ref.Name, ref.Version, ref.Label)
		return err
	})
	if err != nil {
		return tandem.Errorf(tandem.ErrorCode(err), "step %q: component %q: %s", n, written, tandem.ErrorMessage(err)).WithTarget("jobs." + n + ".component")
	}
	comp, err := jobdoc.ReadComponent(a.Spec)
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "step %q: component %s:%s: %v", n, a.Name, a.Version, err).WithTarget("jobs." + n + ".component")
	}
	if t := comp.Type; t != "" && t != "command" {
		return tandem.Errorf(tandem.EInvalid, "step %q: component %s:%s is a %s component; only command components run as steps yet", n, a.Name, a.Version, t).WithTarget("jobs." + n + ".component")
	}
	step.Component = &jobdoc.ComponentRef{Ref: "azureml:" + a.Name + ":" + a.Version}
	return nil
}

// checkStepSpec validates a step's command job document as CreateJob
// would, naming the step in the error.
func checkStepSpec(step string, child map[string]any) error {
	raw, err := json.Marshal(child)
	if err != nil {
		return err
	}
	doc, err := spec.Parse(raw, "jobs."+step, spec.Options{Kind: "job", NoFS: true})
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "step %q: %v", step, err).WithTarget("jobs." + step)
	}
	d, err := jobdoc.ReadJob(doc.Fields)
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "step %q: %v", step, err).WithTarget("jobs." + step)
	}
	if _, err := jobs.SubstituteInputs(d); err != nil {
		return tandem.Errorf(tandem.EInvalid, "step %q: %s", step, tandem.ErrorMessage(err)).WithTarget("jobs." + step)
	}
	for _, name := range jobdoc.Names(d.Inputs) {
		if err := jobs.CheckInputMode(name, d.Inputs[name].Mode); err != nil {
			return tandem.Errorf(tandem.EInvalid, "step %q: %s", step, tandem.ErrorMessage(err)).WithTarget("jobs." + step + ".inputs." + name)
		}
	}
	return nil
}

// runPipeline dispatches a queued pipeline parent to its coordinator and
// reports true; for any other job it reports false.
func (r *Service) runPipeline(ctx context.Context, ref jobs.JobRef) bool {
	var j *tandem.Job
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ref.WorkspaceID, Kind: tandem.KindJob, Name: ref.Name})
		if err == nil {
			j, err = jobs.JobFromResource(res)
		}
		return err
	})
	if err != nil {
		// Not run as a command either: it stays Queued, and a restart
		// marks it interrupted.
		r.Logger.Error("cannot read queued job", "workspace", ref.WorkspaceID, "job", ref.Name, "err", err)
		return true
	}
	if j.Type != "pipeline" {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.coordinate(ctx, ref)
	}()
	return true
}

// coordinate runs a pipeline to its end: steps start when their upstream
// steps completed; a failed step stops the pipeline (running steps are
// canceled, unstarted ones stay NotStarted) unless
// settings.continue_on_step_failure, in which case only its dependents
// stay NotStarted. The parent ends Completed when every step completed,
// Canceled when canceled, Failed otherwise.
func (r *Service) coordinate(ctx context.Context, ref jobs.JobRef) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	logf, err := os.CreateTemp("", "tandem-pipeline-*.log")
	if err != nil {
		r.Logger.Error("pipeline log", "err", err)
		return
	}
	defer os.Remove(logf.Name())
	defer logf.Close()
	isCanceled, untrack := r.Track(ref, cancel, logf.Name())
	wake, unwatch := r.watch(ref)
	defer func() {
		unwatch()
		untrack()
	}()
	wctx := context.WithoutCancel(ctx)
	logLine := func(format string, args ...any) {
		fmt.Fprintf(logf, "%s %s\n", r.Timestamp().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}

	ws, p := r.startPipeline(wctx, ref)
	if p == nil {
		return
	}
	logLine("pipeline %s: %d steps; steps run as child jobs on the local compute", p.Name, len(p.Steps))
	cont := pipelineDoc(p).ContinueOnStepFailure()
	for {
		canceled := isCanceled()
		stopped := runCtx.Err() != nil && !canceled // the server is stopping
		status := r.stepStatuses(wctx, ref.WorkspaceID, p)
		for _, s := range p.Steps {
			if s.Job != "" && status[s.Name] != s.Status {
				logLine("step %s: job %s %s", s.Name, s.Job, status[s.Name])
			}
		}
		plan := planPipeline(p.Steps, status, cont, canceled, stopped)

		// Start what is ready, record it, and look again at once.
		prog := progress{status: status, plan: plan, stopped: stopped}
		prog.started, prog.errs = r.startReady(wctx, ws, p, plan.ready, logLine)
		for _, n := range plan.cancel {
			if _, err := r.CancelJob(wctx, ws.Name, jobOfStep(p, n)); err != nil && !tandem.IsCode(err, tandem.EConflict) {
				r.Logger.Warn("cancel pipeline step", "job", jobOfStep(p, n), "err", err)
			}
		}
		if plan.final != "" {
			prog.outBlobs = r.pipelineOutputs(wctx, ref.WorkspaceID, p, status)
			for _, s := range p.Steps {
				if status[s.Name] == tandem.JobNotStarted && s.Error == "" {
					logLine("step %s: not started", s.Name)
				}
			}
			logLine("pipeline %s: %s", p.Name, plan.final)
			if lb, err := r.storePipelineLog(wctx, ref, logf.Name()); err == nil {
				prog.outBlobs = append(prog.outBlobs, lb)
			}
		}
		p = r.recordProgress(wctx, ref, p, prog)
		if tandem.JobDone(p.Status) {
			r.Logger.Info("pipeline ended", "workspace", ref.WorkspaceID, "job", ref.Name, "status", p.Status)
			return
		}
		if len(plan.ready) > 0 {
			continue
		}
		waitForChange(runCtx, wake, len(plan.cancel) > 0 || canceled)
	}
}

// watch registers the coordinator of ref for Poke; call unwatch when it
// ends.
func (r *Service) watch(ref jobs.JobRef) (wake chan struct{}, unwatch func()) {
	key := ref.WorkspaceID + "/" + ref.Name
	wake = make(chan struct{}, 1)
	r.mu.Lock()
	r.notify[key] = wake
	r.mu.Unlock()
	return wake, func() {
		r.mu.Lock()
		delete(r.notify, key)
		r.mu.Unlock()
	}
}

// startPipeline marks a queued pipeline Running and returns it with its
// workspace; nil when it is not queued any more or cannot be read.
func (r *Service) startPipeline(ctx context.Context, ref jobs.JobRef) (*tandem.Workspace, *tandem.Job) {
	var ws *tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		ws, err = tx.FindWorkspaceByID(ctx, ref.WorkspaceID)
		return err
	})
	if err != nil {
		r.Logger.Warn("cannot start pipeline", "job", ref.Name, "err", err)
		return nil, nil
	}
	var p *tandem.Job
	err = r.UpdateJob(ctx, ref, func(j *tandem.Job, _ *tandem.Resource) error {
		if j.Status != tandem.JobQueued {
			return jobs.ErrSkip
		}
		now := r.Timestamp()
		j.Status, j.StartedAt = tandem.JobRunning, &now
		p = j
		return nil
	})
	if err != nil {
		if err != jobs.ErrSkip {
			r.Logger.Warn("cannot start pipeline", "job", ref.Name, "err", err)
		}
		return nil, nil
	}
	return ws, p
}

// startReady starts the steps that are ready, returning the child job of
// each step started and the error of each that could not start.
func (r *Service) startReady(ctx context.Context, ws *tandem.Workspace, p *tandem.Job, ready []string, logLine func(string, ...any)) (started, errs map[string]string) {
	started, errs = map[string]string{}, map[string]string{}
	for _, n := range ready {
		child, err := r.startStep(ctx, ws, p, n)
		if err != nil {
			errs[n] = tandem.ErrorMessage(err)
			logLine("step %s: cannot start: %s", n, errs[n])
			continue
		}
		started[n] = child.Name
		logLine("step %s: job %s %s", n, child.Name, child.Status)
		for _, s := range p.Steps {
			if s.Name == n && s.Compute != "" && s.Compute != tandem.LocalCompute {
				logLine("step %s: compute %q is not available here; the step runs on the local compute", n, s.Compute)
			}
		}
	}
	return started, errs
}

// progress is what one round of a coordinator changed: the steps it
// started (their child jobs) and could not start (their errors), the
// statuses it saw, and at the end the outputs and log it stored.
type progress struct {
	started, errs map[string]string
	status        map[string]string
	plan          pipelinePlan
	outBlobs      []tandem.BlobRef
	stopped       bool
}

// recordProgress writes a round's changes of the graph, and the end, in
// one write, and returns the pipeline as recorded (p when nothing could be
// read).
func (r *Service) recordProgress(ctx context.Context, ref jobs.JobRef, p *tandem.Job, prog progress) *tandem.Job {
	err := r.UpdateJob(ctx, ref, func(j *tandem.Job, res *tandem.Resource) error {
		changed := false
		for i := range j.Steps {
			s := &j.Steps[i]
			if c, ok := prog.started[s.Name]; ok {
				s.Job, s.Status, changed = c, tandem.JobQueued, true
			}
			if e, ok := prog.errs[s.Name]; ok {
				s.Error, s.Status, changed = e, tandem.JobFailed, true
			}
			if st := prog.status[s.Name]; s.Job != "" && prog.started[s.Name] == "" && st != s.Status {
				s.Status, changed = st, true
			}
		}
		if prog.plan.final != "" && !tandem.JobDone(j.Status) {
			msg := ""
			switch prog.plan.final {
			case tandem.JobCanceled:
				msg = "canceled"
			case tandem.JobFailed:
				msg = pipelineFailure(j, prog.stopped)
			}
			res.Blobs = append(res.Blobs, prog.outBlobs...)
			r.EndJob(j, prog.plan.final, msg, nil)
			changed = true
		}
		p = j
		if !changed {
			return jobs.ErrSkip
		}
		return nil
	})
	if err != nil && err != jobs.ErrSkip {
		r.Logger.Error("cannot record pipeline progress", "job", ref.Name, "err", err)
	}
	return p
}

// waitForChange waits for a step to end (wake), for the run's end, or a
// second at most; when stopping with steps to cancel it waits a little
// for them to end.
func waitForChange(runCtx context.Context, wake <-chan struct{}, stopping bool) {
	select {
	case <-wake:
	case <-runCtx.Done():
		if stopping {
			// Stopping: wait for the canceled steps to end.
			select {
			case <-wake:
			case <-time.After(500 * time.Millisecond):
			}
		}
	case <-time.After(time.Second):
	}
}

// stepStatuses returns each step's status: its child's, NotStarted
// without one, Failed when it could not start.
func (r *Service) stepStatuses(ctx context.Context, wsID string, p *tandem.Job) map[string]string {
	status := map[string]string{}
	for _, s := range p.Steps {
		switch {
		case s.Error != "":
			status[s.Name] = tandem.JobFailed
		case s.Job == "":
			status[s.Name] = tandem.JobNotStarted
		default:
			status[s.Name] = s.Status
			if c, err := r.findJobByID(ctx, wsID, s.Job); err == nil {
				status[s.Name] = c.Status
			} else {
				r.Logger.Warn("pipeline step", "job", s.Job, "err", err)
			}
		}
	}
	return status
}

func jobOfStep(p *tandem.Job, step string) string {
	for _, s := range p.Steps {
		if s.Name == step {
			return s.Job
		}
	}
	return ""
}

// pipelinePlan is what a pipeline's coordinator does next.
type pipelinePlan struct {
	ready  []string // steps to start: not started, every upstream step Completed
	cancel []string // running steps to cancel
	final  string   // the pipeline's end status; "" while steps may still run
}

// planPipeline decides from the steps' statuses (NotStarted for steps
// without a child job). A failed or canceled step stops the pipeline —
// its running steps are canceled and no step starts — unless cont
// (continue_on_step_failure), when only its descendants never start. The
// pipeline ends when nothing runs and nothing can start: Canceled if
// canceled, Completed if every step completed, Failed otherwise. When
// the server stops, it ends Failed at once: the steps are interrupted by
// their own workers.
func planPipeline(steps []tandem.JobStep, status map[string]string, cont, canceled, stopped bool) pipelinePlan {
	var plan pipelinePlan
	if stopped {
		plan.final = tandem.JobFailed
		return plan
	}
	failed, active := false, 0
	for _, s := range steps {
		switch st := status[s.Name]; {
		case st == tandem.JobFailed || st == tandem.JobCanceled:
			failed = true
		case st != tandem.JobNotStarted && !tandem.JobDone(st):
			active++
			plan.cancel = append(plan.cancel, s.Name)
		}
	}
	stopping := canceled || (failed && !cont)
	if !stopping {
		plan.cancel = nil
		for _, s := range steps {
			if status[s.Name] != tandem.JobNotStarted {
				continue
			}
			ready := true
			for _, d := range s.DependsOn {
				ready = ready && status[d] == tandem.JobCompleted
			}
			if ready {
				plan.ready = append(plan.ready, s.Name)
			}
		}
	}
	if active > 0 || len(plan.ready) > 0 {
		return plan
	}
	plan.final = tandem.JobCompleted
	for _, s := range steps {
		if status[s.Name] != tandem.JobCompleted {
			plan.final = tandem.JobFailed
		}
	}
	if canceled {
		plan.final = tandem.JobCanceled
	}
	return plan
}

// pipelineFailure explains why a pipeline failed.
func pipelineFailure(j *tandem.Job, stopped bool) string {
	if stopped {
		return "interrupted: server stopped"
	}
	var failed, notStarted []string
	for _, s := range j.Steps {
		switch s.Status {
		case tandem.JobCompleted:
		case tandem.JobNotStarted:
			notStarted = append(notStarted, s.Name)
		default:
			failed = append(failed, s.Name+" "+strings.ToLower(s.Status))
		}
	}
	msg := "step " + strings.Join(failed, ", step ")
	if len(failed) == 0 {
		msg = "no step failed"
	}
	if len(notStarted) > 0 {
		msg += "; not started: " + strings.Join(notStarted, ", ")
	}
	return msg
}

// startStep creates one step's child job through CreateJob.
func (r *Service) startStep(ctx context.Context, ws *tandem.Workspace, p *tandem.Job, step string) (*tandem.Job, error) {
	childOf := func(s string) string {
		for _, x := range p.Steps {
			if x.Name == s && x.Job != "" {
				return x.Job
			}
		}
		return p.Name + "." + s
	}
	d, err := jobdoc.ReadJob(p.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "the pipeline's document: %v", err)
	}
	s, err := r.stepSpec(ctx, ws, p, d, step, childOf)
	if err != nil {
		return nil, err
	}
	return r.CreateJob(jobs.WithParent(ctx, p.Name), ws.Name, &tandem.JobRequest{Spec: s})
}

func (r *Service) findJobByID(ctx context.Context, wsID, name string) (*tandem.Job, error) {
	var j *tandem.Job
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindJob, Name: name})
		if err == nil {
			j, err = jobs.JobFromResource(res)
		}
		return err
	})
	return j, err
}

// pipelineOutputs copies, verified, the outputs of steps bound to the
// pipeline's outputs (${{parent.outputs.x}}) into runs/<parent>/outputs/x/.
func (r *Service) pipelineOutputs(ctx context.Context, wsID string, p *tandem.Job, status map[string]string) []tandem.BlobRef {
	d := pipelineDoc(p)
	prefix := tandem.StoragePrefix(wsID)
	var out []tandem.BlobRef
	for _, n := range d.StepNames() {
		child := jobOfStep(p, n)
		if child == "" || status[n] != tandem.JobCompleted {
			continue
		}
		for o, v := range d.Jobs[n].Outputs {
			e, ok := v.Expr()
			if !ok || e.Kind != jobdoc.ExprParentOutput {
				continue
			}
			var res *tandem.Resource
			err := r.Store.View(ctx, func(tx tandem.Tx) error {
				var err error
				res, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindJob, Name: child})
				return err
			})
			if err != nil {
				continue
			}
			from := prefix + tandem.RunFolder(child) + "outputs/" + o + "/"
			for _, b := range res.Blobs {
				if !strings.HasPrefix(b.Key, from) {
					continue
				}
				ref, err := tandem.CopyBlob(ctx, r.Blobs, prefix+tandem.RunFolder(p.Name)+"outputs/"+e.Name+"/"+strings.TrimPrefix(b.Key, from), r.Blobs, b)
				if err != nil {
					r.Logger.Warn("pipeline output", "key", b.Key, "err", err)
					continue
				}
				out = append(out, ref)
			}
		}
	}
	return out
}

// pipelineDoc reads a pipeline's recorded document; one that does not
// read (createPipeline wrote it, so it does) is a pipeline of no steps.
func pipelineDoc(p *tandem.Job) *jobdoc.Job {
	d, err := jobdoc.ReadJob(p.Spec)
	if err != nil {
		return &jobdoc.Job{}
	}
	return d
}

// storePipelineLog stores the coordinator's log as the parent's
// std_log.txt.
func (r *Service) storePipelineLog(ctx context.Context, ref jobs.JobRef, log string) (tandem.BlobRef, error) {
	f, err := os.Open(filepath.Clean(log))
	if err != nil {
		return tandem.BlobRef{}, err
	}
	defer f.Close()
	return r.Blobs.Put(ctx, tandem.StoragePrefix(ref.WorkspaceID)+tandem.RunFolder(ref.Name)+"logs/std_log.txt", f, nil)
}
