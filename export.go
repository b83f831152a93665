package tandem

import (
	"context"
	"io"
	"time"
)

// Categories of resources an export can include (ExportOptions.Include).
// Every resource kind belongs to one: data, model, environment and
// component to "assets"; job and every kind named job* or pipeline* (job
// metrics, inputs, pipelines, added later) to "jobs"; notebook to
// "notebooks"; datastore to "datastores"; secret to "secrets"; any other
// kind to "other".
const (
	IncludeAssets     = "assets"
	IncludeJobs       = "jobs"
	IncludeNotebooks  = "notebooks"
	IncludeDatastores = "datastores"
	IncludeSecrets    = "secrets"
	IncludeOther      = "other"
)

// ExportCategories lists every category; the default export includes all
// but secrets.
var ExportCategories = []string{IncludeAssets, IncludeJobs, IncludeNotebooks, IncludeDatastores, IncludeSecrets, IncludeOther}

// ExportOptions controls ExportWorkspace.
type ExportOptions struct {
	// Include lists categories; empty means every category but secrets.
	Include []string `json:"include,omitempty"`
	// Since limits the archive to resources updated at or after it.
	Since *time.Time `json:"since,omitempty"`
	// Passphrase, or RecipientKey (a public key, "tandem-archive-recipient-1:..."),
	// encrypts secret values; one of them is required with IncludeSecrets.
	Passphrase   string `json:"passphrase,omitempty"`
	RecipientKey string `json:"recipient_key,omitempty"`
}

// ImportOptions controls ImportWorkspace.
type ImportOptions struct {
	// Passphrase, or Identity (the private key of the recipient the
	// secrets were encrypted to), decrypts the archive's secrets; the one
	// its method needs is required when it has any.
	Passphrase string `json:"-"`
	Identity   string `json:"-"`
}

// Import actions, per resource, in ImportReport.
const (
	ImportCreated    = "created"
	ImportUpdated    = "updated"
	ImportUnchanged  = "unchanged"
	ImportConflicted = "conflict"
)

// ImportConflict is a resource the import did not write because the target
// holds it with other content.
type ImportConflict struct {
	Kind    Kind   `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Reason  string `json:"reason"`
}

// ImportReport says what an import (or a restore) did.
type ImportReport struct {
	Workspace        string `json:"workspace"`
	ID               string `json:"id"`
	WorkspaceCreated bool   `json:"workspace_created"`
	SourceWorkspace  string `json:"source_workspace"`
	SourceID         string `json:"source_id"`
	SourceRegion     string `json:"source_region"`
	Format           string `json:"format"`
	// Resources counts resources by action (created, updated, unchanged,
	// conflict) and Kinds by kind and action ("model/created").
	Resources map[string]int64 `json:"resources"`
	Kinds     map[string]int64 `json:"kinds"`
	Conflicts []ImportConflict `json:"conflicts,omitempty"`
	// BlobsCopied and BytesCopied count the blobs written to the target;
	// BlobsPresent those it already held with the same bytes.
	BlobsCopied  int64 `json:"blobs_copied"`
	BytesCopied  int64 `json:"bytes_copied"`
	BlobsPresent int64 `json:"blobs_present"`
	// Warnings are things the user should know (e.g. datastore
	// credentials left out of the archive).
	Warnings []string `json:"warnings,omitempty"`
}

// RestoreOptions controls RestoreWorkspace.
type RestoreOptions struct {
	// Storage is the URL of the storage that holds the workspace's
	// snapshots and blobs; empty: this region's own storage.
	Storage     string `json:"storage,omitempty"`
	WorkspaceID string `json:"workspace_id"`
	// Name is the restored workspace's name; empty: the snapshot's.
	Name string `json:"name,omitempty"`
}

// RestoreReport says what a restore did and what it found in storage but
// could not attach.
type RestoreReport struct {
	ImportReport
	Snapshot     string     `json:"snapshot"`
	SnapshotTime time.Time  `json:"snapshot_time"`
	LastSeq      int64      `json:"last_seq"`
	LastChangeAt *time.Time `json:"last_change_at,omitempty"`
	Tokens       int64      `json:"tokens"`
	// Unattached lists blobs under the workspace's storage that no
	// resource of the snapshot references (written after it, most
	// likely): up to 100 keys; UnattachedCount and UnattachedBytes count
	// them all.
	Unattached      []BlobRef `json:"unattached,omitempty"`
	UnattachedCount int64     `json:"unattached_count"`
	UnattachedBytes int64     `json:"unattached_bytes"`
	// NewerSnapshots counts snapshots that were skipped because they
	// could not be read (the restore used the newest readable one).
	SkippedSnapshots int `json:"skipped_snapshots,omitempty"`
}

// ArchiveService exports, imports and restores whole workspaces.
//
// Errors: ENotFound for unknown workspaces; EInvalid for bad options, an
// unknown archive format or a wrong passphrase; ECorrupt for a damaged or
// truncated archive (nothing is written); EConflict for a restore whose
// workspace id exists.
type ArchiveService interface {
	// ExportWorkspace streams an archive (docs/archive-format.md) of the
	// workspace to w. Nothing is written to w before the checks pass.
	ExportWorkspace(ctx context.Context, name string, opts ExportOptions, w io.Writer) error
	// ImportWorkspace reads an archive from r into the workspace named
	// name, creating it when it does not exist. Conflicts are reported,
	// not written.
	ImportWorkspace(ctx context.Context, name string, opts ImportOptions, r io.Reader) (*ImportReport, error)
	// RestoreWorkspace rebuilds a workspace from the newest metadata
	// snapshot in its storage and the blobs there.
	RestoreWorkspace(ctx context.Context, opts RestoreOptions) (*RestoreReport, error)
	// SnapshotWorkspace writes a metadata snapshot of the workspace now.
	SnapshotWorkspace(ctx context.Context, name string) (*SnapshotInfo, error)
}

// CategoryOf returns the export category of a resource kind.
func CategoryOf(k Kind) string {
	switch {
	case IsAssetKind(k), k == KindRegisteredModel: // a registered model's versions are models
		return IncludeAssets
	case k == KindNotebook:
		return IncludeNotebooks
	case k == KindDatastore:
		return IncludeDatastores
	case k == KindSecret:
		return IncludeSecrets
	case len(k) >= 3 && k[:3] == "job", len(k) >= 8 && k[:8] == "pipeline":
		return IncludeJobs
	}
	return IncludeOther
}
