package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	ahead  *fetch                          // hot/warm: the next batch, asked for while the last one applies

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

// Inline blobs: the replicator asks for the bytes of blobs up to
// inlineMaxBlob inside each change batch, up to inlineMaxTotal a batch;
// larger ones are copied one request each, copyWorkers at once.
const (
	inlineMaxBlob  = 64 << 10
	inlineMaxTotal = 8 << 20
	copyWorkers    = 16
)

// fetch is a change batch requested, maybe still in flight.
type fetch struct {
	after  int64
	done   chan struct{}
	batch  *tandem.ChangeBatch
	err    error
	cancel context.CancelFunc
}

// startFetch requests the batch after seq in the background.
func (r *replicator) startFetch(ctx context.Context, client tandem.PeerClient, after int64) *fetch {
	ctx, cancel := context.WithCancel(ctx)
	f := &fetch{after: after, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(f.done)
		f.batch, f.err = client.ChangesInline(ctx, r.pair.WorkspaceID, after, batchSize, longPoll,
			tandem.InlineLimits{MaxBlob: inlineMaxBlob, MaxTotal: inlineMaxTotal})
	}()
	return f
}

// dropAhead abandons the batch fetched ahead, if any.
func (r *replicator) dropAhead() {
	if r.ahead != nil {
		r.ahead.cancel()
		<-r.ahead.done
		r.ahead = nil
	}
}

// stepHotWarm fetches one batch after the local checkpoint (the mirrored
// log's last seq), copies its blobs and applies it. While it copies and
// applies, it already asks for the next batch (after the last entry of
// this one): a batch fetched ahead is used only if the checkpoint is
// where it was asked from, and is checked like any other.
func (r *replicator) stepHotWarm(ctx context.Context) error {
	client, err := r.m.client(ctx, r.pair.PeerRegion)
	if err != nil {
		r.dropAhead()
		return err
	}
	var applied int64
	err = r.m.Store.View(ctx, func(tx tandem.Tx) (err error) {
		applied, err = tx.LastChangeSeq(ctx, r.pair.WorkspaceID)
		return err
	})
	if err != nil {
		r.dropAhead()
		return err
	}
	if r.ahead != nil && r.ahead.after != applied {
		r.dropAhead()
	}
	f := r.ahead
	if f == nil {
		f = r.startFetch(ctx, client, applied)
	}
	r.ahead = nil
	select {
	case <-f.done:
	case <-ctx.Done():
		f.cancel()
		<-f.done
		return ctx.Err()
	}
	f.cancel()
	batch, err := f.batch, f.err
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
	if err := r.m.Store.View(ctx, func(tx tandem.Tx) error { return r.stillSecondary(ctx, tx) }); err != nil {
		return err
	}
	last := batch.Changes[len(batch.Changes)-1]
	r.ahead = r.startFetch(ctx, client, last.Seq)
	if err := r.copyBlobs(ctx, client, batch.Changes, inlined(batch.Blobs)); err != nil {
		r.dropAhead()
		return err
	}
	err = r.m.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := r.stillSecondary(ctx, tx); err != nil {
			return err
		}
		for _, c := range batch.Changes {
			if err := apply(ctx, tx, &r.pair, r.m.Region, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.dropAhead()
		return err
	}
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

// inlined maps the blobs a batch carried to their bytes.
func inlined(blobs []tandem.InlineBlob) map[tandem.BlobRef][]byte {
	m := make(map[tandem.BlobRef][]byte, len(blobs))
	for _, b := range blobs {
		m[b.BlobRef] = b.Data
	}
	return m
}

// copyBlobs copies every blob the batch references that this region lacks
// or holds with other bytes: from shipped, the bytes the batch carried,
// when they are there, else one request each to the primary, up to
// copyWorkers at once (writes of inline bytes share the same workers). Every
// copy is verified against the entry's sha256 and size before it is
// stored. A blob the primary has replaced since is skipped: a later entry
// names its new bytes. After the first error no new copy starts; the copies
// in flight finish (what they copied is kept, so a retried batch re-copies
// only what is still missing) and the error is returned: the batch is not
// applied.
func (r *replicator) copyBlobs(ctx context.Context, client tandem.PeerClient, changes []*tandem.Change, shipped map[tandem.BlobRef][]byte) error {
	var need []tandem.BlobRef
	var behind int64
	queued := map[tandem.BlobRef]bool{} // the same bytes named twice are copied once
	for _, c := range changes {
		res, err := decodeResource(c)
		if err != nil {
			return err
		}
		if res == nil || c.Op == tandem.OpDelete {
			continue
		}
		for _, b := range res.Blobs {
			if queued[b] {
				continue
			}
			cur, err := r.m.Blobs.Stat(ctx, b.Key)
			if err == nil && cur.SHA256 == b.SHA256 && cur.Size == b.Size {
				continue
			} else if err != nil && !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			queued[b] = true
			need = append(need, b)
			behind += b.Size
		}
	}
	r.setStatus(func(s *tandem.ReplicationStatus) { s.BytesBehind = behind })
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   = make(chan struct{}) // closed with firstErr
		next     = make(chan tandem.BlobRef)
	)
	for range min(copyWorkers, len(need)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				select {
				case <-failed:
					continue // a copy failed: start no other
				default:
				}
				var err error
				if data, ok := shipped[b]; ok {
					err = r.storeBlob(ctx, b, bytes.NewReader(data), "(shipped in its change batch)")
				} else {
					err = r.copyBlob(ctx, client, b)
				}
				if tandem.IsCode(err, tandem.EConflict) {
					r.setStatus(func(s *tandem.ReplicationStatus) { s.SkippedBlobs++ })
					continue
				} else if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
						close(failed)
					}
					mu.Unlock()
					continue
				}
				r.setStatus(func(s *tandem.ReplicationStatus) {
					s.BlobsCopied++
					s.BytesCopied += b.Size
					s.BytesBehind -= b.Size
				})
			}
		}()
	}
	var stopped error
feed:
	for _, b := range need {
		select {
		case <-failed:
			break feed
		case <-ctx.Done():
			stopped = ctx.Err()
			break feed
		case next <- b:
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return stopped // not nil when some blobs were never copied
}

func (r *replicator) copyBlob(ctx context.Context, client tandem.PeerClient, b tandem.BlobRef) error {
	rc, err := client.OpenBlob(ctx, r.pair.WorkspaceID, b.Key, b.SHA256)
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", b.Key, err)
	}
	defer rc.Close()
	return r.storeBlob(ctx, b, rc, "(damaged in transit or at rest in the primary)")
}

// storeBlob stores the bytes of b read from rc, verified against b
// (tandem.CopyBlob).
func (r *replicator) storeBlob(ctx context.Context, b tandem.BlobRef, rc io.Reader, how string) error {
	if _, err := tandem.CopyBlob(ctx, r.m.Blobs, b.Key, tandem.ReaderSource(rc), b); err != nil {
		if tandem.IsCode(err, tandem.ECorrupt) {
			r.logger().Error("blob failed verification "+how+"; its batch is not applied", "key", b.Key, "err", err)
		}
		return fmt.Errorf("copy blob %s: %w", b.Key, err)
	}
	return nil
}

var errStopped = errors.New("replicator stopped")

// stillSecondary refuses to apply a batch once the pair this replicator
// was started for has changed (a failover promoted this region, or the
// epoch moved on): a promoted region must never take entries from its old
// primary. Checked inside the apply transaction, so the two cannot race.
func (r *replicator) stillSecondary(ctx context.Context, tx tandem.Tx) error {
	cur, err := tandem.FindPair(ctx, tx, r.pair.WorkspaceID)
	if err != nil {
		return err
	}
	if cur == nil {
		return fmt.Errorf("%w: workspace %s is no longer paired", errStopped, r.pair.Workspace)
	}
	if cur.Role != r.pair.Role || cur.Epoch != r.pair.Epoch || cur.PeerRegion != r.pair.PeerRegion || cur.Tier != r.pair.Tier {
		return fmt.Errorf("%w: the pair of %s changed (now %s at epoch %d)", errStopped, r.pair.Workspace, cur.Role, cur.Epoch)
	}
	return nil
}
