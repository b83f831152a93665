package tandem

import (
	"encoding/json"
	"time"
)

// Kind names a kind of resource. It is also the Kind of a change-log entry.
type Kind string

// Resource kinds. Later kinds (datastore, data, model, ...) join this list.
const (
	KindWorkspace Kind = "workspace"
	KindToken     Kind = "token"
	KindNotebook  Kind = "notebook"
)

// Resource is any named object in a workspace, stored generically: the
// kind-specific document is Spec, the bytes behind it are Blobs. Versioned
// kinds keep one Resource per immutable version; unversioned kinds use an
// empty Version.
type Resource struct {
	WorkspaceID string          `json:"workspace_id"`
	Kind        Kind            `json:"kind"`
	Name        string          `json:"name"`
	Version     string          `json:"version,omitempty"`
	Spec        json.RawMessage `json:"spec,omitempty"`
	Blobs       []BlobRef       `json:"blobs,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Key returns the resource's identity.
func (r *Resource) Key() ResourceKey {
	return ResourceKey{WorkspaceID: r.WorkspaceID, Kind: r.Kind, Name: r.Name, Version: r.Version}
}

// ResourceKey identifies one resource (one version, for versioned kinds).
type ResourceKey struct {
	WorkspaceID string
	Kind        Kind
	Name        string
	Version     string
}

// ResourceFilter selects resources of one workspace in a list. Results are
// ordered by kind, name, version.
type ResourceFilter struct {
	WorkspaceID string
	Kind        Kind   // all kinds when empty
	Name        string // all names when empty
	NamePrefix  string // names starting with this, when set
	Limit       int    // no limit when 0
}
