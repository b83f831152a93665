package tandem

import (
	"context"
	"time"
)

// Datastore is a named connection from a workspace to storage. Its
// credentials never appear here: each is a secret in the workspace vault,
// named in Credentials (field → secret name).
type Datastore struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"` // azure_blob, azure_data_lake_gen2, azure_file, local, s3, or tandem_default
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Spec is the Azure ML document without its secret credential values.
	Spec map[string]any `json:"spec"`
	// Credentials maps each secret credential field (e.g. "account_key")
	// to the vault secret that holds it.
	Credentials map[string]string `json:"credentials,omitempty"`
	Default     bool              `json:"is_default,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// DatastoreService manages a workspace's datastores. Every workspace has
// the datastore "workspaceblobstore" for its default storage; it cannot be
// created, replaced or deleted.
//
// Errors: EInvalid for documents that break a rule; EConflict for an
// existing name; ENotFound for unknown workspaces and datastores.
type DatastoreService interface {
	// CreateDatastore registers a datastore from its Azure ML document,
	// moving secret credential values into the workspace vault.
	CreateDatastore(ctx context.Context, workspace string, spec map[string]any) (*Datastore, error)
	FindDatastore(ctx context.Context, workspace, name string) (*Datastore, error)
	ListDatastores(ctx context.Context, workspace string) ([]*Datastore, error)
	// DeleteDatastore removes a datastore and its credential secrets. Data
	// in the storage it points at is not touched.
	DeleteDatastore(ctx context.Context, workspace, name string) error
}
