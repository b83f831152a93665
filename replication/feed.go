package replication

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Snapshots is what the source needs of the backup service to serve a
// hot/cold secondary the latest snapshot of its workspace.
type Snapshots interface {
	LatestSnapshot(ctx context.Context, wsID string) (*tandem.SnapshotInfo, error)
	ReadSnapshotManifest(ctx context.Context, wsID, name string) (*tandem.SnapshotManifest, error)
}

// Source is the side of replication a region serves its peers: the change
// feed of a workspace (long poll), the blobs its entries reference (one
// by one, or inline in batches), and the latest snapshot of a hot/cold
// pair. It answers only the region a workspace is paired with; the puller
// that calls it from the other region is Replicator (replicator.go).
type Source struct {
	*region.Region
	Snapshots Snapshots
}

// NewSource returns the replication source of the region k.
func NewSource(k *region.Region, snapshots Snapshots) *Source {
	return &Source{Region: k, Snapshots: snapshots}
}

var (
	_ tandem.ReplicationSource = (*Source)(nil)
	_ tandem.SnapshotSource    = (*Source)(nil)
)
