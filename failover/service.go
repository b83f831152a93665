package failover

import (
	"context"
	"time"

	"github.com/tandemml/tandem/region"
)

// Service moves the primary role of a pair between its regions: planned
// and forced failover, failback, fencing, the demotion of a returning old
// primary with its divergence set aside, and the re-apply of a divergence.
type Service struct {
	*region.Region

	// StopReplication stops a workspace's replicator and waits for it; a
	// promotion calls it first.
	StopReplication func(workspaceID string)
	// OnPromoted runs, in the background, after this region became the
	// primary of a workspace by a failover (the jobs service interrupts
	// and resubmits the old primary's jobs). OnDemoted runs when this
	// region learned it lost the primary role at epoch (the jobs service
	// stops its local runs of the workspace). Either may be nil.
	OnPromoted func(ctx context.Context, workspaceID string)
	OnDemoted  func(workspaceID string, epoch int64)

	loops region.Loops
}

// New returns the failover service of the region k.
func New(k *region.Region) *Service { return &Service{Region: k} }

func (r *Service) promoted(ctx context.Context, wsID string) {
	if r.OnPromoted != nil {
		r.OnPromoted(ctx, wsID)
	}
}

func (r *Service) demoted(wsID string, epoch int64) {
	if r.OnDemoted != nil {
		r.OnDemoted(wsID, epoch)
	}
}

// Start learns, before the region takes a single write, of failovers made
// while it was away (a returning old primary demotes itself; waits at most
// two seconds per peer), then starts announcing its epochs to its peers.
func (r *Service) Start(ctx context.Context) {
	r.CheckEpochs(ctx, 2*time.Second)
	r.loops.Go(ctx, func(ctx context.Context) { r.RunEpochAnnouncer(ctx, time.Second) })
}

// Stop stops the announcer and waits for it.
func (r *Service) Stop() { r.loops.Stop() }
