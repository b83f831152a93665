package tandem

import (
	"context"
	"io"
	"time"
)

// KindJob is the resource kind of jobs (unversioned).
const KindJob Kind = "job"

// Job statuses, as Azure ML names them.
const (
	JobQueued    = "Queued"
	JobPreparing = "Preparing"
	JobRunning   = "Running"
	JobCompleted = "Completed"
	JobFailed    = "Failed"
	JobCanceled  = "Canceled"
	// JobInterrupted is Tandem's own final status: the job was Queued,
	// Preparing or Running in a region that lost the primary role of its
	// workspace (a failover); see ResubmittedAs.
	JobInterrupted = "Interrupted"
)

// JobDone reports whether status is final.
func JobDone(status string) bool {
	return status == JobCompleted || status == JobFailed || status == JobCanceled || status == JobInterrupted
}

// LocalCompute is the built-in compute: jobs run as processes on the
// server host.
const LocalCompute = "local"

// Job is one run of an Azure ML job document. Spec is the document with
// its local paths replaced by the azureml:// URIs of the uploaded copies.
type Job struct {
	Name           string `json:"name"`
	Type           string `json:"type"`
	DisplayName    string `json:"display_name,omitempty"`
	ExperimentName string `json:"experiment_name,omitempty"`
	// ExperimentID is the MLflow experiment of a run created by MLflow
	// (type mlflow); other jobs find theirs by ExperimentName.
	ExperimentID string `json:"experiment_id,omitempty"`
	// UserID is the user_id an MLflow client gave when it created the
	// run (runs/create), reported as the run's user_id.
	UserID string `json:"user_id,omitempty"`
	// LifecycleStage is the run's MLflow lifecycle stage: "" (active) or
	// "deleted".
	LifecycleStage string               `json:"lifecycle_stage,omitempty"`
	Description    string               `json:"description,omitempty"`
	Tags           map[string]string    `json:"tags,omitempty"`
	Status         string               `json:"status"`
	Compute        string               `json:"compute"`
	Command        string               `json:"command,omitempty"` // with ${{inputs.x}} substituted
	Spec           map[string]any       `json:"spec"`
	Files          []AssetFile          `json:"files,omitempty"`  // the code snapshot, under runs/<name>/
	Inputs         map[string]*JobInput `json:"inputs,omitempty"` // data and model inputs, resolved at create
	Parent         string               `json:"parent,omitempty"` // the pipeline job of a step
	Steps          []JobStep            `json:"steps,omitempty"`  // a pipeline's graph
	ExitCode       *int                 `json:"exit_code,omitempty"`
	Error          string               `json:"error,omitempty"`
	CreatedAt      time.Time            `json:"created_at"`
	StartedAt      *time.Time           `json:"started_at,omitempty"`
	EndedAt        *time.Time           `json:"ended_at,omitempty"`
	// Agent is the agent that runs (or last ran) a job on a cluster;
	// Attempts counts the times agents took it.
	Agent    string `json:"agent,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// CodeStore says where the code snapshot's files are: "sha256" for
	// the workspace's content-addressed code store (code/<sha256>, each
	// content stored once, shared by every job that has it); empty for
	// jobs from before it, whose files are under runs/<name>/.
	CodeStore string `json:"code_store,omitempty"`
	// OutputAssets are the asset versions the job's named outputs were
	// registered as after it completed (lineage).
	OutputAssets []OutputAsset `json:"output_assets,omitempty"`

	// Outputs are the output files last uploaded (path "<output>/<file>"
	// under runs/<name>/outputs/): periodically while the job runs, and at
	// its end. OutputsSyncedAt is when they were.
	Outputs         []AssetFile `json:"outputs,omitempty"`
	OutputsSyncedAt *time.Time  `json:"outputs_synced_at,omitempty"`
	// ResubmittedFrom names the interrupted job this one resubmits (its
	// outputs were seeded from that job's last uploaded outputs);
	// ResubmittedAs, on an interrupted job, names its resubmission.
	ResubmittedFrom string `json:"resubmitted_from,omitempty"`
	ResubmittedAs   string `json:"resubmitted_as,omitempty"`
	// InterruptedEpoch is the epoch of the failover that interrupted it.
	InterruptedEpoch int64 `json:"interrupted_epoch,omitempty"`
}

// JobRequest asks to run a job. Spec is the parsed document; its local
// paths (the code directory) are described by Paths and their bytes,
// staged beforehand with AssetService.StageBlob, by Files.
type JobRequest struct {
	Spec  map[string]any `json:"spec"`
	Paths []AssetPath    `json:"paths,omitempty"`
	Files []AssetFile    `json:"files,omitempty"`
}

// JobService runs jobs and serves their records and logs.
//
// Errors: ENotFound for unknown workspaces and jobs; EInvalid for documents
// that break a rule or ask for what is not supported (yet); EConflict for
// a job name that is taken, or a cancel of a finished job.
type JobService interface {
	// CreateJob records the job as Queued and schedules it.
	CreateJob(ctx context.Context, workspace string, req *JobRequest) (*Job, error)
	FindJob(ctx context.Context, workspace, name string) (*Job, error)
	// ListJobs returns the workspace's jobs, newest first.
	ListJobs(ctx context.Context, workspace string) ([]*Job, error)
	// CancelJob ends a queued or running job; the status becomes Canceled.
	CancelJob(ctx context.Context, workspace, name string) (*Job, error)
	// OpenJobLog returns the job's log so far (live while it runs, the
	// stored std_log.txt once it ended).
	OpenJobLog(ctx context.Context, workspace, name string) (io.ReadCloser, error)
	// ListJobFiles returns the job's stored files, ordered by path.
	ListJobFiles(ctx context.Context, workspace, job string) ([]JobFile, error)
	// OpenJobFile returns a reader that verifies the file's sha256 as it
	// reads.
	OpenJobFile(ctx context.Context, workspace, job, path string) (*JobFile, io.ReadCloser, error)
}
