package jobs

import (
	"context"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
)

// Assets is what jobs need of the asset service: references a job
// document names (environments, components, data, models) resolved, and
// datastores found for datastore URIs.
type Assets interface {
	ResolveRefs(ctx context.Context, ws *tandem.Workspace, doc *spec.Document) error
	FindDatastore(ctx context.Context, workspace, name string) (*tandem.Datastore, error)
}

// Secrets is what jobs need of the secret service: computes keep their
// SSH passwords as workspace secrets.
type Secrets interface {
	SetSecret(ctx context.Context, workspace, name string, value []byte) (*tandem.Secret, error)
	DeleteSecret(ctx context.Context, workspace, name string) error
}

// Pipelines runs pipeline jobs (package pipelines implements it): the job
// service hands it the documents of type pipeline and the queued pipeline
// jobs, and tells it when a job ended so that a waiting pipeline goes on.
type Pipelines interface {
	// Create records a pipeline job and queues it.
	Create(ctx context.Context, ws *tandem.Workspace, doc *spec.Document, req *tandem.JobRequest) (*tandem.Job, error)
	// Run starts the coordinator of ref if it is a pipeline and reports
	// whether it was one.
	Run(ctx context.Context, ref JobRef) bool
	// Poke wakes the coordinators: a job ended.
	Poke()
	// Wait waits for the coordinators to stop (after their context ended).
	Wait()
}

// Service runs command jobs on the region's local compute and on agents
// of its clusters, and serves their records, logs, files and computes.
type Service struct {
	*region.Region
	Assets    Assets
	Secrets   Secrets
	Pipelines Pipelines // nil: pipeline jobs are refused
	// Experiment returns the id of the MLflow experiment of a workspace
	// (by id) with a name, creating it on first use; app connects it to
	// tracking. nil: jobs are told experiment 0.
	Experiment func(ctx context.Context, wsID, name string) (string, error)

	// QuotaCores caps the cores the region's clusters may hold (the sum of
	// max_instances × vCPUs per instance); 0: no quota.
	QuotaCores int
	// Agents: how long an agent may stay silent before its job is queued
	// again (default DefaultAgentTimeout), and how many times that happens
	// before the job fails.
	AgentTimeout time.Duration
	MaxRetries   int
	// ContainerRuntime is the runtime local jobs with an image run in:
	// "" or "auto", "none", docker, podman or a path (compute.Local).
	ContainerRuntime string
	// JobOutputSync is how often a running job's outputs and log are
	// uploaded; 0: DefaultJobOutputSync; negative: only at the job's end.
	JobOutputSync time.Duration

	jobsOnce   sync.Once
	jobRunner  *jobRunner
	agentsOnce sync.Once
	agentState *agentRegistry
	loops      region.Loops
}

// New returns the job service of the region k.
func New(k *region.Region, assets Assets, secrets Secrets) *Service {
	return &Service{Region: k, Assets: assets, Secrets: secrets, MaxRetries: DefaultMaxRetries}
}

func (r *Service) createPipeline(ctx context.Context, ws *tandem.Workspace, doc *spec.Document, req *tandem.JobRequest) (*tandem.Job, error) {
	if r.Pipelines == nil {
		return nil, tandem.Errorf(tandem.EInvalid, "pipeline jobs are not served by this region").WithTarget("type")
	}
	return r.Pipelines.Create(ctx, ws, doc, req)
}

func (r *Service) runPipeline(ctx context.Context, ref JobRef) bool {
	return r.Pipelines != nil && r.Pipelines.Run(ctx, ref)
}

func (r *Service) pokePipelines() {
	if r.Pipelines != nil {
		r.Pipelines.Poke()
	}
}

func (r *Service) waitPipelines() {
	if r.Pipelines != nil {
		r.Pipelines.Wait()
	}
}

// Enqueue schedules a queued job on the region's workers.
func (r *Service) Enqueue(ref JobRef) { r.jobs().enqueue(ref) }

// Track registers work running for ref outside the workers (a pipeline's
// coordinator), so that CancelJob reaches it through cancel and its live
// log is served from logPath. Call the returned untrack when it ends;
// canceled reports whether CancelJob asked it to stop.
func (r *Service) Track(ref JobRef, cancel context.CancelFunc, logPath string) (canceled func() bool, untrack func()) {
	jr := r.jobs()
	key := ref.WorkspaceID + "/" + ref.Name
	rj := &RunningJob{cancel: cancel, done: make(chan struct{}), log: logPath}
	jr.mu.Lock()
	jr.running[key] = rj
	jr.mu.Unlock()
	canceled = func() bool {
		jr.mu.Lock()
		defer jr.mu.Unlock()
		return rj.canceled
	}
	untrack = func() {
		jr.mu.Lock()
		delete(jr.running, key)
		jr.mu.Unlock()
		close(rj.done)
	}
	return canceled, untrack
}

// Start recovers the jobs a failover or the last process left (see
// StartJobs), runs queued jobs on the local compute, and starts the reaper
// of silent agents.
func (r *Service) Start(ctx context.Context) {
	r.loops.Go(ctx, func(ctx context.Context) {
		var wg sync.WaitGroup
		r.StartJobs(ctx, &wg)
		wg.Wait()
	})
	r.loops.Go(ctx, r.RunAgentReaper)
}

// Stop stops the workers, the pipelines' coordinators and the reaper, and
// waits for them. Running local jobs are killed with their context.
func (r *Service) Stop() { r.loops.Stop() }
