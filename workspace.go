package tandem

import (
	"context"
	"regexp"
	"time"
)

// workspaceNameRE is Azure Machine Learning's rule for workspace names.
var workspaceNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$`)

// ValidateWorkspaceName returns an EInvalid error that explains the rule when
// name breaks it.
func ValidateWorkspaceName(name string) error {
	if !workspaceNameRE.MatchString(name) {
		return &Error{Code: EInvalid, Target: "name", Message: "invalid workspace name " + quote(name) +
			": use 3 to 33 characters, letters, digits, '-' and '_', starting with a letter or digit"}
	}
	return nil
}

func quote(s string) string { return "\"" + s + "\"" }

// Workspace is the top-level container for ML work. It lives in one region
// and owns its associated resources.
type Workspace struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Region      string            `json:"region"`

	// Associated resources, provisioned when the workspace is created.
	Resources WorkspaceResources `json:"associated_resources"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Soft delete: set while the workspace is deleted and recoverable.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	PurgeAt   *time.Time `json:"purge_at,omitempty"`

	// MLflowTrackingURI is where MLflow clients reach the workspace
	// (MLflowTrackingURI of the server's advertised endpoint). The API
	// computes it for its answers; it is never stored.
	MLflowTrackingURI string `json:"mlflow_tracking_uri,omitempty"`
}

// Deleted reports whether the workspace is soft-deleted.
func (w *Workspace) Deleted() bool { return w.DeletedAt != nil }

// WorkspaceResources names the resources a workspace owns.
type WorkspaceResources struct {
	Storage             string `json:"storage"`              // prefix in the region's blob store: workspaces/<id>/
	KeyVault            string `json:"key_vault"`            // the workspace vault
	ApplicationInsights string `json:"application_insights"` // the metrics, logs and traces scope
	ContainerRegistry   string `json:"container_registry"`   // the image registry namespace
}

// StoragePrefix returns the blob key prefix of the workspace with the given id.
func StoragePrefix(workspaceID string) string { return "workspaces/" + workspaceID + "/" }

// RunFolder is where a job's files live in its workspace's storage,
// relative to StoragePrefix: runs/<job>/ (code of older jobs, logs).
func RunFolder(job string) string { return "runs/" + job + "/" }

// JobOutputFolder is where a job's outputs live, relative to
// StoragePrefix: runs/<job>/outputs/. Asset versions registered from a
// job's outputs reference their bytes there.
func JobOutputFolder(job string) string { return RunFolder(job) + "outputs/" }

// WorkspaceFilter selects workspaces in a list.
type WorkspaceFilter struct {
	Deleted bool   // list soft-deleted workspaces instead of live ones
	ID      string // only this id, when set
}

// WorkspaceUpdate holds the fields that may change after creation; nil
// fields are left as they are. A nil map leaves tags alone; an empty one
// clears them.
type WorkspaceUpdate struct {
	DisplayName *string           `json:"display_name,omitempty"`
	Description *string           `json:"description,omitempty"`
	Tags        map[string]string `json:"tags"` // null: unchanged; {}: cleared
}

// DeleteOptions controls DeleteWorkspace.
type DeleteOptions struct {
	Permanent    bool `json:"permanently_delete"` // skip retention and purge now
	PurgeStorage bool `json:"purge_storage"`      // with Permanent: also remove the workspace's storage
}

// PurgeOptions controls PurgeWorkspace.
type PurgeOptions struct {
	Storage bool `json:"purge_storage"` // also remove everything under workspaces/<id>/
}

// WorkspaceService manages workspaces. Names identify workspaces in calls.
//
// Errors: ENotFound for unknown names; EInvalid for bad names or fields;
// EConflict for a duplicate name (live or soft-deleted) and for operations
// the workspace's state forbids; EForbidden for a token scoped to another
// workspace.
type WorkspaceService interface {
	// FindWorkspace returns a live workspace.
	FindWorkspace(ctx context.Context, name string) (*Workspace, error)
	// ListWorkspaces returns live workspaces, or soft-deleted ones with
	// filter.Deleted, ordered by name.
	ListWorkspaces(ctx context.Context, filter WorkspaceFilter) ([]*Workspace, error)
	// CreateWorkspace creates w and provisions its associated resources. It
	// fills in the generated fields of w.
	CreateWorkspace(ctx context.Context, w *Workspace) error
	// UpdateWorkspace changes the mutable fields of a live workspace.
	UpdateWorkspace(ctx context.Context, name string, upd WorkspaceUpdate) (*Workspace, error)
	// DeleteWorkspace soft-deletes a live workspace, or purges it at once
	// with opts.Permanent. It returns the workspace as deleted.
	DeleteWorkspace(ctx context.Context, name string, opts DeleteOptions) (*Workspace, error)
	// RecoverWorkspace brings a soft-deleted workspace back with everything
	// in it. EConflict when the workspace is not deleted.
	RecoverWorkspace(ctx context.Context, name string) (*Workspace, error)
	// PurgeWorkspace removes a soft-deleted workspace's metadata now.
	// EConflict when the workspace is live (delete it first, or use
	// DeleteOptions.Permanent).
	PurgeWorkspace(ctx context.Context, name string, opts PurgeOptions) error
}
