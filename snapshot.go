package tandem

import (
	"context"
	"io"
	"regexp"
	"time"
)

// SnapshotFormat names the layout of a metadata snapshot (docs/design.md,
// "Hot/cold and snapshots"). A reader refuses a manifest of another format.
const SnapshotFormat = "tandem-snapshot/v1"

// Files of a snapshot folder, workspaces/<id>/snapshots/<name>/. The
// manifest is written last: a folder without one is incomplete and ignored.
const (
	SnapshotManifestFile = "manifest.json"
	SnapshotMetadataFile = "metadata.jsonl"
)

// OpSnapshot is the change-log entry a hot/cold secondary appends to its
// own log when it applies a snapshot: one entry for the whole snapshot,
// whose body is the snapshot's summary (SnapshotApplied).
const OpSnapshot Op = "snapshot"

// SnapshotFile is one file of a snapshot other than the manifest, with the
// sha256 (lower-case hex) and size it was written with.
type SnapshotFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// SnapshotManifest describes a complete snapshot: a consistent cut of one
// workspace's metadata at its log's LastSeq.
type SnapshotManifest struct {
	Format      string    `json:"format"` // SnapshotFormat
	Name        string    `json:"name"`   // the folder name, the cut's UTC time: 20261127T003000.000000Z
	WorkspaceID string    `json:"workspace_id"`
	Workspace   string    `json:"workspace"` // its name in the region that wrote the snapshot
	Region      string    `json:"region"`    // the region that wrote it
	Time        time.Time `json:"time"`      // when the cut was taken
	// LastSeq is the seq of the last change-log entry the snapshot holds
	// (0 for an empty log); LastChangeAt when that entry was committed.
	LastSeq      int64      `json:"last_seq"`
	LastChangeAt *time.Time `json:"last_change_at,omitempty"`
	// Epoch is the pair's epoch when the workspace was paired, else 0.
	Epoch int64 `json:"epoch,omitempty"`
	// Counts holds the records of metadata.jsonl: "workspace", "token" and
	// one entry per resource kind.
	Counts map[string]int64 `json:"counts"`
	// BlobRefs and BlobBytes count the blob references of the resources;
	// the blobs themselves stay where they are and are not copied.
	BlobRefs  int64          `json:"blob_refs"`
	BlobBytes int64          `json:"blob_bytes"`
	Files     []SnapshotFile `json:"files"`
	Version   string         `json:"tandem_version"` // of the server that wrote it
}

// File returns the manifest's entry for a file, or nil.
func (m *SnapshotManifest) File(name string) *SnapshotFile {
	for i := range m.Files {
		if m.Files[i].Name == name {
			return &m.Files[i]
		}
	}
	return nil
}

// SnapshotInfo is a complete snapshot as listed: its manifest and where it
// is in the workspace's default storage.
type SnapshotInfo struct {
	SnapshotManifest
	Prefix string `json:"prefix"` // workspaces/<id>/snapshots/<name>/
}

// SnapshotRecord is one line of metadata.jsonl. Type says which field is
// set: "workspace" (the first line), "resource" or "token".
type SnapshotRecord struct {
	Type      string         `json:"type"`
	Workspace *Workspace     `json:"workspace,omitempty"`
	Resource  *Resource      `json:"resource,omitempty"`
	Token     *SnapshotToken `json:"token,omitempty"`
}

// Record types of metadata.jsonl.
const (
	SnapshotRecordWorkspace = "workspace"
	SnapshotRecordResource  = "resource"
	SnapshotRecordToken     = "token"
)

// SnapshotToken is a workspace token as a snapshot holds it: with the hash
// of its secret, so that a region restoring or applying the snapshot
// accepts the same secret. The secret itself is never stored anywhere.
type SnapshotToken struct {
	Token
	Hash string `json:"hash"`
}

// SnapshotApplied is the body of the OpSnapshot entry a hot/cold secondary
// appends when it applies a snapshot, and the record of the last applied
// one it keeps (settings key cold/<workspace-id>).
type SnapshotApplied struct {
	Snapshot     string           `json:"snapshot"` // the snapshot's name
	Region       string           `json:"region"`   // the region that wrote it
	Time         time.Time        `json:"time"`
	LastSeq      int64            `json:"last_seq"`
	LastChangeAt *time.Time       `json:"last_change_at,omitempty"`
	Counts       map[string]int64 `json:"counts"`
	// What the apply changed here.
	Put         int64     `json:"put"`     // resources written (new or changed)
	Deleted     int64     `json:"deleted"` // resources removed
	Tokens      int64     `json:"tokens"`  // workspace tokens after the apply
	AppliedAt   time.Time `json:"applied_at"`
	PairedAt    time.Time `json:"paired_at"` // the pair's CreatedAt: a record of an earlier pair is ignored
	BlobsCopied int64     `json:"blobs_copied"`
}

// SnapshotSource is the peer-facing side of a region's snapshots: what a
// hot/cold secondary calls. The caller's region has been checked against
// the known peers before these run; they answer only the workspace's pair.
type SnapshotSource interface {
	// LatestReplicaSnapshot returns the manifest of the newest complete
	// snapshot of a workspace. ENotFound when it has none yet.
	LatestReplicaSnapshot(ctx context.Context, from, workspaceID string) (*SnapshotManifest, error)
	// OpenReplicaSnapshotFile streams one file of a snapshot, verified
	// against the sha256 its manifest records.
	OpenReplicaSnapshotFile(ctx context.Context, from, workspaceID, snapshot, file string) (io.ReadCloser, error)
}

// SnapshotPeer is how a hot/cold secondary reads its primary's snapshots;
// a PeerClient that can implements it too.
type SnapshotPeer interface {
	LatestSnapshot(ctx context.Context, workspaceID string) (*SnapshotManifest, error)
	OpenSnapshotFile(ctx context.Context, workspaceID, snapshot, file string) (io.ReadCloser, error)
}

// Where snapshots live in a workspace's default storage:
// workspaces/<id>/snapshots/<name>/<file>, the name being the cut's UTC
// time in SnapshotNameLayout (fixed width, so that names sort as times do).
const SnapshotNameLayout = "20060102T150405.000000Z"

var snapshotNameRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z$`)

// SnapshotsPrefix is where the snapshots of a workspace live.
func SnapshotsPrefix(workspaceID string) string { return StoragePrefix(workspaceID) + "snapshots/" }

// SnapshotKey is the key of one file of a snapshot.
func SnapshotKey(workspaceID, name, file string) string {
	return SnapshotsPrefix(workspaceID) + name + "/" + file
}

// IsSnapshotName reports whether name has the form of a snapshot's name.
func IsSnapshotName(name string) bool { return snapshotNameRE.MatchString(name) }

// ValidSnapshotName returns EInvalid unless name is a snapshot's name.
func ValidSnapshotName(name string) error {
	if !IsSnapshotName(name) {
		return Errorf(EInvalid, "invalid snapshot name %q: snapshots are named by their UTC time, e.g. 20261127T003000.000000Z", name)
	}
	return nil
}
