package tandem

import (
	"context"
	"io"
	"time"
)

// ArtifactFile is one entry of a run's artifacts as MLflow's artifact
// proxy lists it: a path relative to the run's artifact root (a base name
// in a listing), whether it is a directory, and a file's size.
type ArtifactFile struct {
	Path   string `json:"path"`
	IsDir  bool   `json:"is_dir"`
	Size   int64  `json:"file_size,omitempty"`
	SHA256 string `json:"-"`
}

// ArtifactService stores the artifacts MLflow clients log through the
// artifact proxy (mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/...).
// An artifact path is "<experiment_id>/<run_id>/artifacts/<rest>"; its
// bytes are a verified blob in the run's outputs folder
// (runs/<run_id>/outputs/<rest>), recorded on the run's job.
//
// Errors: EInvalid for a path that is absolute, holds "." or ".." or is
// not under a run's artifacts; ENotFound for an unknown workspace, run or
// artifact; ETooLarge over the upload limit; ECorrupt when stored bytes no
// longer match their recorded sha256 (reported by the reader's last Read).
type ArtifactService interface {
	// PutArtifact stores one file, streamed from r; size is the declared
	// length or -1 when unknown. Writing a path again replaces the file.
	PutArtifact(ctx context.Context, workspace, path string, size int64, r io.Reader) (*ArtifactFile, error)
	// OpenArtifact returns a verifying reader over one stored file.
	OpenArtifact(ctx context.Context, workspace, path string) (*ArtifactFile, io.ReadCloser, error)
	// ListArtifacts lists the direct entries of a directory
	// ("<experiment_id>/<run_id>" or below), base names, files and
	// directories in name order. A directory with nothing in it is empty.
	ListArtifacts(ctx context.Context, workspace, dir string) ([]ArtifactFile, error)
	// DeleteArtifact removes a file, or every file under a directory.
	DeleteArtifact(ctx context.Context, workspace, path string) error
}

// KindRegisteredModel is the resource kind of an MLflow registered model:
// its description, tags and aliases (unversioned, one per name). Its
// versions are the Tandem model versions of the same name.
const KindRegisteredModel Kind = "registeredmodel"

// RegisteredModel is an MLflow registered model.
type RegisteredModel struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Aliases maps an alias to the version it names.
	Aliases   map[string]string `json:"aliases,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// Latest is the newest live version, when there is one (not stored).
	Latest *ModelVersion `json:"-"`
}

// ModelVersion is an MLflow model version: a Tandem model version of the
// registered model's name, its files those under Source.
type ModelVersion struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Aliases     []string          `json:"aliases,omitempty"`
	Source      string            `json:"source"`
	RunID       string            `json:"run_id,omitempty"`
	// DownloadURI is where MLflow clients download the files from.
	DownloadURI string    `json:"download_uri"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RegistryChange holds the changes of one registry write; nil and empty
// fields change nothing.
type RegistryChange struct {
	Description   *string
	SetTags       map[string]string
	DeleteTags    []string
	SetAliases    map[string]string // alias -> version (registered models only)
	DeleteAliases []string
}

// ModelRegistry is MLflow's model registry over a workspace's models.
// Filters are MLflow's search filters on names: "" (all),
// "name = 'x'", "name LIKE 'pat%'", "name ILIKE '%pat%'".
//
// Errors: ENotFound for unknown workspaces, models, versions, aliases and
// runs; EConflict for a registered model that exists; EInvalid for bad
// names, sources, filters and aliases.
type ModelRegistry interface {
	CreateRegisteredModel(ctx context.Context, workspace string, m *RegisteredModel) (*RegisteredModel, error)
	GetRegisteredModel(ctx context.Context, workspace, name string) (*RegisteredModel, error)
	SearchRegisteredModels(ctx context.Context, workspace, filter string) ([]*RegisteredModel, error)
	UpdateRegisteredModel(ctx context.Context, workspace, name string, ch RegistryChange) (*RegisteredModel, error)
	RenameRegisteredModel(ctx context.Context, workspace, name, newName string) (*RegisteredModel, error)
	// DeleteRegisteredModel archives every version, then deletes the model.
	DeleteRegisteredModel(ctx context.Context, workspace, name string) error

	// CreateModelVersion registers the files under source as the next
	// version: runs:/<run>/<path>,
	// mlflow-artifacts:/<experiment>/<run>/artifacts/<path> or
	// models:/<name>/<version or @alias>.
	CreateModelVersion(ctx context.Context, workspace, name, source, runID string, mv *ModelVersion) (*ModelVersion, error)
	// GetModelVersion returns a version; version may be "@alias".
	GetModelVersion(ctx context.Context, workspace, name, version string) (*ModelVersion, error)
	SearchModelVersions(ctx context.Context, workspace, filter string) ([]*ModelVersion, error)
	UpdateModelVersion(ctx context.Context, workspace, name, version string, ch RegistryChange) (*ModelVersion, error)
	// DeleteModelVersion archives the version (Tandem versions are
	// immutable; the number is not used again).
	DeleteModelVersion(ctx context.Context, workspace, name, version string) error
}
