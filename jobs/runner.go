package jobs

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/compute"
)

// The region's runner of local jobs: a queue of queued jobs, workers that
// run them on the local compute, and the runs in progress.

// DefaultJobWorkers is how many jobs a region runs at once on local compute.
const DefaultJobWorkers = 4

// jobRunner is a region's queue of local jobs and the runs in progress.
// It lives beside the Region (keyed by it) so that a Region needs no new
// fields.
type jobRunner struct {
	mu      sync.Mutex
	pending []JobRef
	wake    chan struct{}
	running map[string]*RunningJob // wsID/name
	local   compute.Local
}

type JobRef struct{ WorkspaceID, Name string }

type RunningJob struct {
	cancel   context.CancelFunc
	canceled bool   // by CancelJob
	log      string // live log path, once started
	// demotedAt is the epoch at which this region lost the primary role of
	// the job's workspace while it ran (job_failover.go); 0 otherwise.
	demotedAt int64
	done      chan struct{}
}

func (r *Service) jobs() *jobRunner {
	r.jobsOnce.Do(func() {
		r.jobRunner = &jobRunner{wake: make(chan struct{}, 1), running: map[string]*RunningJob{}, local: compute.Local{Runtime: r.ContainerRuntime}}
	})
	return r.jobRunner
}

func (jr *jobRunner) enqueue(ref JobRef) {
	jr.mu.Lock()
	jr.pending = append(jr.pending, ref)
	jr.mu.Unlock()
	select {
	case jr.wake <- struct{}{}:
	default:
	}
}

// StartJobs marks the jobs a previous process left unfinished as Failed,
// then runs queued jobs on local compute with DefaultJobWorkers workers
// until ctx ends. Its goroutines join wg.
func (r *Service) StartJobs(ctx context.Context, wg *sync.WaitGroup) {
	jr := r.jobs()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Jobs a failover interrupted in the old primary first (they become
		// Interrupted), then this region's own, left by its last process.
		r.recoverPromotedJobs(ctx)
		r.failInterrupted(ctx)
		r.revokeEndedJobTokens(ctx)
		var workers sync.WaitGroup
		for i := 0; i < DefaultJobWorkers; i++ {
			workers.Add(1)
			go func() {
				defer workers.Done()
				for {
					jr.mu.Lock()
					if len(jr.pending) > 0 {
						ref := jr.pending[0]
						jr.pending = jr.pending[1:]
						more := len(jr.pending) > 0
						jr.mu.Unlock()
						if more {
							select {
							case jr.wake <- struct{}{}:
							default:
							}
						}
						r.runJob(ctx, ref)
						continue
					}
					jr.mu.Unlock()
					select {
					case <-ctx.Done():
						return
					case <-jr.wake:
					}
				}
			}()
		}
		workers.Wait()
		r.waitPipelines()
	}()
}

// failInterrupted marks jobs left Queued, Preparing or Running by a
// previous process as Failed. Workspaces this region may not write (a
// secondary's) are left to their primary. It runs after
// recoverPromotedJobs, which has already marked Interrupted the jobs that
// were running in an old primary (not this region's own).
func (r *Service) failInterrupted(ctx context.Context) {
	var refs []JobRef
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
		if err != nil {
			return err
		}
		for _, ws := range list {
			res, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindJob})
			if err != nil {
				return err
			}
			for _, x := range res {
				j, err := JobFromResource(x)
				// Jobs on clusters belong to their agents: the agent reaper
				// handles those whose agent does not come back.
				if err == nil && !tandem.JobDone(j.Status) && j.Compute == tandem.LocalCompute {
					refs = append(refs, JobRef{ws.ID, j.Name})
				}
			}
		}
		return nil
	})
	if err != nil {
		r.Logger.Error("find interrupted jobs", "err", err)
		return
	}
	// Jobs queued by this process (created before the workers started)
	// are not interrupted ones.
	jr := r.jobs()
	jr.mu.Lock()
	ours := map[JobRef]bool{}
	for _, ref := range jr.pending {
		ours[ref] = true
	}
	jr.mu.Unlock()
	for _, ref := range refs {
		if ours[ref] {
			continue
		}
		err := r.UpdateJob(ctx, ref, func(j *tandem.Job, _ *tandem.Resource) error {
			if tandem.JobDone(j.Status) {
				return ErrSkip
			}
			r.EndJob(j, tandem.JobFailed, "interrupted: server restarted", nil)
			return nil
		})
		if err != nil && err != ErrSkip {
			r.Logger.Warn("cannot mark interrupted job failed", "workspace", ref.WorkspaceID, "job", ref.Name, "err", err)
		}
	}
}

// runJob runs one queued job to its end.
func (r *Service) runJob(ctx context.Context, ref JobRef) {
	if r.runPipeline(ctx, ref) {
		return
	}
	defer r.pokePipelines()
	jr := r.jobs()
	key := ref.WorkspaceID + "/" + ref.Name
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rj := &RunningJob{cancel: cancel, done: make(chan struct{})}
	jr.mu.Lock()
	jr.running[key] = rj
	jr.mu.Unlock()
	defer func() {
		jr.mu.Lock()
		delete(jr.running, key)
		jr.mu.Unlock()
		close(rj.done)
	}()
	// Status writes outlive a cancel of the run itself.
	wctx := context.WithoutCancel(ctx)

	var job *tandem.Job
	err := r.UpdateJob(wctx, ref, func(j *tandem.Job, _ *tandem.Resource) error {
		if j.Status != tandem.JobQueued {
			return ErrSkip
		}
		j.Status = tandem.JobPreparing
		job = j
		return nil
	})
	if err != nil {
		if err != ErrSkip {
			r.Logger.Warn("cannot start job", "workspace", ref.WorkspaceID, "job", ref.Name, "err", err)
		}
		return
	}
	cj := &compute.Job{
		Name:    job.Name,
		Command: job.Command,
		Code: func(dir string) error {
			for _, f := range job.Files {
				if err := r.fetchBlob(runCtx, tandem.BlobRef{Key: codeKey(ref.WorkspaceID, job, f), SHA256: f.SHA256, Size: f.Size}, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(strings.TrimPrefix(f.Path, "code"), "/")))); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cj.Env, cj.Outputs, cj.Timeout = runSettings(job)
	r.prepareRun(runCtx, ref.WorkspaceID, job, cj)
	revoke, err := r.trackingEnv(wctx, ref.WorkspaceID, job, cj.Env)
	if err != nil {
		r.finishJob(wctx, ref, &compute.Result{ExitCode: -1, Err: fmt.Errorf("issue the job's token: %w", err)}, rj)
		return
	}
	defer revoke()
	if runCtx.Err() != nil {
		r.finishJob(wctx, ref, nil, rj)
		return
	}
	outSync := r.watchOutputs(ref, job, cj)
	res := jr.local.Run(runCtx, cj, func(log string) {
		outSync.started(log)
		jr.mu.Lock()
		rj.log = log
		jr.mu.Unlock()
		err := r.UpdateJob(wctx, ref, func(j *tandem.Job, _ *tandem.Resource) error {
			now := r.Timestamp()
			j.Status, j.StartedAt = tandem.JobRunning, &now
			return nil
		})
		if err != nil {
			r.Logger.Warn("cannot record job running", "job", ref.Name, "err", err)
		}
	})
	outSync.close()
	defer res.Cleanup()
	r.finishJob(wctx, ref, res, rj)
}

// runSettings returns what a run of the job needs besides its command:
// environment variables, output names and the timeout. Local runs and
// agents use it alike.
func runSettings(job *tandem.Job) (env map[string]string, outputs []string, timeout time.Duration) {
	d := jobDoc(job)
	env = map[string]string{}
	for k, v := range d.EnvironmentVariables {
		env[k] = v
	}
	if names := d.OutputNames(); len(names) > 0 {
		outputs = names
	}
	return env, outputs, d.Timeout()
}

// fetchBlob writes verified bytes to a local file.
func (r *Service) fetchBlob(ctx context.Context, ref tandem.BlobRef, dst string) error {
	return compute.WriteFrom(dst, func() (io.ReadCloser, error) { return r.Blobs.OpenVerified(ctx, ref) })
}
