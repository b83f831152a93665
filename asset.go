package tandem

import (
	"context"
	"io"
	"regexp"
	"time"
)

// Versioned asset kinds. Their versions are immutable.
const (
	KindData        Kind = "data"
	KindModel       Kind = "model"
	KindEnvironment Kind = "environment"
	KindComponent   Kind = "component"
	KindDatastore   Kind = "datastore" // unversioned
)

// AssetKinds lists the versioned asset kinds in display order.
var AssetKinds = []Kind{KindData, KindModel, KindEnvironment, KindComponent}

// IsAssetKind reports whether k is a versioned asset kind.
func IsAssetKind(k Kind) bool {
	for _, a := range AssetKinds {
		if a == k {
			return true
		}
	}
	return false
}

// LabelLatest selects the most recently created version.
const LabelLatest = "latest"

var assetNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,254}$`)

// ValidateAssetName checks Azure ML's rule for asset names.
func ValidateAssetName(name string) error {
	if !assetNameRE.MatchString(name) {
		return (&Error{Code: EInvalid, Message: "invalid asset name " + quote(name) +
			": use 1 to 255 characters, letters, digits, '.', '-' and '_', starting with a letter or digit"}).WithTarget("name")
	}
	return nil
}

// assetVersionRE is the version rule of package spec (and of Azure, whose
// examples use versions such as openmpi4.1.0-cuda11.1-cudnn8-ubuntu18.04):
// a document that validates offline must not be refused for its version.
var assetVersionRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// ValidateAssetVersion checks a version string.
func ValidateAssetVersion(v string) error {
	if !assetVersionRE.MatchString(v) {
		return (&Error{Code: EInvalid, Message: "invalid version " + quote(v) +
			": use 1 to 64 characters, letters, digits, '.', '-' and '_', starting with a letter or digit"}).WithTarget("version")
	}
	return nil
}

// Asset is one immutable version of a data, model, environment or
// component asset. Spec is the Azure ML CLI v2 document (as JSON-compatible
// values) with every local path replaced by the azureml:// URI of the
// uploaded copy; Files lists those uploaded files.
type Asset struct {
	Kind        Kind              `json:"kind"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Type        string            `json:"type,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Archived    bool              `json:"archived,omitempty"`
	Spec        map[string]any    `json:"spec"`
	Paths       []AssetPath       `json:"paths,omitempty"`
	Files       []AssetFile       `json:"files,omitempty"`
	// JobName names the job whose output this version is (lineage); its
	// files are that job's stored output, under runs/<job>/outputs/.
	JobName   string    `json:"job_name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AssetPath is one path field of an asset's document (e.g. "path",
// "conda_file", "build.path", "code") and where its files are stored,
// relative to the asset's storage folder.
type AssetPath struct {
	Field string `json:"field"`
	Root  string `json:"root"` // file name, or directory name, under the asset's folder
	Dir   bool   `json:"dir,omitempty"`
}

// AssetFile is one uploaded file of an asset.
type AssetFile struct {
	Field  string `json:"field"`
	Path   string `json:"path"` // relative to the asset's folder; starts with its AssetPath's Root
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// AssetRequest asks to register a new asset version. Spec is the parsed
// document; its local path fields are described by Paths and their bytes,
// staged beforehand with StageBlob, by Files.
type AssetRequest struct {
	Kind  Kind           `json:"kind"`
	Spec  map[string]any `json:"spec"`
	Paths []AssetPath    `json:"paths,omitempty"`
	Files []AssetFile    `json:"files,omitempty"`
}

// AssetFilter selects assets in a list.
type AssetFilter struct {
	Kind            Kind
	Name            string // all versions of this name; latest version of each name when empty
	IncludeArchived bool
}

// AssetUpdate holds the fields of an asset version that may change.
type AssetUpdate struct {
	Description *string           `json:"description,omitempty"`
	Tags        map[string]string `json:"tags"` // null: unchanged; {}: cleared
}

// AssetService registers and serves versioned assets.
//
// Errors: ENotFound for unknown workspaces, assets, versions, labels and
// references (the message names the reference); EInvalid for documents
// that break a rule; EConflict when a version exists with other content;
// ECorrupt when a staged blob does not match its declared digest.
type AssetService interface {
	// StageBlob stores bytes by their sha256 in the workspace's staging
	// area, ahead of CreateAsset. Idempotent: staging the same bytes twice
	// is harmless.
	StageBlob(ctx context.Context, workspace string, want BlobRef, r io.Reader) (BlobRef, error)
	// StagedBlob reports whether bytes with this sha256 are staged.
	StagedBlob(ctx context.Context, workspace, sha256 string) (bool, error)
	// CreateAsset registers a version. An omitted version is the next
	// integer. Creating an existing version with identical content returns
	// it with created=false; with different content it is EConflict.
	CreateAsset(ctx context.Context, workspace string, req *AssetRequest) (a *Asset, created bool, err error)
	// FindAsset returns one version, or the version a label selects.
	FindAsset(ctx context.Context, workspace string, kind Kind, name, version, label string) (*Asset, error)
	// ListAssets returns the latest version of each name, or every
	// version of filter.Name, newest first.
	ListAssets(ctx context.Context, workspace string, filter AssetFilter) ([]*Asset, error)
	// UpdateAsset changes the description or tags of a version.
	UpdateAsset(ctx context.Context, workspace string, kind Kind, name, version string, upd AssetUpdate) (*Asset, error)
	// ArchiveAsset archives (or with archived=false restores) one version,
	// or every version of the name when version is empty. Archived
	// versions are hidden from lists and from the latest label.
	ArchiveAsset(ctx context.Context, workspace string, kind Kind, name, version string, archived bool) error
	// OpenAssetFile returns a verifying reader over one file of a version.
	OpenAssetFile(ctx context.Context, workspace string, kind Kind, name, version, path string) (*AssetFile, io.ReadCloser, error)
}
