package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// Defaults of a replicator's loop.
const (
	batchSize   = 500
	longPoll    = 10 * time.Second
	minBackoff  = 200 * time.Millisecond
	maxBackoff  = 30 * time.Second
	rescanEvery = time.Second
)

// replicator pulls one workspace's log from its primary.
type replicator struct {
	m      *Manager
	pair   tandem.Pair
	cancel context.CancelFunc
	done   chan struct{}
	step   func(ctx context.Context) error // one pull-and-apply round

	mu     sync.Mutex
	status tandem.ReplicationStatus
}

func (r *replicator) setStatus(fn func(s *tandem.ReplicationStatus)) {
	r.mu.Lock()
	fn(&r.status)
	s := r.status
	r.mu.Unlock()
	r.m.metrics.observe(r.pair, s)
}

func (r *replicator) Status() tandem.ReplicationStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

func (r *replicator) logger() *slog.Logger {
	return r.m.Logger.With("workspace", r.pair.Workspace, "primary", r.pair.PeerRegion)
}

// run pulls and applies until ctx ends, backing off (capped) on errors.
func (r *replicator) run(ctx context.Context) {
	defer close(r.done)
	backoff := minBackoff
	r.setStatus(func(s *tandem.ReplicationStatus) { s.State = "catching-up" })
	for ctx.Err() == nil {
		err := r.step(ctx)
		if err == nil {
			backoff = minBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		r.logger().Warn("replication paused", "err", err, "retry_in", backoff)
		r.setStatus(func(s *tandem.ReplicationStatus) { s.State, s.Reason = "stopped", err.Error() })
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// stepHotWarm fetches one batch after the local checkpoint (the mirrored
// log's last seq), copies its blobs and applies it.
func (r *replicator) stepHotWarm(ctx context.Context) error {
	client, err := r.m.client(ctx, r.pair.PeerRegion)
	if err != nil {
		return err
	}
	var applied int64
	err = r.m.Store.View(ctx, func(tx tandem.Tx) (err error) {
		applied, err = tx.LastChangeSeq(ctx, r.pair.WorkspaceID)
		return err
	})
	if err != nil {
		return err
	}
	batch, err := client.Changes(ctx, r.pair.WorkspaceID, applied, batchSize, longPoll)
	if err != nil {
		return fmt.Errorf("fetch changes after %d from %s: %w", applied, r.pair.PeerRegion, err)
	}
	now := r.m.now()
	r.setStatus(func(s *tandem.ReplicationStatus) {
		s.AppliedSeq, s.PrimarySeq = applied, batch.LastSeq
		s.EntriesBehind = max(batch.LastSeq-applied, 0)
		s.LastContactAt = &now
		if s.EntriesBehind == 0 {
			s.State, s.Reason, s.LagSeconds, s.BytesBehind = "replicating", "", 0, 0
		} else if len(batch.Changes) > 0 {
			s.State, s.Reason = "catching-up", ""
			s.LagSeconds = now.Sub(batch.Changes[0].Time).Seconds()
		}
	})
	if len(batch.Changes) == 0 {
		return nil
	}
	if first := batch.Changes[0].Seq; first != applied+1 {
		return fmt.Errorf("gap in the change log of %s: the primary sent entry %d after local entry %d; replication stops here rather than skip", r.pair.Workspace, first, applied)
	}
	for i, c := range batch.Changes {
		if c.Seq != applied+int64(i)+1 || c.WorkspaceID != r.pair.WorkspaceID {
			return fmt.Errorf("gap in the change log of %s at entry %d", r.pair.Workspace, c.Seq)
		}
	}
	if err := r.copyBlobs(ctx, client, batch.Changes); err != nil {
		return err
	}
	err = r.m.Store.Update(ctx, func(tx tandem.Tx) error {
		for _, c := range batch.Changes {
			if err := apply(ctx, tx, &r.pair, r.m.Region, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	last := batch.Changes[len(batch.Changes)-1]
	appliedAt := r.m.now()
	r.setStatus(func(s *tandem.ReplicationStatus) {
		s.AppliedSeq = last.Seq
		s.EntriesBehind = max(batch.LastSeq-last.Seq, 0)
		s.LastAppliedAt = &appliedAt
		if s.EntriesBehind == 0 {
			s.State, s.LagSeconds, s.BytesBehind = "replicating", 0, 0
		}
	})
	return nil
}

// copyBlobs copies every blob the batch references that this region lacks
// or holds with other bytes. A blob the primary has replaced since is
// skipped: a later entry names its new bytes.
func (r *replicator) copyBlobs(ctx context.Context, client tandem.PeerClient, changes []*tandem.Change) error {
	var need []tandem.BlobRef
	var bytes int64
	for _, c := range changes {
		res, err := decodeResource(c)
		if err != nil {
			return err
		}
		if res == nil || c.Op == tandem.OpDelete {
			continue
		}
		for _, b := range res.Blobs {
			cur, err := r.m.Blobs.Stat(ctx, b.Key)
			if err == nil && cur.SHA256 == b.SHA256 && cur.Size == b.Size {
				continue
			} else if err != nil && !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			need = append(need, b)
			bytes += b.Size
		}
	}
	r.setStatus(func(s *tandem.ReplicationStatus) { s.BytesBehind = bytes })
	for _, b := range need {
		err := r.copyBlob(ctx, client, b)
		if tandem.IsCode(err, tandem.EConflict) {
			r.setStatus(func(s *tandem.ReplicationStatus) { s.SkippedBlobs++ })
			continue
		} else if err != nil {
			return err
		}
		bytes -= b.Size
		r.setStatus(func(s *tandem.ReplicationStatus) { s.BlobsCopied++; s.BytesCopied += b.Size; s.BytesBehind = bytes })
	}
	return nil
}

func (r *replicator) copyBlob(ctx context.Context, client tandem.PeerClient, b tandem.BlobRef) error {
	rc, err := client.OpenBlob(ctx, r.pair.WorkspaceID, b.Key, b.SHA256)
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", b.Key, err)
	}
	defer rc.Close()
	want := b
	if _, err := r.m.Blobs.Put(ctx, b.Key, rc, &want); err != nil {
		if tandem.IsCode(err, tandem.ECorrupt) {
			r.logger().Error("blob failed verification in transit; not applied", "key", b.Key, "err", err)
		}
		return fmt.Errorf("copy blob %s: %w", b.Key, err)
	}
	return nil
}

var errStopped = errors.New("replicator stopped")
