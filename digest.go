package tandem

import (
	"context"
	"time"
)

// DigestFormat names the definition of the digest (docs/design.md, "Digest").
// Two digests are comparable only when computed with the same format.
const DigestFormat = "tandem-workspace-digest/v1"

// ContentDigestFormat names the content digest (DigestOptions.Content):
// the digest of what a workspace holds whatever its id, to compare a
// workspace with its import elsewhere (docs/design.md, "Digest").
const ContentDigestFormat = "tandem-content-digest/v1"

// WorkspaceDigest is a deterministic sha256 over everything a workspace
// holds that replication copies: its replicable settings, its resources,
// its workspace-scoped tokens and the blobs in its storage. Two converged
// workspaces of a pair (same id, one in each region) have the same Digest.
// What is region-local by nature is left out and listed in Excluded.
type WorkspaceDigest struct {
	Workspace string `json:"workspace"` // the name in the region that computed it
	ID        string `json:"id"`
	Format    string `json:"format"` // DigestFormat
	Digest    string `json:"digest"` // "sha256:" and 64 lower-case hex digits
	// Counts holds the items covered: one entry per resource kind (each
	// version of a versioned kind counts once), "token" and "blob".
	Counts map[string]int64 `json:"counts"`
	Bytes  int64            `json:"bytes"` // total size of the blobs covered
	// Excluded describes what the digest does not cover, in words and with
	// the storage prefixes of the excluded blobs.
	Excluded []string `json:"excluded"`
	// VerifiedBlobs is true when every blob was read again and its bytes
	// matched the recorded sha256 and size (DigestOptions.VerifyBlobs).
	VerifiedBlobs bool      `json:"verified_blobs"`
	ComputedAt    time.Time `json:"computed_at"`
}

// DigestOptions controls DigestWorkspace.
type DigestOptions struct {
	// VerifyBlobs reads every blob again and checks its bytes against the
	// recorded sha256 and size, and every blob a resource references
	// against that reference. Without it the digest uses the recorded
	// sha256s and reads no blob.
	VerifyBlobs bool `json:"verify_blobs"`
	// Content computes the content digest (ContentDigestFormat) instead:
	// no workspace id, blob references relative to the workspace's
	// storage, no tokens, secrets by name, version and times only. A
	// workspace and its import (under another id, in any region) have the
	// same content digest.
	Content bool `json:"content,omitempty"`
}

// DigestService computes workspace digests.
//
// Errors: ENotFound for unknown workspaces (including those a workspace
// token may not use); ECorrupt with VerifyBlobs when blobs fail
// verification, listing their keys.
type DigestService interface {
	// DigestWorkspace returns the digest of the workspace named name, live
	// or soft-deleted.
	DigestWorkspace(ctx context.Context, name string, opts DigestOptions) (*WorkspaceDigest, error)
}
