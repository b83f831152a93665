package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/compute"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

var _ tandem.JobService = (*Service)(nil)

var ErrSkip = fmt.Errorf("skip")

func (r *Service) EndJob(j *tandem.Job, status, msg string, exit *int) {
	now := r.Timestamp()
	j.Status, j.Error, j.ExitCode, j.EndedAt = status, msg, exit, &now
}

// CreateJob validates a command job for local compute, copies its code
// snapshot to runs/<name>/code/, records it as Queued and schedules it.
func (r *Service) CreateJob(ctx context.Context, workspace string, req *tandem.JobRequest) (*tandem.Job, error) {
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	if req, err = r.stageStoredCode(ctx, ws, req); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(req.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "spec is not a JSON document: %v", err)
	}
	doc, err := spec.Parse(raw, "request", spec.Options{Kind: "job", NoFS: true})
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	if doc.Type == "pipeline" {
		return r.createPipeline(ctx, ws, doc, req)
	}
	if doc.Type != "command" {
		return nil, tandem.Errorf(tandem.EInvalid, "%s jobs are not supported yet; only command and pipeline jobs run", doc.Type).WithTarget("type")
	}
	j, d, err := r.newCommandJob(ctx, workspace, doc)
	if err != nil {
		return nil, err
	}
	if err := r.checkJobRequest(ctx, ws, j.Name, doc, req); err != nil {
		return nil, err
	}
	plan, req, err := r.resolveInputs(ctx, ws, j.Name, d, req)
	if err != nil {
		return nil, err
	}
	j.Inputs = plan.inputs
	blobs, err := r.snapshotJob(ctx, ws.ID, j, d, plan, req)
	if err != nil {
		return nil, err
	}
	if err := r.RecordNewJob(ctx, ws, j, blobs, req.Files); err != nil {
		return nil, err
	}
	r.Logger.Info("job queued", "workspace", ws.Name, "job", j.Name, "compute", j.Compute)
	if j.Compute == tandem.LocalCompute {
		r.jobs().enqueue(JobRef{ws.ID, j.Name})
	} else {
		r.wakeAgents(ws.ID, j.Compute) // agents of the cluster claim it
	}
	return j, nil
}

// newCommandJob reads a command job document into the job CreateJob
// records: its name, the compute it runs on and its command with the
// inputs substituted.
func (r *Service) newCommandJob(ctx context.Context, workspace string, doc *spec.Document) (*tandem.Job, *jobdoc.Job, error) {
	d, err := jobdoc.ReadJob(doc.Fields)
	if err != nil {
		return nil, nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	d.SetDefaultDatastore(assets.DefaultDatastore)
	j := &tandem.Job{Name: doc.Name, Type: doc.Type, Description: doc.Description, Tags: doc.Tags, Status: tandem.JobQueued, Parent: ParentOf(ctx),
		DisplayName: d.DisplayName, ExperimentName: d.ExperimentName}
	target, err := r.jobCompute(ctx, workspace, d.Compute)
	if err != nil {
		return nil, nil, err
	}
	if err := checkInstances(d, target); err != nil {
		return nil, nil, err
	}
	j.Compute = target.Name
	if j.Name == "" {
		j.Name = NewJobName()
	} else if err := tandem.ValidateAssetName(j.Name); err != nil {
		return nil, nil, err
	}
	if j.Command, err = SubstituteInputs(d); err != nil {
		return nil, nil, err
	}
	return j, d, nil
}

// checkJobRequest checks what a job document names outside itself: its
// uploaded paths and staged files, the assets it references (but its
// environment: references to curated or registry environments only label
// a host run, so they are recorded, not resolved), and that no job of its
// name exists.
func (r *Service) checkJobRequest(ctx context.Context, ws *tandem.Workspace, name string, doc *spec.Document, req *tandem.JobRequest) error {
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
		if !strings.HasPrefix(ref.Field, "environment") {
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

// snapshotJob records the job's document (named, its compute and resolved
// inputs written in, its uploaded code pointing at runs/<name>/code) and
// stores its code snapshot and input files. It returns the blobs the job
// holds; on error none is left.
func (r *Service) snapshotJob(ctx context.Context, wsID string, j *tandem.Job, d *jobdoc.Job, plan *inputPlan, req *tandem.JobRequest) ([]tandem.BlobRef, error) {
	d.Name = j.Name
	d.Compute = "azureml:" + j.Compute
	recordInputs(d, j.Inputs)
	j.Spec = d.Map()
	roots := map[string]tandem.AssetPath{}
	for _, p := range req.Paths {
		roots[p.Field] = p
		uri := assets.DatastoreURI(tandem.RunFolder(j.Name) + "code")
		if p.Dir {
			uri += "/"
		}
		assets.SetField(j.Spec, p.Field, uri)
	}
	var blobs []tandem.BlobRef
	for _, f := range req.Files {
		rel := "code"
		if p := roots[f.Field]; p.Dir {
			rel = "code/" + strings.TrimPrefix(f.Path, p.Root+"/")
		} else {
			rel = "code/" + p.Root
		}
		f.Path = rel
		j.Files = append(j.Files, f)
	}
	sort.Slice(j.Files, func(a, b int) bool { return j.Files[a].Path < j.Files[b].Path })
	// The code snapshot goes to the content-addressed code store: a file
	// the workspace already holds (an earlier job's) is not stored again.
	j.CodeStore = codeStoreSHA256
	for _, f := range j.Files {
		ref, err := r.storeCode(ctx, wsID, tandem.BlobRef{Key: region.StagingKey(wsID, f.SHA256), SHA256: f.SHA256, Size: f.Size})
		if err != nil {
			return nil, fmt.Errorf("store code file %s of job %s: %w", f.Path, j.Name, err)
		}
		blobs = addBlob(blobs, ref)
	}
	more, err := r.copyInputFiles(ctx, wsID, j, plan, req.Files)
	if blobs = append(blobs, more...); err != nil {
		r.RemoveBlobs(ctx, blobs)
		return nil, err
	}
	return blobs, nil
}

var (
	jobAdjectives = []string{"amber", "brave", "calm", "dreamy", "eager", "frosty", "gentle", "happy", "icy", "jolly", "keen", "lucid", "mellow", "nimble", "olive", "plucky", "quiet", "rustic", "sunny", "tidy", "upbeat", "vivid", "witty", "zesty"}
	jobNouns      = []string{"apple", "brush", "cloud", "drum", "engine", "fox", "garden", "heart", "island", "jelly", "kite", "lemon", "moon", "night", "ocean", "pepper", "quail", "river", "stone", "tiger", "umbrella", "violin", "whale", "yarn"}
)

// NewJobName returns a name like Azure's generated ones: adjective_noun_hex.
func NewJobName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return jobAdjectives[int(b[0])%len(jobAdjectives)] + "_" + jobNouns[int(b[1])%len(jobNouns)] + "_" + hex.EncodeToString(b[2:])
}

// SubstituteInputs returns the job's command with literal inputs in place
// of ${{inputs.x}}, and optional $[[...]] parts kept when their inputs are
// given and dropped otherwise (jobdoc.SubstituteInputs); a reference to an
// input without a value is EInvalid, targeting the command.
func SubstituteInputs(d *jobdoc.Job) (string, error) {
	command, err := d.SubstituteInputs()
	var undefined *jobdoc.UndefinedInputError
	if errors.As(err, &undefined) {
		return "", tandem.Errorf(tandem.EInvalid, "%s", undefined.Error()).WithTarget("command")
	}
	return command, err
}

// jobDoc reads the document a job was recorded with. CreateJob parsed it,
// so it reads; one that does not (written by hand into the store) runs as
// if it said nothing: no environment variables, outputs, limits or image.
func jobDoc(j *tandem.Job) *jobdoc.Job {
	d, err := jobdoc.ReadJob(j.Spec)
	if err != nil {
		return &jobdoc.Job{}
	}
	return d
}

func jobResource(wsID string, j *tandem.Job, blobs []tandem.BlobRef) (*tandem.Resource, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	return &tandem.Resource{
		WorkspaceID: wsID, Kind: tandem.KindJob, Name: j.Name,
		Spec: b, Blobs: blobs, CreatedAt: j.CreatedAt, UpdatedAt: j.CreatedAt,
	}, nil
}

func JobFromResource(res *tandem.Resource) (*tandem.Job, error) {
	var j tandem.Job
	if err := json.Unmarshal(res.Spec, &j); err != nil {
		return nil, fmt.Errorf("decode job %s: %w", res.Name, err)
	}
	return &j, nil
}

// UpdateJob changes a job in one transaction with its change entry (one
// entry per status transition, so replicas follow the job). fn returning
// errSkip leaves the job as it is.
func (r *Service) UpdateJob(ctx context.Context, ref JobRef, fn func(j *tandem.Job, res *tandem.Resource) error) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ref.WorkspaceID, Kind: tandem.KindJob, Name: ref.Name})
		if err != nil {
			return err
		}
		j, err := JobFromResource(res)
		if err != nil {
			return err
		}
		if err := fn(j, res); err != nil {
			return err
		}
		if err := putJob(ctx, tx, res, j, r.Timestamp()); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ref.WorkspaceID, tandem.KindJob, ref.Name, "", tandem.OpUpdate, res)
	})
}

// RecordNewJob records a new job with its blobs in one transaction with
// its change entry; on failure the blobs written for it go, on success the
// staged files it was made from.
func (r *Service) RecordNewJob(ctx context.Context, ws *tandem.Workspace, j *tandem.Job, blobs []tandem.BlobRef, staged []tandem.AssetFile) error {
	j.CreatedAt = r.Timestamp()
	res, err := jobResource(ws.ID, j, blobs)
	if err == nil {
		err = r.Store.Update(ctx, func(tx tandem.Tx) error {
			if _, err := r.LiveWorkspace(ctx, tx, ws.Name); err != nil {
				return err
			}
			if _, err := tx.FindResource(ctx, res.Key()); err == nil {
				return tandem.Errorf(tandem.EConflict, "job %q was created concurrently", j.Name)
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
			return r.LogChange(ctx, tx, ws.ID, tandem.KindJob, j.Name, "", tandem.OpCreate, res)
		})
	}
	if err != nil {
		r.RemoveBlobs(ctx, blobs)
		return err
	}
	for _, f := range staged {
		_ = r.Blobs.Delete(ctx, region.StagingKey(ws.ID, f.SHA256))
	}
	return nil
}

// putJob stores j as res's body.
func putJob(ctx context.Context, tx tandem.Tx, res *tandem.Resource, j *tandem.Job, now time.Time) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	res.Spec, res.UpdatedAt = b, now
	return tx.PutResource(ctx, res)
}

// finishJob stores the log and outputs of a run and records its end.
func (r *Service) finishJob(ctx context.Context, ref JobRef, res *compute.Result, rj *RunningJob) {
	if r.keepDemotedRun(ctx, ref, res, rj) {
		return
	}
	var blobs []tandem.BlobRef
	var uploadErr error
	if res != nil && res.Log != "" {
		var ups []compute.Uploaded
		ups, uploadErr = r.runUploader(ref).Upload(ctx, res.Outputs, res.Log)
		blobs = compute.Refs(ups)
	}
	r.jobs().mu.Lock()
	canceled := rj.canceled
	r.jobs().mu.Unlock()
	var produced []tandem.OutputAsset
	var registerErr error
	if res != nil && !canceled && !res.Canceled && res.Err == nil && !res.TimedOut && res.ExitCode == 0 && uploadErr == nil {
		produced, registerErr = r.registerOutputs(ctx, ref, blobs)
	}
	err := r.UpdateJob(ctx, ref, func(j *tandem.Job, stored *tandem.Resource) error {
		if tandem.JobDone(j.Status) {
			return ErrSkip
		}
		r.addRunBlobs(j, stored, blobs)
		j.OutputAssets = produced
		var exit *int
		if res != nil && res.ExitCode >= 0 {
			code := res.ExitCode
			exit = &code
		}
		switch {
		case canceled:
			r.EndJob(j, tandem.JobCanceled, "canceled", exit)
		case res == nil || res.Canceled:
			r.EndJob(j, tandem.JobFailed, "interrupted: server stopped", exit)
		case res.Err != nil:
			r.EndJob(j, tandem.JobFailed, res.Err.Error(), exit)
		case res.TimedOut:
			r.EndJob(j, tandem.JobFailed, fmt.Sprintf("timed out after %s (limits.timeout)", jobDoc(j).Timeout()), exit)
		case res.ExitCode != 0:
			r.EndJob(j, tandem.JobFailed, fmt.Sprintf("command exited with code %d", res.ExitCode), exit)
		case uploadErr != nil:
			r.EndJob(j, tandem.JobFailed, "storing logs and outputs failed: "+uploadErr.Error(), exit)
		case registerErr != nil:
			r.EndJob(j, tandem.JobFailed, "registering outputs as assets failed: "+tandem.ErrorMessage(registerErr), exit)
		default:
			r.EndJob(j, tandem.JobCompleted, "", exit)
		}
		return nil
	})
	if err != nil && err != ErrSkip {
		r.Logger.Error("cannot record job end", "job", ref.Name, "err", err)
		return
	}
	r.Logger.Info("job ended", "workspace", ref.WorkspaceID, "job", ref.Name)
}

// FindJob returns one job.
func (r *Service) FindJob(ctx context.Context, workspace, name string) (*tandem.Job, error) {
	var j *tandem.Job
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: name})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "job %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		j, err = JobFromResource(res)
		return err
	})
	return j, err
}

// ListJobs returns the workspace's jobs, newest first.
func (r *Service) ListJobs(ctx context.Context, workspace string) ([]*tandem.Job, error) {
	var out []*tandem.Job
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindJob})
		if err != nil {
			return err
		}
		for _, res := range list {
			j, err := JobFromResource(res)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	sort.SliceStable(out, func(a, b int) bool { return out[a].CreatedAt.After(out[b].CreatedAt) })
	return out, err
}

// CancelJob ends a queued or running job.
func (r *Service) CancelJob(ctx context.Context, workspace, name string) (*tandem.Job, error) {
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	j, err := r.FindJob(ctx, workspace, name)
	if err != nil {
		return nil, err
	}
	if tandem.JobDone(j.Status) {
		return nil, tandem.Errorf(tandem.EConflict, "job %q already ended (%s)", name, j.Status).WithTarget(name)
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	jr := r.jobs()
	jr.mu.Lock()
	rj := jr.running[ws.ID+"/"+name]
	if rj != nil {
		rj.canceled = true
	}
	jr.mu.Unlock()
	if rj != nil {
		rj.cancel()
		select {
		case <-rj.done:
		case <-time.After(15 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return r.FindJob(ctx, workspace, name)
	}
	err = r.UpdateJob(ctx, JobRef{ws.ID, name}, func(j *tandem.Job, _ *tandem.Resource) error {
		if tandem.JobDone(j.Status) {
			return ErrSkip
		}
		r.EndJob(j, tandem.JobCanceled, "canceled", nil)
		return nil
	})
	if err != nil && err != ErrSkip {
		return nil, err
	}
	return r.FindJob(ctx, workspace, name)
}

// OpenJobLog returns the log so far: the live file while the job runs
// here, the stored std_log.txt after; empty before it starts.
func (r *Service) OpenJobLog(ctx context.Context, workspace, name string) (io.ReadCloser, error) {
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	j, err := r.FindJob(ctx, workspace, name)
	if err != nil {
		return nil, err
	}
	if !tandem.JobDone(j.Status) {
		jr := r.jobs()
		jr.mu.Lock()
		var log string
		if rj := jr.running[ws.ID+"/"+name]; rj != nil {
			log = rj.log
		}
		jr.mu.Unlock()
		if log != "" {
			if b, err := os.ReadFile(log); err == nil {
				return io.NopCloser(bytes.NewReader(b)), nil
			}
		}
		if b, ok := r.openLiveAgentLog(ws.ID, name); ok {
			return io.NopCloser(bytes.NewReader(b)), nil
		}
		// It may have ended in between: fall through to storage.
	}
	rc, err := r.Blobs.Open(ctx, tandem.StoragePrefix(ws.ID)+tandem.RunFolder(name)+"logs/std_log.txt")
	if tandem.IsCode(err, tandem.ENotFound) {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return rc, err
}

// RequestedCompute is the property a step's child job records the compute
// its pipeline asked for, when it runs on local instead.
const RequestedCompute = "tandem.requested_compute"

type parentKey struct{}

// WithParent marks jobs created with ctx as steps of the pipeline parent.
func WithParent(ctx context.Context, parent string) context.Context {
	return context.WithValue(ctx, parentKey{}, parent)
}

func ParentOf(ctx context.Context) string {
	p, _ := ctx.Value(parentKey{}).(string)
	return p
}
