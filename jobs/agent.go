package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/compute"
)

var _ tandem.AgentService = (*Service)(nil)

// Defaults of the agent protocol.
const (
	// DefaultAgentTimeout is how long an agent may stay silent before its
	// job is requeued (or failed, once its retries are spent).
	DefaultAgentTimeout = 30 * time.Second
	// DefaultMaxRetries is how many times a job whose agent was lost is
	// queued again.
	DefaultMaxRetries = 1
)

// agentRegistry holds the agents a region has heard from. It is memory
// only: agents announce themselves with every call, and jobs whose agent
// stays silent are handled by the reaper, so nothing is lost with it.
type agentRegistry struct {
	mu      sync.Mutex
	since   time.Time                // when the registry started: the grace for agents of a restarted server
	agents  map[string]*tandem.Agent // wsID/compute/agent
	wake    map[string]chan struct{} // wsID/compute: closed when a job may be claimable
	logs    map[string]string        // wsID/job: live log file of an agent job
	logsDir string
}

func (r *Service) agentReg() *agentRegistry {
	r.agentsOnce.Do(func() {
		r.agentState = &agentRegistry{since: r.Timestamp(), agents: map[string]*tandem.Agent{}, wake: map[string]chan struct{}{}, logs: map[string]string{}}
	})
	return r.agentState
}

func (r *Service) agentTimeout() time.Duration {
	if r.AgentTimeout > 0 {
		return r.AgentTimeout
	}
	return DefaultAgentTimeout
}

// touchAgent records a call from an agent.
func (r *Service) touchAgent(wsID, compute, id string, hb tandem.AgentHeartbeat) {
	reg := r.agentReg()
	now := r.Timestamp()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	key := wsID + "/" + compute + "/" + id
	a := reg.agents[key]
	if a == nil {
		a = &tandem.Agent{ID: id, Compute: compute, FirstSeen: now}
		reg.agents[key] = a
		r.Logger.Info("agent joined", "workspace", wsID, "compute", compute, "agent", id, "host", hb.Host)
	}
	a.Host, a.Job, a.LastHeartbeat = hb.Host, hb.Job, now
	a.State = tandem.AgentIdle
	if hb.Job != "" {
		a.State = tandem.AgentBusy
	}
}

// lastHeard returns when the agent was last heard from; for an agent this
// process never heard from, the registry's start (a restarted server gives
// running agents one timeout to come back).
func (r *Service) lastHeard(wsID, compute, id string) time.Time {
	reg := r.agentReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if a := reg.agents[wsID+"/"+compute+"/"+id]; a != nil {
		return a.LastHeartbeat
	}
	return reg.since
}

// wakeAgents tells the agents waiting on a cluster that a job may be
// claimable.
func (r *Service) wakeAgents(wsID, compute string) {
	reg := r.agentReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if ch, ok := reg.wake[wsID+"/"+compute]; ok {
		close(ch)
		delete(reg.wake, wsID+"/"+compute)
	}
}

func (r *Service) agentWakeChan(wsID, compute string) <-chan struct{} {
	reg := r.agentReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	ch, ok := reg.wake[wsID+"/"+compute]
	if !ok {
		ch = make(chan struct{})
		reg.wake[wsID+"/"+compute] = ch
	}
	return ch
}

// cluster returns a workspace's runnable cluster.
func (r *Service) cluster(ctx context.Context, workspace, compute string) (*tandem.Workspace, *tandem.Compute, error) {
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.FindCompute(ctx, workspace, compute)
	if err != nil {
		return nil, nil, err
	}
	if c.Type != "amlcompute" {
		return nil, nil, tandem.Errorf(tandem.EInvalid, "compute %q is a %s, not a cluster agents can serve", compute, c.Type).WithTarget(compute)
	}
	return ws, c, nil
}

func validAgentID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\\ \t\n") {
		return tandem.Errorf(tandem.EInvalid, "invalid agent id %q: up to 128 characters, no '/', '\\' or spaces", id).WithTarget("agent")
	}
	return nil
}

// ClaimJob hands the oldest queued job of the cluster to the agent, if the
// cluster runs fewer than max_instances jobs; it waits up to wait for one.
func (r *Service) ClaimJob(ctx context.Context, workspace, compute, agent string, hb tandem.AgentHeartbeat, wait time.Duration) (*tandem.AgentWork, error) {
	if err := validAgentID(agent); err != nil {
		return nil, err
	}
	ws, c, err := r.cluster(ctx, workspace, compute)
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.touchAgent(ws.ID, compute, agent, hb)
		woken := r.agentWakeChan(ws.ID, compute)
		var job *tandem.Job
		err := r.Store.Update(ctx, func(tx tandem.Tx) error {
			job = nil
			list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindJob})
			if err != nil {
				return err
			}
			active := 0
			var next *tandem.Resource
			var nextJob *tandem.Job
			for _, res := range list {
				j, err := JobFromResource(res)
				if err != nil || j.Compute != compute {
					continue
				}
				switch {
				case j.Status == tandem.JobPreparing || j.Status == tandem.JobRunning:
					active++
				case j.Status == tandem.JobQueued && (nextJob == nil || j.CreatedAt.Before(nextJob.CreatedAt)):
					next, nextJob = res, j
				}
			}
			if nextJob == nil || active >= c.MaxInstances {
				return ErrSkip
			}
			nextJob.Status, nextJob.Agent, nextJob.Error = tandem.JobPreparing, agent, ""
			nextJob.Attempts++
			if err := putJob(ctx, tx, next, nextJob, r.Timestamp()); err != nil {
				return err
			}
			job = nextJob
			return r.LogChange(ctx, tx, ws.ID, tandem.KindJob, job.Name, "", tandem.OpUpdate, next)
		})
		if err != nil && err != ErrSkip {
			return nil, err
		}
		if job != nil {
			hb.Job = job.Name
			r.touchAgent(ws.ID, compute, agent, hb)
			r.Logger.Info("job claimed", "workspace", ws.Name, "job", job.Name, "compute", compute, "agent", agent, "attempt", job.Attempts)
			work := r.agentWork(ctx, ws.ID, job)
			// The run's token and tracking variables, as a local run gets
			// them; revoked when the job ends or is taken back.
			if _, err := r.trackingEnv(ctx, ws.ID, job, work.Env); err != nil {
				r.Logger.Warn("cannot issue the token of a claimed job; it runs without tracking", "job", job.Name, "err", err)
			}
			return work, nil
		}
		select {
		case <-woken:
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// agentWork describes a claimed job to its agent: what a local run of it
// would get from runSettings and prepareRun.
func (r *Service) agentWork(ctx context.Context, wsID string, j *tandem.Job) *tandem.AgentWork {
	cj := &compute.Job{Name: j.Name, Command: j.Command}
	cj.Env, cj.Outputs, cj.Timeout = runSettings(j)
	r.prepareRun(ctx, wsID, j, cj)
	w := &tandem.AgentWork{Job: j, Command: cj.Command, Env: cj.Env, Outputs: cj.Outputs, TimeoutSeconds: cj.Timeout.Seconds(),
		Inputs: j.Inputs, Notes: cj.Notes, Image: cj.Image, Environment: cj.Environment, Attempt: j.Attempts}
	for _, f := range j.Files {
		w.Files = append(w.Files, tandem.AgentFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size})
	}
	if sync := r.JobOutputSync; sync >= 0 {
		if sync == 0 {
			sync = DefaultJobOutputSync
		}
		w.SyncSeconds = sync.Seconds()
	}
	w.Seed = r.seedFiles(ctx, wsID, j)
	return w
}

// ownedJob returns the job if it is the agent's. Ended jobs are the
// agent's only when ended is set (a canceled job still takes its log).
func (r *Service) ownedJob(ctx context.Context, workspace, compute, agent, name string, ended bool) (*tandem.Workspace, *tandem.Job, error) {
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, nil, err
	}
	j, err := r.FindJob(ctx, workspace, name)
	if err != nil {
		return nil, nil, err
	}
	if j.Compute != compute || j.Agent != agent {
		return nil, nil, tandem.Errorf(tandem.EConflict, "job %q is not agent %s's (it is on %q, agent %q)", name, agent, j.Compute, j.Agent).WithTarget(name)
	}
	if tandem.JobDone(j.Status) && !ended {
		return nil, nil, tandem.Errorf(tandem.EConflict, "job %q already ended (%s)", name, j.Status).WithTarget(name)
	}
	return ws, j, nil
}

// Heartbeat records that the agent lives and tells it whether its job is
// still its own.
func (r *Service) Heartbeat(ctx context.Context, workspace, compute, agent string, hb tandem.AgentHeartbeat) (*tandem.HeartbeatAnswer, error) {
	if err := validAgentID(agent); err != nil {
		return nil, err
	}
	ws, _, err := r.cluster(ctx, workspace, compute)
	if err != nil {
		return nil, err
	}
	r.touchAgent(ws.ID, compute, agent, hb)
	if hb.Job == "" {
		return &tandem.HeartbeatAnswer{}, nil
	}
	j, err := r.FindJob(ctx, workspace, hb.Job)
	if tandem.IsCode(err, tandem.ENotFound) {
		return &tandem.HeartbeatAnswer{Stop: true, Reason: "the job does not exist here"}, nil
	} else if err != nil {
		return nil, err
	}
	switch {
	case j.Agent != agent:
		return &tandem.HeartbeatAnswer{Stop: true, Reason: fmt.Sprintf("the job was taken from this agent (%s)", j.Error)}, nil
	case j.Status == tandem.JobCanceled:
		return &tandem.HeartbeatAnswer{Stop: true, Reason: "canceled"}, nil
	case tandem.JobDone(j.Status):
		return &tandem.HeartbeatAnswer{Stop: true, Reason: "the job already ended (" + j.Status + ")"}, nil
	}
	return &tandem.HeartbeatAnswer{}, nil
}

// StartAgentJob records that the agent's command runs.
func (r *Service) StartAgentJob(ctx context.Context, workspace, compute, agent, name string) error {
	ws, _, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return err
	}
	err = r.UpdateJob(ctx, JobRef{ws.ID, name}, func(j *tandem.Job, _ *tandem.Resource) error {
		if j.Agent != agent || j.Status != tandem.JobPreparing {
			return ErrSkip
		}
		now := r.Timestamp()
		j.Status, j.StartedAt = tandem.JobRunning, &now
		return nil
	})
	if err == ErrSkip {
		return nil
	}
	return err
}

// OpenAgentFile returns one of the files the job's work lists.
func (r *Service) OpenAgentFile(ctx context.Context, workspace, compute, agent, name, file string) (io.ReadCloser, error) {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return nil, err
	}
	for _, f := range j.Files {
		if f.Path == file {
			return r.Blobs.OpenVerified(ctx, tandem.BlobRef{Key: codeKey(ws.ID, j, f), SHA256: f.SHA256, Size: f.Size})
		}
	}
	return nil, tandem.Errorf(tandem.ENotFound, "job %q has no file %q", name, file).WithTarget(file)
}

// OpenAgentInput returns one file of one of the job's inputs.
func (r *Service) OpenAgentInput(ctx context.Context, workspace, compute, agent, name, input string, index int) (io.ReadCloser, error) {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return nil, err
	}
	in := j.Inputs[input]
	if in == nil || index < 0 || index >= len(in.Files) {
		return nil, tandem.Errorf(tandem.ENotFound, "job %q has no file %d in input %q", name, index, input).WithTarget(input)
	}
	f := in.Files[index]
	return r.Blobs.OpenVerified(ctx, tandem.BlobRef{Key: tandem.StoragePrefix(ws.ID) + f.Key, SHA256: f.SHA256, Size: f.Size})
}

func (r *Service) liveLogPath(wsID, job string) (string, error) {
	reg := r.agentReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	key := wsID + "/" + job
	if p, ok := reg.logs[key]; ok {
		return p, nil
	}
	if reg.logsDir == "" {
		dir, err := os.MkdirTemp("", "tandem-agent-logs-")
		if err != nil {
			return "", err
		}
		reg.logsDir = dir
	}
	p := filepath.Join(reg.logsDir, wsID+"-"+job+".log")
	reg.logs[key] = p
	return p, nil
}

func (r *Service) dropLiveLog(wsID, job string) {
	reg := r.agentReg()
	reg.mu.Lock()
	p, ok := reg.logs[wsID+"/"+job]
	delete(reg.logs, wsID+"/"+job)
	reg.mu.Unlock()
	if ok {
		os.Remove(p)
	}
}

// openLiveAgentLog returns the live log of a job that runs on an agent, if
// any came yet.
func (r *Service) openLiveAgentLog(wsID, job string) ([]byte, bool) {
	reg := r.agentReg()
	reg.mu.Lock()
	p, ok := reg.logs[wsID+"/"+job]
	reg.mu.Unlock()
	if !ok {
		return nil, false
	}
	b, err := os.ReadFile(p)
	return b, err == nil
}

// maxLogChunk bounds one appended log chunk.
const maxLogChunk = 4 << 20

// AppendAgentLog adds a chunk to the live log.
func (r *Service) AppendAgentLog(ctx context.Context, workspace, compute, agent, name string, chunk io.Reader) error {
	ws, _, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return err
	}
	p, err := r.liveLogPath(ws.ID, name)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(chunk, maxLogChunk+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxLogChunk {
		return tandem.Errorf(tandem.ETooLarge, "log chunk larger than %d bytes", maxLogChunk)
	}
	return err
}

// PutAgentLog stores the whole log of the agent's job.
func (r *Service) PutAgentLog(ctx context.Context, workspace, compute, agent, name string, body io.Reader) (*tandem.BlobRef, error) {
	ws, _, err := r.ownedJob(ctx, workspace, compute, agent, name, true)
	if err != nil {
		return nil, err
	}
	ref, err := r.Blobs.Put(ctx, tandem.StoragePrefix(ws.ID)+tandem.RunFolder(name)+"logs/std_log.txt", body, nil)
	return &ref, err
}

// cleanOutputPath checks a path inside an output's directory.
func cleanOutputPath(p string) (string, error) {
	c := path.Clean(p)
	if p == "" || c != p || path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(p, "\\") {
		return "", tandem.Errorf(tandem.EInvalid, "invalid output file path %q: a relative path inside the output, without '..'", p).WithTarget(p)
	}
	return c, nil
}

// PutAgentOutput stores one output file of the agent's job.
func (r *Service) PutAgentOutput(ctx context.Context, workspace, compute, agent, name, output, file string, body io.Reader) (*tandem.BlobRef, error) {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, true)
	if err != nil {
		return nil, err
	}
	_, outputs, _ := runSettings(j)
	if !contains(outputs, output) {
		return nil, tandem.Errorf(tandem.EInvalid, "job %q has no output %q (outputs: %s)", name, output, strings.Join(outputs, ", ")).WithTarget(output)
	}
	p, err := cleanOutputPath(file)
	if err != nil {
		return nil, err
	}
	ref, err := r.Blobs.Put(ctx, tandem.StoragePrefix(ws.ID)+tandem.RunFolder(name)+"outputs/"+output+"/"+p, body, nil)
	return &ref, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CompleteAgentJob records how the agent's job ended, with the log and the
// output files it uploaded (each checked in storage). A job canceled
// meanwhile keeps its status and gets the log and outputs.
func (r *Service) CompleteAgentJob(ctx context.Context, workspace, compute, agent, name string, res *tandem.AgentResult) (*tandem.Job, error) {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, true)
	if err != nil {
		return nil, err
	}
	prefix := tandem.StoragePrefix(ws.ID) + tandem.RunFolder(name)
	var blobs []tandem.BlobRef
	if ref, err := r.Blobs.Stat(ctx, prefix+"logs/std_log.txt"); err == nil {
		blobs = append(blobs, ref)
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return nil, err
	}
	outBlobs, err := r.checkedOutputs(ctx, ws.ID, j, res.Outputs)
	if err != nil {
		return nil, err
	}
	blobs = append(blobs, outBlobs...)
	// Named outputs of a successful run register as assets, as on local
	// compute.
	var produced []tandem.OutputAsset
	var registerErr error
	if !tandem.JobDone(j.Status) && !res.Canceled && res.Error == "" && !res.TimedOut && res.ExitCode == 0 {
		produced, registerErr = r.registerOutputs(ctx, JobRef{ws.ID, name}, blobs)
	}
	defer func() {
		if err := r.revokeJobToken(context.WithoutCancel(ctx), ws.ID, name); err != nil {
			r.Logger.Warn("cannot revoke job token", "job", name, "err", err)
		}
	}()
	err = r.UpdateJob(ctx, JobRef{ws.ID, name}, func(j *tandem.Job, stored *tandem.Resource) error {
		if j.Agent != agent {
			return tandem.Errorf(tandem.EConflict, "job %q was taken from agent %s", name, agent)
		}
		r.addRunBlobs(j, stored, blobs)
		if tandem.JobDone(j.Status) {
			return nil // canceled meanwhile: keep the status, take the log
		}
		j.OutputAssets = produced
		var exit *int
		if res.ExitCode >= 0 {
			code := res.ExitCode
			exit = &code
		}
		switch {
		case res.Canceled:
			r.EndJob(j, tandem.JobCanceled, "canceled", exit)
		case res.Error != "":
			r.EndJob(j, tandem.JobFailed, res.Error, exit)
		case registerErr != nil:
			r.EndJob(j, tandem.JobFailed, "registering outputs as assets failed: "+tandem.ErrorMessage(registerErr), exit)
		case res.TimedOut:
			r.EndJob(j, tandem.JobFailed, fmt.Sprintf("timed out after %s (limits.timeout)", jobDoc(j).Timeout()), exit)
		case res.ExitCode != 0:
			r.EndJob(j, tandem.JobFailed, fmt.Sprintf("command exited with code %d", res.ExitCode), exit)
		default:
			r.EndJob(j, tandem.JobCompleted, "", exit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.dropLiveLog(ws.ID, name)
	r.touchAgent(ws.ID, compute, agent, tandem.AgentHeartbeat{})
	r.wakeAgents(ws.ID, compute)
	r.Logger.Info("job ended on agent", "workspace", ws.Name, "job", name, "agent", agent)
	return r.FindJob(ctx, workspace, name)
}

// seedFiles lists the last uploaded outputs of the job j resubmits, for
// its agent to start from.
func (r *Service) seedFiles(ctx context.Context, wsID string, j *tandem.Job) []tandem.AgentOutput {
	if j.ResubmittedFrom == "" {
		return nil
	}
	orig, err := r.jobByID(ctx, wsID, j.ResubmittedFrom)
	if err != nil {
		return nil
	}
	var seed []tandem.AgentOutput
	for _, f := range orig.Outputs {
		o, p, ok := strings.Cut(f.Path, "/")
		if ok {
			seed = append(seed, tandem.AgentOutput{Output: o, Path: p, SHA256: f.SHA256, Size: f.Size})
		}
	}
	return seed
}

func (r *Service) jobByID(ctx context.Context, wsID, name string) (*tandem.Job, error) {
	var j *tandem.Job
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindJob, Name: name})
		if err != nil {
			return err
		}
		j, err = JobFromResource(res)
		return err
	})
	return j, err
}

// OpenAgentSeed returns one file the job's work seeds its outputs with.
func (r *Service) OpenAgentSeed(ctx context.Context, workspace, compute, agent, name string, index int) (io.ReadCloser, error) {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return nil, err
	}
	seed := r.seedFiles(ctx, ws.ID, j)
	if index < 0 || index >= len(seed) {
		return nil, tandem.Errorf(tandem.ENotFound, "job %q has no seed file %d", name, index)
	}
	f := seed[index]
	key := tandem.StoragePrefix(ws.ID) + tandem.RunFolder(j.ResubmittedFrom) + "outputs/" + f.Output + "/" + f.Path
	return r.Blobs.OpenVerified(ctx, tandem.BlobRef{Key: key, SHA256: f.SHA256, Size: f.Size})
}

// checkedOutputs returns the stored refs of output files an agent says it
// uploaded, each checked against what storage holds.
func (r *Service) checkedOutputs(ctx context.Context, wsID string, j *tandem.Job, outs []tandem.AgentOutput) ([]tandem.BlobRef, error) {
	prefix := tandem.StoragePrefix(wsID) + tandem.RunFolder(j.Name)
	_, outputs, _ := runSettings(j)
	var blobs []tandem.BlobRef
	for _, o := range outs {
		p, err := cleanOutputPath(o.Path)
		if err != nil {
			return nil, err
		}
		if !contains(outputs, o.Output) {
			return nil, tandem.Errorf(tandem.EInvalid, "job %q has no output %q", j.Name, o.Output).WithTarget(o.Output)
		}
		ref, err := r.Blobs.Stat(ctx, prefix+"outputs/"+o.Output+"/"+p)
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil, tandem.Errorf(tandem.EInvalid, "output file %s/%s was not uploaded", o.Output, p).WithTarget(o.Output + "/" + p)
		} else if err != nil {
			return nil, err
		}
		if ref.SHA256 != o.SHA256 || ref.Size != o.Size {
			return nil, tandem.Errorf(tandem.ECorrupt, "output file %s/%s is stored with sha256 %s (%d bytes), the agent sent %s (%d bytes)", o.Output, p, ref.SHA256, ref.Size, o.SHA256, o.Size)
		}
		blobs = append(blobs, ref)
	}
	return blobs, nil
}

// SyncAgentOutputs records output files (and the log, when stored) the
// agent uploaded while its job runs: one change entry, so the outputs
// replicate and a resubmission after a failover starts from them.
func (r *Service) SyncAgentOutputs(ctx context.Context, workspace, compute, agent, name string, outs []tandem.AgentOutput) error {
	ws, j, err := r.ownedJob(ctx, workspace, compute, agent, name, false)
	if err != nil {
		return err
	}
	blobs, err := r.checkedOutputs(ctx, ws.ID, j, outs)
	if err != nil {
		return err
	}
	if ref, err := r.Blobs.Stat(ctx, tandem.StoragePrefix(ws.ID)+tandem.RunFolder(name)+"logs/std_log.txt"); err == nil {
		blobs = append(blobs, ref)
	}
	if len(blobs) == 0 {
		return nil
	}
	err = r.UpdateJob(ctx, JobRef{ws.ID, name}, func(j *tandem.Job, res *tandem.Resource) error {
		if j.Agent != agent || tandem.JobDone(j.Status) {
			return tandem.Errorf(tandem.EConflict, "job %q is no longer agent %s's", name, agent)
		}
		r.addRunBlobs(j, res, blobs)
		return nil
	})
	return err
}

// ListAgents returns the cluster's agents, newest heartbeat first; those
// silent longer than the agent timeout are Lost.
func (r *Service) ListAgents(ctx context.Context, workspace, compute string) ([]*tandem.Agent, error) {
	ws, _, err := r.cluster(ctx, workspace, compute)
	if err != nil {
		return nil, err
	}
	return r.agentsOf(ws.ID, compute), nil
}

func (r *Service) agentsOf(wsID, compute string) []*tandem.Agent {
	reg := r.agentReg()
	now := r.Timestamp()
	reg.mu.Lock()
	var out []*tandem.Agent
	for key, a := range reg.agents {
		if strings.HasPrefix(key, wsID+"/"+compute+"/") {
			c := *a
			if now.Sub(c.LastHeartbeat) > r.agentTimeout() {
				c.State = tandem.AgentLost
			}
			out = append(out, &c)
		}
	}
	reg.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// RunAgentReaper requeues (or fails, once retries are spent) the cluster
// jobs whose agent has been silent for longer than the agent timeout,
// until ctx ends.
func (r *Service) RunAgentReaper(ctx context.Context) {
	tick := time.NewTicker(max(r.agentTimeout()/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := r.ReapAgents(ctx); err != nil && ctx.Err() == nil {
			r.Logger.Warn("agent reaper", "err", err)
		}
	}
}

// ReapAgents makes one pass of the agent reaper.
func (r *Service) ReapAgents(ctx context.Context) error {
	type lost struct {
		ref     JobRef
		compute string
		agent   string
	}
	var found []lost
	now := r.Timestamp()
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
				if err != nil || j.Compute == tandem.LocalCompute || j.Agent == "" {
					continue
				}
				if j.Status != tandem.JobPreparing && j.Status != tandem.JobRunning {
					continue
				}
				if now.Sub(r.lastHeard(ws.ID, j.Compute, j.Agent)) > r.agentTimeout() {
					found = append(found, lost{JobRef{ws.ID, j.Name}, j.Compute, j.Agent})
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range found {
		if err := r.CheckWritable(ctx, l.ref.WorkspaceID); err != nil {
			continue // a secondary's jobs are its primary's to handle
		}
		heard := r.lastHeard(l.ref.WorkspaceID, l.compute, l.agent)
		err := r.UpdateJob(ctx, l.ref, func(j *tandem.Job, _ *tandem.Resource) error {
			if j.Agent != l.agent || (j.Status != tandem.JobPreparing && j.Status != tandem.JobRunning) {
				return ErrSkip
			}
			why := fmt.Sprintf("agent %s stopped heartbeating (last heard %s, timeout %s) during attempt %d", l.agent, heard.Format(time.RFC3339), r.agentTimeout(), j.Attempts)
			if j.Attempts > r.MaxRetries {
				r.EndJob(j, tandem.JobFailed, fmt.Sprintf("%s; no retries left (max retries %d)", why, r.MaxRetries), nil)
				return nil
			}
			j.Status, j.Agent, j.StartedAt, j.Error = tandem.JobQueued, "", nil, why+"; queued again"
			return nil
		})
		if err != nil && err != ErrSkip {
			r.Logger.Warn("cannot requeue job of a lost agent", "job", l.ref.Name, "err", err)
			continue
		}
		if err == nil {
			r.Logger.Warn("agent lost", "workspace", l.ref.WorkspaceID, "job", l.ref.Name, "agent", l.agent)
			if err := r.revokeJobToken(ctx, l.ref.WorkspaceID, l.ref.Name); err != nil {
				r.Logger.Warn("cannot revoke the token of a lost agent's job", "job", l.ref.Name, "err", err)
			}
			r.dropLiveLog(l.ref.WorkspaceID, l.ref.Name)
			r.wakeAgents(l.ref.WorkspaceID, l.compute)
		}
	}
	return nil
}
