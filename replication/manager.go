package replication

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
)

// Manager runs one replicator for each pair in which this region holds
// the secondary, starting and stopping them as pairs come and go.
type Manager struct {
	Region string           // this region's name
	Store  tandem.Store     // this region's metadata
	Blobs  tandem.BlobStore // this region's storage
	// Peer returns a peer region and its token; Dial makes its client.
	Peer   func(ctx context.Context, name string) (*tandem.Peer, string, error)
	Dial   tandem.PeerDialer
	Now    func() time.Time
	Logger *slog.Logger
	// ColdPoll is how often a hot/cold secondary asks its primary for a
	// newer snapshot; 0: the pair's snapshot interval, at most a minute.
	ColdPoll time.Duration

	metrics *metrics
	mu      sync.Mutex
	reps    map[string]*replicator
	wg      sync.WaitGroup
}

// NewManager returns a manager; register its metrics with reg (may be nil).
func NewManager(region string, store tandem.Store, blobs tandem.BlobStore, reg prometheus.Registerer) *Manager {
	return &Manager{
		Region: region, Store: store, Blobs: blobs,
		Now: time.Now, Logger: slog.Default(),
		metrics: newMetrics(reg),
		reps:    map[string]*replicator{},
	}
}

func (m *Manager) now() time.Time { return m.Now().UTC() }

func (m *Manager) client(ctx context.Context, region string) (tandem.PeerClient, error) {
	peer, token, err := m.Peer(ctx, region)
	if err != nil {
		return nil, err
	}
	return m.Dial(m.Region, peer, token), nil
}

// Run reconciles the running replicators with the stored pairs every
// second until ctx ends, then stops them all.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(rescanEvery)
	defer t.Stop()
	for {
		if err := m.reconcile(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Error("list pairs", "err", err)
		}
		select {
		case <-ctx.Done():
			m.stopAll()
			return
		case <-t.C:
		}
	}
}

func (m *Manager) reconcile(ctx context.Context) error {
	var pairs []*tandem.Pair
	err := m.Store.View(ctx, func(tx tandem.Tx) (err error) {
		pairs, err = tandem.ListPairs(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	want := map[string]tandem.Pair{}
	for _, p := range pairs {
		if p.Role == tandem.RoleSecondary || p.Tier == tandem.TierHotHot {
			want[p.WorkspaceID] = *p
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.reps {
		if p, ok := want[id]; !ok || p.Epoch != r.pair.Epoch || p.Role != r.pair.Role {
			r.cancel()
			<-r.done
			delete(m.reps, id)
			m.metrics.forget(r.pair)
		}
	}
	for id, p := range want {
		if _, ok := m.reps[id]; ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &replicator{m: m, pair: p, cancel: cancel, done: make(chan struct{})}
		r.step = r.stepHotWarm
		if p.Tier == tandem.TierHotHot {
			r.step = r.stepHotHot // both sides pull from each other
		}
		if p.Tier == tandem.TierHotCold {
			r.step = r.stepCold // snapshots, not the log (cold.go)
		}
		m.reps[id] = r
		m.wg.Add(1)
		go func() { defer m.wg.Done(); r.run(rctx) }()
		m.Logger.Info("replication started", "workspace", p.Workspace, "primary", p.PeerRegion, "tier", p.Tier)
	}
	return nil
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	for _, r := range m.reps {
		r.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Stop stops the replicator of a workspace, if one runs, and waits until
// it has: a region being promoted calls it before it takes writes, so that
// no batch from the old primary can land after the promotion. The next
// reconcile starts a replicator again if the pair still wants one.
func (m *Manager) Stop(workspaceID string) {
	m.mu.Lock()
	r, ok := m.reps[workspaceID]
	if ok {
		delete(m.reps, workspaceID)
	}
	m.mu.Unlock()
	if ok {
		r.cancel()
		<-r.done
		m.metrics.forget(r.pair)
	}
}

// Status returns the figures of a workspace's replicator, or a stopped
// state when none runs.
func (m *Manager) Status(workspaceID string) tandem.ReplicationStatus {
	m.mu.Lock()
	r, ok := m.reps[workspaceID]
	m.mu.Unlock()
	if !ok {
		return tandem.ReplicationStatus{State: "stopped", Reason: "replicator not started yet"}
	}
	return r.Status()
}
