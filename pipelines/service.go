package pipelines

import (
	"context"
	"sync"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/spec"
)

// Service runs pipeline jobs: it records a pipeline and its graph, and a
// coordinator per running pipeline creates each step as a child command
// job of the job service once its upstream steps completed. It implements
// jobs.Pipelines; the job service hands it pipeline documents and jobs.
type Service struct {
	*jobs.Service

	mu     sync.Mutex
	wg     sync.WaitGroup
	notify map[string]chan struct{} // wsID/name of a running parent
}

var _ jobs.Pipelines = (*Service)(nil)

// New returns the pipeline service built on the job service j, and
// registers itself as j's pipeline runner.
func New(j *jobs.Service) *Service {
	s := &Service{Service: j, notify: map[string]chan struct{}{}}
	j.Pipelines = s
	return s
}

// Create records a pipeline job and queues it.
func (r *Service) Create(ctx context.Context, ws *tandem.Workspace, doc *spec.Document, req *tandem.JobRequest) (*tandem.Job, error) {
	return r.createPipeline(ctx, ws, doc, req)
}

// Run starts the coordinator of ref when it is a pipeline.
func (r *Service) Run(ctx context.Context, ref jobs.JobRef) bool { return r.runPipeline(ctx, ref) }

// Poke wakes every coordinator: a job ended, one of them may go on.
func (r *Service) Poke() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.notify {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Wait waits for the coordinators to stop (after their context ended).
func (r *Service) Wait() { r.wg.Wait() }
