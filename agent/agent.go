// Package agent serves a cluster: it claims the cluster's queued jobs from
// the region, runs each with the same local runner the server uses, streams
// the log back while it runs, uploads the log and outputs, and reports how
// the job ended. It heartbeats while it works; a region that stops hearing
// from it queues the job again for another agent.
package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/compute"
	"github.com/tandemml/tandem/httpapi"
)

// Defaults.
const (
	DefaultHeartbeat = 5 * time.Second
	DefaultClaimWait = 20 * time.Second
	logFlushInterval = time.Second
)

// Agent serves one cluster of one workspace.
type Agent struct {
	Client    *httpapi.Client
	Workspace string
	Compute   string
	ID        string
	Host      string
	Heartbeat time.Duration // default DefaultHeartbeat
	ClaimWait time.Duration // default DefaultClaimWait
	Local     compute.Local
	Logger    *slog.Logger
}

// permanent reports errors that no retry will cure.
func permanent(err error) bool {
	switch tandem.ErrorCode(err) {
	case tandem.ENotFound, tandem.EInvalid, tandem.EUnauthorized, tandem.EForbidden:
		return true
	}
	return false
}

// Run claims and runs jobs until ctx ends (nil) or the region refuses the
// agent for good (unknown workspace or compute, a bad token).
func (a *Agent) Run(ctx context.Context) error {
	if a.Heartbeat <= 0 {
		a.Heartbeat = DefaultHeartbeat
	}
	if a.ClaimWait <= 0 {
		a.ClaimWait = DefaultClaimWait
	}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		work, err := a.Client.ClaimJob(ctx, a.Workspace, a.Compute, a.ID, tandem.AgentHeartbeat{Host: a.Host}, a.ClaimWait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if permanent(err) {
				return err
			}
			backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
			a.Logger.Warn("claim failed; trying again", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if work == nil {
			continue
		}
		a.runWork(ctx, work)
	}
	return nil
}

// runWork runs one claimed job to its end and reports it.
func (a *Agent) runWork(ctx context.Context, w *tandem.AgentWork) {
	job := w.Job.Name
	log := a.Logger.With("job", job, "attempt", w.Attempt)
	log.Info("job claimed")
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	st := &runState{}
	hbDone := a.heartbeat(runCtx, cancel, job, st, log)
	stopTail := a.tailLog(ctx, job, st)

	cj := &compute.Job{
		Name:        job,
		Command:     w.Command,
		Env:         w.Env,
		Outputs:     w.Outputs,
		Timeout:     time.Duration(w.TimeoutSeconds * float64(time.Second)),
		Notes:       w.Notes,
		Image:       w.Image,
		Environment: w.Environment,
		Code:        func(dir string) error { return a.fetch(runCtx, w, dir) },
	}
	if len(w.Inputs) > 0 {
		cj.Inputs = func(dir string) (map[string]string, error) { return a.fetchInputs(runCtx, w, dir) }
	}
	outs := newOutputs(a, w)
	cj.PrepareOutputs = outs.prepare(runCtx)
	res := a.Local.Run(runCtx, cj, func(p string) {
		st.setLog(p)
		if err := a.Client.StartAgentJob(runCtx, a.Workspace, a.Compute, a.ID, job); err != nil {
			log.Warn("cannot record the job running", "err", err)
		}
		outs.start(runCtx, st.log)
	})
	defer res.Cleanup()
	if res.Log != "" && st.log() != "" {
		outs.close()
	}
	stopTail()
	cancel()
	<-hbDone
	a.report(ctx, job, res, outs, st.stopReason(), log)
}

// runState is what the goroutines of one run share: the live log's path
// once the command started, and why the region took the job back.
type runState struct {
	mu      sync.Mutex
	logPath string
	stopped string
}

func (s *runState) setLog(p string) { s.mu.Lock(); s.logPath = p; s.mu.Unlock() }

func (s *runState) log() string { s.mu.Lock(); defer s.mu.Unlock(); return s.logPath }

func (s *runState) stop(why string) { s.mu.Lock(); s.stopped = why; s.mu.Unlock() }

func (s *runState) stopReason() string { s.mu.Lock(); defer s.mu.Unlock(); return s.stopped }

// heartbeat tells the region every a.Heartbeat that the job runs, until
// runCtx ends; when the region answers stop, it records why and cancels
// the run. The returned channel is closed when it returned.
func (a *Agent) heartbeat(runCtx context.Context, cancel context.CancelFunc, job string, st *runState, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(a.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			ans, err := a.Client.Heartbeat(runCtx, a.Workspace, a.Compute, a.ID, tandem.AgentHeartbeat{Host: a.Host, Job: job})
			if err != nil {
				if runCtx.Err() == nil {
					log.Warn("heartbeat failed", "err", err)
				}
				continue
			}
			if ans.Stop {
				st.stop(ans.Reason)
				log.Info("the region stopped the job", "reason", ans.Reason)
				cancel()
				return
			}
		}
	}()
	return done
}

// tailLog sends the live log's new bytes to the region every
// logFlushInterval, until the returned stop is called (which waits for it).
func (a *Agent) tailLog(ctx context.Context, job string, st *runState) (stop func()) {
	var sent int64
	flush := func() {
		p := st.log()
		if p == "" {
			return
		}
		f, err := os.Open(p)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(sent, io.SeekStart); err != nil {
			return
		}
		chunk, err := io.ReadAll(io.LimitReader(f, 1<<20))
		if err != nil || len(chunk) == 0 {
			return
		}
		if err := a.Client.AppendAgentLog(context.WithoutCancel(ctx), a.Workspace, a.Compute, a.ID, job, strings.NewReader(string(chunk))); err == nil {
			sent += int64(len(chunk))
		}
	}
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(logFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				flush()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// report hands the run in: the whole log, then (unless the region took
// the job back or the agent itself stops) the outputs and the result.
// It uses a context of its own: an agent asked to stop still hands in
// what it has.
func (a *Agent) report(ctx context.Context, job string, res *compute.Result, outs *outputs, why string, log *slog.Logger) {
	rctx := context.WithoutCancel(ctx)
	result := &tandem.AgentResult{ExitCode: res.ExitCode, TimedOut: res.TimedOut, Canceled: res.Canceled}
	if res.Err != nil {
		result.Error = res.Err.Error()
	}
	if res.Log != "" {
		if f, err := os.Open(res.Log); err == nil {
			_, err = a.Client.PutAgentLog(rctx, a.Workspace, a.Compute, a.ID, job, f)
			f.Close()
			if err != nil {
				log.Warn("cannot upload the log", "err", err)
			}
		}
	}
	if why != "" && why != "canceled" {
		log.Info("job given up", "reason", why)
		return // the job is another agent's now
	}
	if why == "" && ctx.Err() != nil {
		// The agent itself stops: the region queues the job again once
		// the agent timeout passes.
		log.Info("agent stopping; the job goes back to the region")
		return
	}
	files, err := outs.final(rctx)
	if err != nil {
		result.Error = "storing outputs failed: " + err.Error()
	}
	result.Outputs = files
	j, err := a.Client.CompleteAgentJob(rctx, a.Workspace, a.Compute, a.ID, job, result)
	if err != nil {
		log.Warn("cannot report the job's end", "err", err)
		return
	}
	log.Info("job ended", "status", j.Status)
}

// fetch writes the work's files under the run's root; dir is its code
// directory (root/code).
func (a *Agent) fetch(ctx context.Context, w *tandem.AgentWork, dir string) error {
	root := filepath.Dir(dir)
	for _, f := range w.Files {
		clean := path.Clean(f.Path)
		if clean != f.Path || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
			return fmt.Errorf("the region sent a bad file path %q", f.Path)
		}
		dst := filepath.Join(root, filepath.FromSlash(clean))
		rc, err := a.Client.OpenVerifiedAgentFile(ctx, a.Workspace, a.Compute, a.ID, w.Job.Name, f)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", f.Path, err)
		}
		err = writeFile(dst, rc, f.ReadOnly)
		rc.Close()
		if err != nil {
			return fmt.Errorf("fetch %s: %w", f.Path, err)
		}
	}
	return nil
}

// fetchInputs writes the work's inputs under dir, verified and read-only.
func (a *Agent) fetchInputs(ctx context.Context, w *tandem.AgentWork, dir string) (map[string]string, error) {
	return compute.WriteInputs(dir, w.Inputs, func(input string, index int, f tandem.InputFile) (io.ReadCloser, error) {
		return a.Client.OpenVerifiedAgentInput(ctx, a.Workspace, a.Compute, a.ID, w.Job.Name, input, index, f)
	})
}

func writeFile(dst string, r io.Reader, readOnly bool) error {
	if err := compute.WriteFrom(dst, func() (io.ReadCloser, error) { return io.NopCloser(r), nil }); err != nil {
		return err
	}
	if readOnly {
		return os.Chmod(dst, 0o444)
	}
	return nil
}
