package backup

import (
	"context"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Service exports and imports whole workspaces (tar archives), writes and
// restores metadata snapshots in a workspace's storage, and computes a
// workspace's digest, the fingerprint two regions compare.
type Service struct {
	*region.Region

	// StorageURL is the URL of the region's storage; OpenStorage opens
	// another blob store by URL (a restore from storage other than the
	// region's own). Nil: restores read this region's storage only.
	StorageURL  string
	OpenStorage func(ctx context.Context, url string) (tandem.BlobStore, error)
	// SnapshotInterval is how often Start's loop snapshots every
	// workspace's metadata; negative: never (hot/cold primaries still
	// snapshot at their pair's interval).
	SnapshotInterval time.Duration

	loops region.Loops
}

// New returns the backup service of the region k.
func New(k *region.Region) *Service { return &Service{Region: k} }

// Start starts the snapshot loop.
func (r *Service) Start(ctx context.Context) {
	r.loops.Go(ctx, func(ctx context.Context) { r.RunSnapshots(ctx, r.SnapshotInterval) })
}

// Stop stops the snapshot loop and waits for it.
func (r *Service) Stop() { r.loops.Stop() }
