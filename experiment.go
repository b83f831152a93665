package tandem

import (
	"context"
	"strings"
)

// KindExperiment is the resource kind of MLflow experiments (unversioned):
// the resource's name is the experiment's id, its spec the Experiment.
const KindExperiment Kind = "experiment"

// The experiment every workspace has, as every MLflow tracking server has.
const (
	DefaultExperimentID   = "0"
	DefaultExperimentName = "Default"
)

// Lifecycle stages of experiments and runs, as MLflow names them.
const (
	StageActive  = "active"
	StageDeleted = "deleted"
)

// Experiment is an MLflow experiment, with MLflow's field names; times are
// milliseconds since the Unix epoch.
type Experiment struct {
	ID               string     `json:"experiment_id"`
	Name             string     `json:"name"`
	ArtifactLocation string     `json:"artifact_location"`
	LifecycleStage   string     `json:"lifecycle_stage"`
	CreationTime     int64      `json:"creation_time"`
	LastUpdateTime   int64      `json:"last_update_time"`
	Tags             []RunParam `json:"tags,omitempty"`
}

// Search view types, as MLflow names them.
const (
	ViewActiveOnly  = "ACTIVE_ONLY"
	ViewDeletedOnly = "DELETED_ONLY"
	ViewAll         = "ALL"
)

// ExperimentSearch asks for a page of experiments: Filter in MLflow's
// syntax (name = 'x', name LIKE 'x%', tags.k = 'v', AND-joined), OrderBy
// "name", "creation_time" or "last_update_time" with ASC or DESC,
// ViewType one of the View constants ("" is ACTIVE_ONLY), MaxResults (0:
// 1,000) and the PageToken a previous page returned.
type ExperimentSearch struct {
	Filter     string   `json:"filter,omitempty"`
	OrderBy    []string `json:"order_by,omitempty"`
	ViewType   string   `json:"view_type,omitempty"`
	MaxResults int      `json:"max_results,omitempty"`
	PageToken  string   `json:"page_token,omitempty"`
}

// ExperimentPage is one page of a search; NextPageToken is "" on the last.
type ExperimentPage struct {
	Experiments   []*Experiment `json:"experiments"`
	NextPageToken string        `json:"next_page_token,omitempty"`
}

// ExperimentService manages a workspace's MLflow experiments.
//
// Errors: ENotFound for unknown workspaces and experiments; EConflict for
// a name that is taken; EInvalid for bad names, filters and tokens.
type ExperimentService interface {
	CreateExperiment(ctx context.Context, workspace, name string, tags []RunParam) (*Experiment, error)
	// GetExperiment finds an experiment by id, deleted or not.
	GetExperiment(ctx context.Context, workspace, id string) (*Experiment, error)
	// GetExperimentByName finds an experiment by name, deleted or not.
	GetExperimentByName(ctx context.Context, workspace, name string) (*Experiment, error)
	SearchExperiments(ctx context.Context, workspace string, q *ExperimentSearch) (*ExperimentPage, error)
	RenameExperiment(ctx context.Context, workspace, id, name string) error
	// DeleteExperiment sets the lifecycle stage to deleted;
	// RestoreExperiment sets it back to active.
	DeleteExperiment(ctx context.Context, workspace, id string) error
	RestoreExperiment(ctx context.Context, workspace, id string) error
	SetExperimentTag(ctx context.Context, workspace, id, key, value string) error
}

// MLflowTrackingURI is the MLflow tracking URI of a workspace on a server
// that advertises endpoint: MLflow's REST paths work under it, the
// workspace taken from the path. It is "" when the endpoint is unknown.
func MLflowTrackingURI(endpoint, workspace string) string {
	endpoint = strings.TrimRight(endpoint, "/")
	if endpoint == "" {
		return ""
	}
	return endpoint + "/mlflow/workspaces/" + workspace
}
