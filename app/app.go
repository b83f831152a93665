// Package app wires the services of one region onto its kernel and runs
// their lifecycle. It is the composition root shared by the region server
// (package server) and the services' tests: it decides which service sees
// which (through the small interfaces each declares), connects the hooks
// that would otherwise be import cycles (failover tells jobs of a promotion
// or demotion; jobs hand pipeline documents to pipelines), and starts the
// services in one order and stops them in the reverse.
//
// It may import the kernel, every domain package and replication; it must
// not import httpapi, cli or server.
package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/backup"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/pipelines"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/secrets"
	"github.com/tandemml/tandem/tracking"
)

// Region is one region's services on its kernel.
type Region struct {
	Kernel     *region.Region
	Secrets    *secrets.Service
	Assets     *assets.Service
	Jobs       *jobs.Service
	Pipelines  *pipelines.Service
	Tracking   *tracking.Service
	Failover   *failover.Service
	Backup     *backup.Service
	Feed       *replication.Source
	Replicator *replication.Manager // nil until EnableReplication

	replication region.Loops
}

// New builds every service on the kernel k and connects them. Settings
// that belong to one service are set on it (a.Jobs.QuotaCores, ...)
// before Start.
func New(k *region.Region) *Region {
	a := &Region{Kernel: k}
	a.Secrets = secrets.New(k)
	a.Assets = assets.New(k, a.Secrets)
	a.Jobs = jobs.New(k, a.Assets, a.Secrets)
	a.Pipelines = pipelines.New(a.Jobs)
	a.Tracking = tracking.New(k)
	a.Jobs.Experiment = a.Tracking.EnsureExperiment
	a.Backup = backup.New(k)
	a.Feed = replication.NewSource(k, a.Backup)
	a.Failover = failover.New(k)
	a.Failover.OnPromoted = a.Jobs.RecoverFailoverJobs
	a.Failover.OnDemoted = a.Jobs.StopDemotedJobs
	return a
}

// EnableReplication creates the replicator that pulls this region's
// secondaries from their primaries, dialing peers with dial, and connects
// it to the kernel (pair status) and to failover (a promotion stops it).
func (a *Region) EnableReplication(dial tandem.PeerDialer, reg prometheus.Registerer, coldPoll time.Duration) *replication.Manager {
	k := a.Kernel
	m := replication.NewManager(k.Name, k.Store, k.Blobs, reg)
	m.Peer, m.Dial, m.Logger, m.ColdPoll = k.Peer, dial, k.Logger, coldPoll
	k.ReplicationStatus = m.Status
	a.Failover.StopReplication = m.Stop
	a.Replicator = m
	return m
}

// Start starts the services: failover first (a returning old primary
// learns of a failover made while it was away before it takes a single
// write), then the kernel's purger, the jobs, the snapshots, and last the
// replicator (after the writes a crash left half done are finished).
func (a *Region) Start(ctx context.Context) {
	a.Failover.Start(ctx)
	a.Kernel.Start(ctx)
	a.Jobs.Start(ctx)
	a.Backup.Start(ctx)
	if a.Replicator != nil {
		a.replication.Go(ctx, func(ctx context.Context) {
			if err := a.Kernel.FinishPendingWrites(ctx); err != nil && ctx.Err() == nil {
				a.Kernel.Logger.Error("finish pending writes", "err", err)
			}
			a.Replicator.Run(ctx)
		})
	}
}

// Shutdown makes waiting long polls answer at once; call it before the
// API stops taking requests, then Stop.
func (a *Region) Shutdown() { a.Kernel.Shutdown() }

// Stop stops the services in the reverse order of Start and waits for
// their loops.
func (a *Region) Stop() {
	a.replication.Stop()
	a.Backup.Stop()
	a.Jobs.Stop()
	a.Kernel.Stop()
	a.Failover.Stop()
}
