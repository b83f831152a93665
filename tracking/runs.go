package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
)

var _ tandem.MLflowRunService = (*Service)(nil)

// runStatus maps a job's status to MLflow's RunStatus.
func runStatus(status string) string {
	switch status {
	case tandem.JobRunning:
		return "RUNNING"
	case tandem.JobCompleted:
		return "FINISHED"
	case tandem.JobFailed, tandem.JobInterrupted:
		return "FAILED"
	case tandem.JobCanceled:
		return "KILLED"
	}
	return "SCHEDULED"
}

// jobStatuses maps MLflow's RunStatus to a job's status.
var jobStatuses = map[string]string{
	"RUNNING": tandem.JobRunning, "SCHEDULED": tandem.JobQueued, "FINISHED": tandem.JobCompleted,
	"FAILED": tandem.JobFailed, "KILLED": tandem.JobCanceled,
}

// runArtifactURI is where a run's artifacts are served (the bytes are the
// run's outputs, runs/<run>/outputs/).
func runArtifactURI(experimentID, run string) string {
	return "mlflow-artifacts:/" + experimentID + "/" + run + "/artifacts"
}

// experimentIndex finds the experiments of a workspace's jobs.
type experimentIndex struct {
	byName, byID map[string]*tandem.Experiment
}

func newExperimentIndex(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace) (*experimentIndex, error) {
	all, err := listExperiments(ctx, tx, ws)
	if err != nil {
		return nil, err
	}
	ix := &experimentIndex{byName: map[string]*tandem.Experiment{}, byID: map[string]*tandem.Experiment{}}
	for _, e := range all {
		ix.byName[e.Name], ix.byID[e.ID] = e, e
	}
	return ix, nil
}

// experimentOf is the experiment id of a job: its own for MLflow's runs;
// the one its experiment_name names for other jobs ("0" when it names
// none, or one not created yet).
func (ix *experimentIndex) experimentOf(j *tandem.Job) string {
	if j.ExperimentID != "" {
		return j.ExperimentID
	}
	if e, ok := ix.byName[j.ExperimentName]; ok && j.ExperimentName != "" {
		return e.ID
	}
	return tandem.DefaultExperimentID
}

// deleted reports whether an experiment is deleted: its runs are deleted
// with it, as in MLflow, and restored with it (derived when read, so that
// a delete stays one write).
func (ix *experimentIndex) deleted(id string) bool {
	e, ok := ix.byID[id]
	return ok && e.LifecycleStage == tandem.StageDeleted
}

// runInfo is MLflow's RunInfo of a job.
func runInfo(j *tandem.Job, experimentID string) *tandem.RunInfo {
	name := cmpOr(j.DisplayName, j.Name)
	info := &tandem.RunInfo{
		RunID: j.Name, RunUUID: j.Name, RunName: name, ExperimentID: experimentID, UserID: j.UserID,
		Status: runStatus(j.Status), StartTime: j.CreatedAt.UnixMilli(),
		ArtifactURI: runArtifactURI(experimentID, j.Name), LifecycleStage: cmpOr(j.LifecycleStage, tandem.StageActive),
	}
	if j.StartedAt != nil {
		info.StartTime = j.StartedAt.UnixMilli()
	}
	if j.EndedAt != nil {
		t := j.EndedAt.UnixMilli()
		info.EndTime = &t
	}
	return info
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// newRunID is an MLflow-style run id: 32 hexadecimal digits.
func newRunID() string { return strings.ReplaceAll(uuid.NewString(), "-", "") }

// CreateRun records a run created by an MLflow client as a job of type
// mlflow, Running, in one write.
func (r *Service) CreateRun(ctx context.Context, workspace string, req *tandem.RunCreate) (*tandem.Run, error) {
	for _, t := range req.Tags {
		if err := checkKey("tag", t.Key); err != nil {
			return nil, err
		}
	}
	expID := cmpOr(req.ExperimentID, tandem.DefaultExperimentID)
	var run *tandem.Run
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, true)
		if err != nil {
			return err
		}
		e, err := experimentByID(ctx, tx, ws, expID)
		if err != nil {
			return err
		}
		if e.LifecycleStage != tandem.StageActive {
			return tandem.Errorf(tandem.EInvalid, "experiment '%s' is deleted: restore it before creating runs in it", expID).WithTarget(expID)
		}
		now := r.Timestamp()
		start := now
		if req.StartTime > 0 {
			start = time.UnixMilli(req.StartTime).UTC()
		}
		j := &tandem.Job{Name: newRunID(), Type: tandem.JobTypeMLflow, DisplayName: req.RunName, ExperimentName: e.Name,
			ExperimentID: e.ID, UserID: req.UserID, Status: tandem.JobRunning, Spec: map[string]any{"type": tandem.JobTypeMLflow}, CreatedAt: now, StartedAt: &start}
		if err := r.putRunJob(ctx, tx, ws, j, tandem.OpCreate); err != nil {
			return err
		}
		run = &tandem.Run{Job: j, Info: runInfo(j, e.ID), Data: runData([]*tandem.RunLog{{Tags: req.Tags}})}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(req.Tags) > 0 {
		// The tags are the run's first record: a write of its own.
		if err := r.LogRun(ctx, workspace, run.Job.Name, &tandem.RunLog{Tags: req.Tags}); err != nil {
			return nil, err
		}
	}
	return run, nil
}

// putRunJob stores a run's job: one resource, one change.
func (r *Service) putRunJob(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, j *tandem.Job, op tandem.Op) error {
	body, err := json.Marshal(j)
	if err != nil {
		return err
	}
	now := r.Timestamp()
	res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: j.Name, Spec: body, CreatedAt: j.CreatedAt, UpdatedAt: now}
	if err := tx.PutResource(ctx, res); err != nil {
		return err
	}
	return r.LogChange(ctx, tx, ws.ID, tandem.KindJob, j.Name, "", op, res)
}

// updateRunJob changes a run's job in one write; fn returning errSkip
// writes nothing.
func (r *Service) updateRunJob(ctx context.Context, workspace, run string, fn func(j *tandem.Job) error) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := runWorkspace(ctx, tx, workspace, run)
		if err != nil {
			return err
		}
		j, err := findRunJob(ctx, tx, ws, run)
		if err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
		return r.putRunJob(ctx, tx, ws, j, tandem.OpUpdate)
	})
}

// errSkip ends an update without a write.
var errSkip = errors.New("skip")

// UpdateRun changes an MLflow run's status, end time and name. A job's
// own run is the job's: the call is accepted and changes nothing.
func (r *Service) UpdateRun(ctx context.Context, workspace, run string, u *tandem.RunUpdate) (*tandem.Run, error) {
	status, ok := jobStatuses[u.Status]
	if u.Status != "" && !ok {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid run status %q: use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED", u.Status).WithTarget("status")
	}
	err := r.updateRunJob(ctx, workspace, run, func(j *tandem.Job) error {
		if j.Type != tandem.JobTypeMLflow {
			return errSkip
		}
		if u.RunName != "" {
			j.DisplayName = u.RunName
		}
		if status != "" {
			j.Status = status
		}
		if u.EndTime > 0 {
			t := time.UnixMilli(u.EndTime).UTC()
			j.EndedAt = &t
		} else if tandem.JobDone(j.Status) && j.EndedAt == nil {
			t := r.Timestamp()
			j.EndedAt = &t
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		return nil, err
	}
	return r.GetRun(ctx, workspace, run)
}

// DeleteRun marks a run deleted (MLflow's soft delete).
func (r *Service) DeleteRun(ctx context.Context, workspace, run string) error {
	return r.setRunStage(ctx, workspace, run, tandem.StageDeleted)
}

// RestoreRun makes a deleted run active again.
func (r *Service) RestoreRun(ctx context.Context, workspace, run string) error {
	return r.setRunStage(ctx, workspace, run, "")
}

func (r *Service) setRunStage(ctx context.Context, workspace, run, stage string) error {
	if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" {
		return tandem.Errorf(tandem.EForbidden, "a job's token may not delete or restore runs")
	}
	return r.updateRunJob(ctx, workspace, run, func(j *tandem.Job) error {
		j.LifecycleStage = stage
		return nil
	})
}

// DeleteRunTag removes a tag from a run: a record of its own.
func (r *Service) DeleteRunTag(ctx context.Context, workspace, run, key string) error {
	got, err := r.GetRun(ctx, workspace, run)
	if err != nil {
		return err
	}
	if _, ok := tagValue(got.Data.Tags, key); !ok {
		return tandem.Errorf(tandem.ENotFound, "no tag with name: %s in run with id %s", key, run).WithTarget(key)
	}
	return r.LogRun(ctx, workspace, run, &tandem.RunLog{DeletedTags: []string{key}})
}

// jobRun reads a job's run inside a read.
func jobRun(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, ix *experimentIndex, j *tandem.Job) (*tandem.Run, error) {
	recs, err := allRecords(ctx, tx, ws.ID, j.Name)
	if err != nil {
		return nil, err
	}
	id := ix.experimentOf(j)
	info := runInfo(j, id)
	if ix.deleted(id) {
		info.LifecycleStage = tandem.StageDeleted
	}
	return &tandem.Run{Job: j, Info: info, Data: runData(recs)}, nil
}
