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

// Region is the kernel of one region: workspaces and their soft delete,
// tokens and access, notebooks, pairs and peers with the writable check
// (invariant 3), staging, and the change log (invariant 1). The domain
// services (assets, jobs, tracking, secrets, failover, backup and the
// replication feed) are built on it; see doc.go.
type Region struct {
	Name      string           // the region's name, recorded as the origin of its writes
	Store     tandem.Store     // metadata
	Blobs     tandem.BlobStore // default storage of every workspace
	Retention time.Duration    // soft-delete retention
	MaxUpload int64            // largest single uploaded file in bytes; 0: no limit
	Now       func() time.Time // clock; replaceable in tests
	Logger    *slog.Logger
	// PurgeInterval is how often Start's loop purges the workspaces whose
	// retention ended; 0: DefaultPurgeInterval.
	PurgeInterval time.Duration

	// Replication wiring: this region's own endpoint (named in NotPrimary
	// errors and pairs), how to call peers, and the replicator's figures.
	Endpoint          string
	Dial              tandem.PeerDialer
	ReplicationStatus func(workspaceID string) tandem.ReplicationStatus
	Vault             tandem.Vault // seals workspace secrets and peer tokens; nil: the secret calls answer Unavailable

	assetLocks assetLocks
	closeOnce  sync.Once
	closeMu    sync.Mutex
	closeCh    chan struct{}
	loops      Loops
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
		Name:      name,
		Store:     store,
		Blobs:     blobs,
		Retention: DefaultRetention,
		Now:       time.Now,
		Logger:    slog.Default(),
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
	p, err := tandem.FindPair(ctx, tx, wsID)
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

func (r *Region) RequireVault() (tandem.Vault, error) {
	if r.Vault == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this region has no vault configured; secrets are unavailable")
	}
	return r.Vault, nil
}

func ChangesBetween(ctx context.Context, tx tandem.Tx, wsID string, after, upTo int64) ([]*tandem.Change, error) {
	var out []*tandem.Change
	for after < upTo {
		page, err := tx.ListChanges(ctx, wsID, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			if c.Seq > upTo {
				return out, nil
			}
			out = append(out, c)
			after = c.Seq
		}
	}
	return out, nil
}
