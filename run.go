package tandem

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// KindJobMetric is the resource kind of a job's tracking records: each
// accepted MLflow-style call (log-metric, log-batch, log-parameter,
// set-tag) is one immutable record, named "<job>/params" when it holds
// parameters, "<job>/metric/<key>" when it holds points of one metric
// only, "<job>/log" otherwise; its version is the sequence number of the
// change that wrote it, zero-padded so that versions sort in write order,
// and the region that wrote it ("000000000042-eastus").
const KindJobMetric Kind = "jobmetric"

// MetricValue is a metric's value. MLflow allows NaN and infinities, which
// JSON numbers cannot hold: they are written as the strings "NaN",
// "Infinity" and "-Infinity", as MLflow's own REST API writes them, and
// read from either form.
type MetricValue float64

// MarshalJSON writes finite values as numbers and the others as strings.
func (v MetricValue) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return []byte(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// UnmarshalJSON reads a number, or a string holding a number, "NaN",
// "Infinity" or "-Infinity".
func (v *MetricValue) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	switch s {
	case "NaN", "nan":
		*v = MetricValue(math.NaN())
		return nil
	case "Infinity", "inf", "+Infinity":
		*v = MetricValue(math.Inf(1))
		return nil
	case "-Infinity", "-inf":
		*v = MetricValue(math.Inf(-1))
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("metric value %s is not a number", b)
	}
	*v = MetricValue(f)
	return nil
}

// Metric is one point of a run's metric, as MLflow names its fields.
type Metric struct {
	Key       string      `json:"key"`
	Value     MetricValue `json:"value"`
	Timestamp int64       `json:"timestamp"` // milliseconds since the Unix epoch
	Step      int64       `json:"step"`
}

// RunParam is a run's parameter or tag.
type RunParam struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// RunLog is what one tracking call logs to a run: it is stored as one
// record, in one transaction with one change-log entry.
type RunLog struct {
	Metrics []Metric   `json:"metrics,omitempty"`
	Params  []RunParam `json:"params,omitempty"`
	Tags    []RunParam `json:"tags,omitempty"`
	// DeletedTags are tags removed from the run (MLflow's delete-tag).
	DeletedTags []string `json:"deleted_tags,omitempty"`
	// Inputs are MLflow dataset inputs (log-inputs), each kept as the
	// client sent it: {"tags": [...], "dataset": {...}}.
	Inputs []json.RawMessage `json:"inputs,omitempty"`
}

// RunData is a run's tracking state: the latest point of each metric (the
// largest step, then timestamp, then value, as MLflow chooses it), its
// parameters and its tags, each sorted by key.
type RunData struct {
	Metrics []Metric   `json:"metrics"`
	Params  []RunParam `json:"params"`
	Tags    []RunParam `json:"tags"`
	// Inputs are the run's dataset inputs, each once, in logging order.
	Inputs []json.RawMessage `json:"inputs,omitempty"`
}

// Run is a job seen as a tracked run.
type Run struct {
	Job  *Job     `json:"job"`
	Info *RunInfo `json:"info,omitempty"`
	Data RunData  `json:"data"`
}

// RunInfo is MLflow's RunInfo of a job, with MLflow's field names; times
// are milliseconds since the Unix epoch.
type RunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"` // MLflow's deprecated name for run_id
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"` // RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

// JobTypeMLflow is the type of the job that records an MLflow run created
// outside any job (runs/create), so that job lists show it as Azure ML
// studio shows MLflow runs.
const JobTypeMLflow = "mlflow"

// RunCreate asks for a new run of an experiment ("" is experiment 0).
type RunCreate struct {
	ExperimentID string     `json:"experiment_id"`
	RunName      string     `json:"run_name,omitempty"`
	UserID       string     `json:"user_id,omitempty"`    // MLflow's RunInfo.user_id
	StartTime    int64      `json:"start_time,omitempty"` // 0: now
	Tags         []RunParam `json:"tags,omitempty"`
}

// RunUpdate changes a run: Status is MLflow's (RUNNING, SCHEDULED,
// FINISHED, FAILED, KILLED), mapped to the job's; EndTime in
// milliseconds; empty fields are left as they are.
type RunUpdate struct {
	Status  string `json:"status,omitempty"`
	EndTime int64  `json:"end_time,omitempty"`
	RunName string `json:"run_name,omitempty"`
}

// RunSearch asks for a page of the runs of some experiments: Filter in
// MLflow's syntax (metrics.x > 0.5 AND params.lr = '0.1' AND tags.k LIKE
// 'v%' AND attributes.status = 'FINISHED'), OrderBy terms such as
// "metrics.loss ASC" or "attributes.start_time DESC", ViewType as for
// experiments.
type RunSearch struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter,omitempty"`
	OrderBy       []string `json:"order_by,omitempty"`
	ViewType      string   `json:"view_type,omitempty"`
	MaxResults    int      `json:"max_results,omitempty"`
	PageToken     string   `json:"page_token,omitempty"`
}

// RunPage is one page of a run search; NextPageToken is "" on the last.
type RunPage struct {
	Runs          []*Run `json:"runs"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// MLflowRunService is the life of MLflow runs beyond logging: runs created
// by MLflow clients outside jobs, their status, deletion and search.
//
// Errors: ENotFound for unknown workspaces, experiments and runs;
// EInvalid for bad statuses, filters and tokens.
type MLflowRunService interface {
	// CreateRun records a job of type mlflow, Running, as a run of the
	// experiment.
	CreateRun(ctx context.Context, workspace string, req *RunCreate) (*Run, error)
	// UpdateRun changes the status, end time and name of a run created
	// by CreateRun; on a job's own run it changes nothing (the job's
	// process owns its status).
	UpdateRun(ctx context.Context, workspace, run string, u *RunUpdate) (*Run, error)
	// DeleteRun and RestoreRun set the run's lifecycle stage.
	DeleteRun(ctx context.Context, workspace, run string) error
	RestoreRun(ctx context.Context, workspace, run string) error
	DeleteRunTag(ctx context.Context, workspace, run, key string) error
	SearchRuns(ctx context.Context, workspace string, q *RunSearch) (*RunPage, error)
}

// OutputAsset is an asset version a job's output was registered as.
type OutputAsset struct {
	Output  string `json:"output"`
	Kind    Kind   `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// JobFile is one stored file of a job, relative to its run folder
// (runs/<job>/): code/..., logs/std_log.txt, outputs/<name>/...
type JobFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// JobTokenName returns the name of the token a job of workspace wsID runs
// with. The ':' keeps it apart from the names users may give tokens.
func JobTokenName(wsID, job string) string { return "job:" + wsID + ":" + job }

// Job returns the name of the job a job token belongs to, "" for other
// tokens. A job token may only track its own job's run.
func (t *Token) Job() string {
	rest, ok := strings.CutPrefix(t.Name, "job:")
	if !ok || t.WorkspaceID == "" {
		return ""
	}
	ws, job, ok := strings.Cut(rest, ":")
	if !ok || ws != t.WorkspaceID {
		return ""
	}
	return job
}

// RunService tracks the runs of jobs (metrics, parameters, tags, the
// MLflow-compatible API). A run is a job: its id is the job's name.
//
// Errors: ENotFound for unknown workspaces, jobs and metrics;
// EInvalid for values that break MLflow's rules (among them a parameter
// logged again with another value); EForbidden for a job token used for
// another run.
type RunService interface {
	// LogRun stores one record of metrics, parameters and tags.
	LogRun(ctx context.Context, workspace, job string, l *RunLog) error
	// GetRun returns the job with its latest metrics, parameters and tags.
	GetRun(ctx context.Context, workspace, job string) (*Run, error)
	// MetricHistory returns every point of one metric, or of every metric
	// when key is "", ordered by timestamp, then step, then logging order.
	MetricHistory(ctx context.Context, workspace, job, key string) ([]Metric, error)
}
