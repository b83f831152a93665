package tandem

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Tier is how hot a pair's secondary is.
type Tier string

// Tiers, as Azure's business-continuity guidance defines them.
const (
	TierHotHot  Tier = "hot-hot"  // both writable, each pulls from the other
	TierHotWarm Tier = "hot-warm" // continuous one-way replication
	TierHotCold Tier = "hot-cold" // metadata by periodic snapshots
)

// ValidTier reports whether t is a known tier.
func ValidTier(t Tier) bool { return t == TierHotHot || t == TierHotWarm || t == TierHotCold }

// Role is a workspace's role in its pair.
type Role string

// Roles.
const (
	RolePrimary   Role = "primary"
	RoleSecondary Role = "secondary"
)

// Peer is another region this region knows. Its token (for calling it) is
// kept sealed in the region's vault, never here.
type Peer struct {
	Name      string    `json:"name"`
	Endpoint  string    `json:"endpoint"`
	CreatedAt time.Time `json:"created_at"`
}

// Pair binds a workspace of this region to one in a peer region. Both
// regions store the pair, each from its own side.
type Pair struct {
	WorkspaceID      string        `json:"workspace_id"`
	Workspace        string        `json:"workspace"`      // the workspace's name here
	PeerWorkspace    string        `json:"peer_workspace"` // its name in the peer region
	Region           string        `json:"region"`         // this region
	PeerRegion       string        `json:"peer_region"`
	Role             Role          `json:"role"` // this side's role
	Tier             Tier          `json:"tier"`
	Epoch            int64         `json:"epoch"`
	PrimaryRegion    string        `json:"primary_region"`
	PrimaryEndpoint  string        `json:"primary_endpoint"`
	SnapshotInterval time.Duration `json:"snapshot_interval,omitempty"`
	CreatedAt        time.Time     `json:"created_at"`
	// OriginalPrimary is the region that was primary when the pair was
	// created: failback returns the primary role to it.
	OriginalPrimary string `json:"original_primary,omitempty"`
	// Fenced is set on a primary while a planned failover hands over: it
	// takes no writes until it is demoted (or the failover is abandoned).
	Fenced bool `json:"fenced,omitempty"`
	// PromotedAtSeq is, on a region promoted by a failover, its last seq at
	// that moment: a returning old primary sets aside what it has beyond.
	PromotedAtSeq int64 `json:"promoted_at_seq,omitempty"`
	// NoticedEpoch is the epoch the peer has acknowledged hearing of; the
	// epoch announcer stops once it equals Epoch.
	NoticedEpoch int64 `json:"noticed_epoch,omitempty"`
}

// Writable reports whether this side accepts writes.
func (p *Pair) Writable() bool {
	return !p.Fenced && (p.Role == RolePrimary || p.Tier == TierHotHot)
}

// Failover kinds, as pair history records them.
const (
	FailoverPlanned   = "planned"
	FailoverForced    = "forced"
	FailoverAutomatic = "automatic"
	FailoverFailback  = "failback"
)

// FailoverOptions controls a failover.
type FailoverOptions struct {
	Force    bool          `json:"force"`    // promote the secondary now, without the primary
	Failback bool          `json:"failback"` // return the primary role to the original primary
	Timeout  time.Duration `json:"timeout"`  // how long a planned failover waits for the catch-up
}

// FailoverRecord is one failover or failback of a pair, as its history
// keeps it, with the recovery point and time it achieved.
type FailoverRecord struct {
	Kind        string    `json:"kind"`
	Workspace   string    `json:"workspace"`
	FromRegion  string    `json:"from_region"`
	ToRegion    string    `json:"to_region"`
	OldEpoch    int64     `json:"old_epoch"`
	NewEpoch    int64     `json:"new_epoch"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	// RTOSeconds is from the start of the command to the first moment the
	// new primary accepted writes.
	RTOSeconds float64 `json:"rto_seconds"`
	// AppliedSeq is the last entry the new primary had applied; PrimarySeq
	// the old primary's last entry as far as the new one knew.
	AppliedSeq int64 `json:"applied_seq"`
	PrimarySeq int64 `json:"primary_seq"`
	// EntriesAtRisk is PrimarySeq - AppliedSeq for a forced failover (0 for
	// planned ones): writes the old primary may hold that the new one
	// lacks; a returning old primary sets them aside as a divergence.
	EntriesAtRisk int64      `json:"entries_at_risk"`
	LastAppliedAt *time.Time `json:"last_applied_at,omitempty"`
	// SecondsAtRisk is the age, at promotion, of the last applied entry.
	SecondsAtRisk float64 `json:"seconds_at_risk"`
}

// PairRequest asks to pair a workspace with a peer region.
type PairRequest struct {
	Workspace          string        `json:"workspace"`
	SecondaryRegion    string        `json:"secondary_region"`
	SecondaryWorkspace string        `json:"secondary_workspace,omitempty"`
	Tier               Tier          `json:"tier"`
	SnapshotInterval   time.Duration `json:"snapshot_interval,omitempty"`
}

// ReplicationStatus is what a pair's replicator knows of its lag.
type ReplicationStatus struct {
	State         string     `json:"state"` // replicating, catching-up, stopped, primary
	Reason        string     `json:"reason,omitempty"`
	AppliedSeq    int64      `json:"applied_seq"`
	PrimarySeq    int64      `json:"primary_seq"`
	EntriesBehind int64      `json:"entries_behind"`
	BytesBehind   int64      `json:"bytes_behind"`
	LagSeconds    float64    `json:"lag_seconds"` // age of the oldest unapplied change: the live RPO
	LastAppliedAt *time.Time `json:"last_applied_at,omitempty"`
	LastContactAt *time.Time `json:"last_contact_at,omitempty"`
	BlobsCopied   int64      `json:"blobs_copied"`
	BytesCopied   int64      `json:"bytes_copied"`
	SkippedBlobs  int64      `json:"skipped_blobs"` // superseded at the primary before they were copied

	// LastSnapshotAt is, in hot/cold, when the last applied snapshot was taken.
	LastSnapshotAt *time.Time `json:"last_snapshot_at,omitempty"`
}

// PairStatus is a pair with its replication figures.
type PairStatus struct {
	Pair
	Replication ReplicationStatus `json:"replication"`
}

// PairService manages regions and pairs.
//
// Errors: ENotFound for unknown regions, workspaces and pairs; EConflict
// for a workspace already paired or a peer name taken; EInvalid for bad
// tiers, names or endpoints; EUnavailable when the peer cannot be reached.
type PairService interface {
	AddRegion(ctx context.Context, name, endpoint, token string) (*Peer, error)
	ListRegions(ctx context.Context) ([]*Peer, error)
	CreatePair(ctx context.Context, req PairRequest) (*Pair, error)
	ListPairs(ctx context.Context) ([]*Pair, error)
	PairStatus(ctx context.Context, workspace string) (*PairStatus, error)
	DeletePair(ctx context.Context, workspace string) error
	// ListConflicts returns the losing writes of a hot/hot pair kept here.
	ListConflicts(ctx context.Context, workspace string) ([]*Conflict, error)
}

// FailoverService moves the primary role of a pair and keeps the record.
//
// Errors: as PairService.
type FailoverService interface {
	// Failover moves the primary role of a pair to the other region: a
	// planned failover (no acknowledged write lost; EUnavailable when the
	// primary cannot be reached: use Force), a forced one, or a failback.
	Failover(ctx context.Context, workspace string, opts FailoverOptions) (*FailoverRecord, error)
	// History lists a pair's failovers and failbacks, oldest first.
	History(ctx context.Context, workspace string) ([]*FailoverRecord, error)
}

// ChangeBatch is what a primary returns to a replicator.
type ChangeBatch struct {
	Changes  []*Change `json:"changes"`
	LastSeq  int64     `json:"last_seq"`  // the primary's last seq
	LastTime time.Time `json:"last_time"` // when it was committed
	// ScannedTo is the last seq the feed looked at. In hot/hot the feed
	// leaves out the caller's own entries, so a batch may end before it:
	// the caller's checkpoint is ScannedTo.
	ScannedTo int64 `json:"scanned_to"`
	// Blobs holds, when the caller asked for them (InlineLimits), the
	// bytes of small blobs the batch's entries reference, so that the
	// caller need not fetch them one request each. A blob left out
	// (too large, over the batch's budget, replaced since, or failing
	// its sha256 at the source) is fetched with OpenBlob as before.
	Blobs []InlineBlob `json:"blobs,omitempty"`
}

// InlineBlob is a blob shipped inside a ChangeBatch: the reference the
// entry carries and the bytes, which the receiver verifies against it
// before it stores them.
type InlineBlob struct {
	BlobRef
	Data []byte `json:"data"` // base64 in JSON
}

// InlineLimits asks a primary to ship the bytes of small blobs inside a
// change batch: blobs of at most MaxBlob bytes, at most MaxTotal bytes in
// all. Zero asks for none.
type InlineLimits struct {
	MaxBlob  int64
	MaxTotal int64
}

// Conflict is a losing write of a hot/hot pair, kept rather than dropped.
// Both regions pick the same winner: the write with the later time, and
// on a tie the region name that sorts last.
type Conflict struct {
	ID          string          `json:"id"`
	Kind        Kind            `json:"kind"`
	Name        string          `json:"name"`
	Version     string          `json:"version,omitempty"`
	Winner      string          `json:"winner"` // "<origin>@<time>"
	Loser       string          `json:"loser"`
	LosingOp    Op              `json:"losing_op"`
	LosingBody  json.RawMessage `json:"losing_body,omitempty"`
	LosingBlobs string          `json:"losing_blobs,omitempty"` // where the loser's bytes are kept
	DetectedAt  time.Time       `json:"detected_at"`
	DetectedIn  string          `json:"detected_in"` // region
}

// PeerClient is how a region calls a peer region for replication.
type PeerClient interface {
	// Info returns the peer's region name and version.
	Info(ctx context.Context) (*RegionInfo, error)
	// AcceptPair asks the peer to record its side of a pair.
	AcceptPair(ctx context.Context, p *Pair) error
	// DropPair asks the peer to forget its side of a pair.
	DropPair(ctx context.Context, workspaceID string) error
	// Changes long-polls the peer's log of a workspace for entries after
	// seq, waiting up to wait when there are none.
	Changes(ctx context.Context, workspaceID string, after int64, limit int, wait time.Duration) (*ChangeBatch, error)
	// ChangesInline is Changes with the bytes of the batch's small blobs
	// inline (ChangeBatch.Blobs), within the limits given. A peer that does
	// not know inline blobs answers without them.
	ChangesInline(ctx context.Context, workspaceID string, after int64, limit int, wait time.Duration, inline InlineLimits) (*ChangeBatch, error)
	// Fence asks the peer, the primary, to stop taking writes for a
	// planned failover and to return its last seq; Unfence undoes it.
	Fence(ctx context.Context, workspaceID string, fenced bool) (*FenceResult, error)
	// NoticeEpoch tells the peer the pair's new epoch and primary; a peer
	// at a lower epoch demotes itself.
	NoticeEpoch(ctx context.Context, workspaceID string, n EpochNotice) error
	// PeerPair returns the peer's side of a pair.
	PeerPair(ctx context.Context, workspaceID string) (*Pair, error)
	// Reapply asks the peer, the primary, to write a set-aside entry again.
	Reapply(ctx context.Context, workspaceID string, req ReapplyRequest) error
	// ForwardFailover asks the peer, the secondary, to run a failover.
	ForwardFailover(ctx context.Context, workspaceID string, opts FailoverOptions) (*FailoverRecord, error)
	// OpenBlob streams a blob of the peer's storage. When the blob there
	// no longer has the given sha256 (it was replaced since), the error is
	// EConflict: the entry that referenced it has been superseded.
	OpenBlob(ctx context.Context, workspaceID, key, sha256 string) (io.ReadCloser, error)
}

// FenceResult is a primary's answer to a fence request.
type FenceResult struct {
	LastSeq int64 `json:"last_seq"`
	Epoch   int64 `json:"epoch"`
}

// EpochNotice tells a region that its peer now holds the primary role at a
// higher epoch.
type EpochNotice struct {
	Epoch           int64  `json:"epoch"`
	PrimaryRegion   string `json:"primary_region"`
	PrimaryEndpoint string `json:"primary_endpoint"`
	PromotedAtSeq   int64  `json:"promoted_at_seq"`
}

// PeerDialer returns a client for a peer region; from names the calling
// region, which the peer checks against the regions it knows.
type PeerDialer func(from string, peer *Peer, token string) PeerClient

// PeerService is what a peer region calls to bind and unbind pairs, and
// the check that a caller is a region added here.
type PeerService interface {
	AcceptPair(ctx context.Context, from string, p *Pair) error
	DropPair(ctx context.Context, from, workspaceID string) error
	// KnownPeer returns EForbidden unless name is a region added here.
	KnownPeer(ctx context.Context, name string) error
}

// ReplicationSource is the change feed a region serves its peers: what a
// peer's replicator calls. The caller's region has been checked against
// the known peers before any of these run.
type ReplicationSource interface {
	Changes(ctx context.Context, from, workspaceID string, after int64, limit int, wait time.Duration) (*ChangeBatch, error)
	OpenReplicaBlob(ctx context.Context, from, workspaceID, key, sha256 string) (io.ReadCloser, error)
	// InlineBlobs returns the bytes of the small blobs that changes
	// reference, within limits, for a ChangeBatch's Blobs.
	InlineBlobs(ctx context.Context, from, workspaceID string, changes []*Change, limits InlineLimits) ([]InlineBlob, error)
}

// FailoverPeer is the peer-facing side of failover: fencing, epoch
// notices, failovers forwarded to the secondary, and re-applied
// divergences. The caller's region has been checked as for
// ReplicationSource.
type FailoverPeer interface {
	Fence(ctx context.Context, from, workspaceID string, fenced bool) (*FenceResult, error)
	NoticeEpoch(ctx context.Context, from, workspaceID string, n EpochNotice) error
	ForwardedFailover(ctx context.Context, from, workspaceID string, opts FailoverOptions) (*FailoverRecord, error)
	Reapply(ctx context.Context, from, workspaceID string, req ReapplyRequest) error
	PeerPair(ctx context.Context, from, workspaceID string) (*Pair, error)
}
