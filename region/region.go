package region

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// DefaultRetention is how long a soft-deleted workspace stays recoverable.
const DefaultRetention = 14 * 24 * time.Hour

// Region implements tandem.WorkspaceService, tandem.TokenService,
// tandem.NotebookService and tandem.Authenticator for one region.
type Region struct {
	Name      string           // the region's name, recorded as the origin of its writes
	Store     tandem.Store     // metadata
	Blobs     tandem.BlobStore // default storage of every workspace
	Retention time.Duration    // soft-delete retention
	MaxUpload int64            // largest single uploaded file in bytes; 0: no limit
	// QuotaCores caps the cores the region's clusters may hold (the sum of
	// max_instances × vCPUs per instance); 0: no quota.
	QuotaCores int
	Now        func() time.Time // clock; replaceable in tests
	Logger     *slog.Logger

	// Replication wiring: this region's own endpoint (named in NotPrimary
	// errors and pairs), how to call peers, and the replicator's figures.
	Endpoint          string
	Dial              tandem.PeerDialer
	ReplicationStatus func(workspaceID string) tandem.ReplicationStatus
	// StopReplication stops a workspace's replicator and waits for it; a
	// promotion calls it first.
	StopReplication func(workspaceID string)
	Vault           tandem.Vault // seals workspace secrets; nil: the secret calls answer Unavailable
	// StorageURL is the URL of Blobs; OpenStorage opens another blob store
	// by URL (a restore from storage other than the region's own). Nil:
	// restores read this region's storage only.
	StorageURL  string
	OpenStorage func(ctx context.Context, url string) (tandem.BlobStore, error)

	// Agents: how long an agent may stay silent before its job is queued
	// again (default DefaultAgentTimeout), and how many times that happens
	// before the job fails.
	AgentTimeout time.Duration
	MaxRetries   int
	// ContainerRuntime is the runtime local jobs with an image run in:
	// "" or "auto", "none", docker, podman or a path (compute.Local).
	ContainerRuntime string

	// JobOutputSync is how often a running job's outputs and log are
	// uploaded; 0: DefaultJobOutputSync; negative: only at the job's end.
	JobOutputSync time.Duration

	assetLocks assetLocks
	closeOnce  sync.Once
	closeMu    sync.Mutex
	closeCh    chan struct{}
	jobsOnce   sync.Once
	jobRunner  *jobRunner
	agentsOnce sync.Once
	agentState *agentRegistry
}

var (
	_ tandem.WorkspaceService = (*Region)(nil)
	_ tandem.TokenService     = (*Region)(nil)
	_ tandem.NotebookService  = (*Region)(nil)
	_ tandem.Authenticator    = (*Region)(nil)
)

// New returns a region with default retention, the system clock and the
// default logger.
func New(name string, store tandem.Store, blobs tandem.BlobStore) *Region {
	return &Region{
		Name:       name,
		Store:      store,
		Blobs:      blobs,
		Retention:  DefaultRetention,
		MaxRetries: DefaultMaxRetries,
		Now:        time.Now,
		Logger:     slog.Default(),
	}
}

// Info describes the region.
func (r *Region) Info(ctx context.Context) (*tandem.RegionInfo, error) {
	return &tandem.RegionInfo{Region: r.Name, Version: tandem.Version}, nil
}

func (r *Region) Timestamp() time.Time { return r.Now().UTC().Truncate(time.Microsecond) }

// LogChange appends the one change-log entry of a write (invariant 1).
func (r *Region) LogChange(ctx context.Context, tx tandem.Tx, wsID string, kind tandem.Kind, name, version string, op tandem.Op, body any) error {
	// Invariant 3: only a writable member of a pair writes, and every
	// write carries the pair's epoch.
	p, err := PairOf(ctx, tx, wsID)
	if err != nil {
		return err
	}
	var epoch int64
	if p != nil {
		if !p.Writable() {
			return NotPrimary(p)
		}
		epoch = p.Epoch
	}
	now := r.Timestamp()
	var base string
	if p != nil && p.Tier == tandem.TierHotHot {
		if base, err = RecordWrite(ctx, tx, wsID, kind, name, version, tandem.WriteVersion{Origin: r.Name, Time: now}); err != nil {
			return err
		}
	}
	c := &tandem.Change{
		Base:        base,
		Epoch:       epoch,
		WorkspaceID: wsID,
		Kind:        kind,
		Name:        name,
		Version:     version,
		Op:          op,
		Origin:      r.Name,
		Time:        now,
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode change body: %w", err)
		}
		c.Body = b
	}
	return tx.AppendChange(ctx, c)
}
