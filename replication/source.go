package replication

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Bounds on what a peer may ask to receive inline in one change batch,
// whatever it asks: the batch is held in memory on both sides.
const (
	maxInlineBlob  = 1 << 20
	maxInlineTotal = 16 << 20
)

// InlineBlobs returns the bytes of the small blobs that changes reference,
// for a change batch that ships them inline: each blob of at most
// limits.MaxBlob bytes, in the order the entries name them, until
// limits.MaxTotal bytes. A blob is left out, for the peer to fetch with
// OpenReplicaBlob (which reports why), when it is too large or over the
// budget, when its bytes here have been replaced since the entry named
// them, or when they fail their sha256 here (logged as an error).
func (r *Source) InlineBlobs(ctx context.Context, from, workspaceID string, changes []*tandem.Change, limits tandem.InlineLimits) ([]tandem.InlineBlob, error) {
	limits.MaxBlob = min(limits.MaxBlob, maxInlineBlob)
	limits.MaxTotal = min(limits.MaxTotal, maxInlineTotal)
	if limits.MaxBlob <= 0 || limits.MaxTotal <= 0 || len(changes) == 0 {
		return nil, nil
	}
	if _, err := r.ReplicaPair(ctx, from, workspaceID); err != nil {
		return nil, err
	}
	prefix := tandem.StoragePrefix(workspaceID)
	var want []tandem.BlobRef
	seen := map[tandem.BlobRef]bool{}
	var total int64
	for _, c := range changes {
		if c.Op == tandem.OpDelete || len(c.Body) == 0 || c.Kind == tandem.KindWorkspace || c.Kind == tandem.KindToken {
			continue
		}
		var body struct {
			Blobs []tandem.BlobRef `json:"blobs"`
		}
		if json.Unmarshal(c.Body, &body) != nil {
			continue // not a resource: the replicator says so when it applies it
		}
		for _, b := range body.Blobs {
			if seen[b] || b.Size < 0 || b.Size > limits.MaxBlob || total+b.Size > limits.MaxTotal || !strings.HasPrefix(b.Key, prefix) {
				continue
			}
			seen[b] = true
			want = append(want, b)
			total += b.Size
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	// Bytes still in the staging area reach their key first, as
	// OpenReplicaBlob does it; one look for the whole batch.
	var pending []string
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		for _, b := range want {
			ok, err := region.HasPendingWrite(ctx, tx, b.Key)
			if err != nil {
				return err
			}
			if ok {
				pending = append(pending, b.Key)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, key := range pending {
		if err := r.FinishPending(ctx, key); err != nil {
			r.Logger.Warn("pending copy not finished; the blob is not shipped inline", "key", key, "err", err)
		}
	}
	out := make([]tandem.InlineBlob, 0, len(want))
	for _, b := range want {
		data, err := r.readInline(ctx, b)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if tandem.IsCode(err, tandem.ECorrupt) {
			r.Logger.Error("blob failed verification at the source; not shipped", "key", b.Key, "err", err)
			continue
		} else if err != nil || data == nil {
			continue // missing or replaced since: the peer's fetch tells
		}
		out = append(out, tandem.InlineBlob{BlobRef: b, Data: data})
	}
	return out, nil
}

// readInline reads a blob whose bytes here are still those of ref,
// verified; nil when they have been replaced since. It opens the blob
// once, and looks at its recorded digest only when the bytes do not
// match, to tell a replaced blob from a damaged one.
func (r *Source) readInline(ctx context.Context, ref tandem.BlobRef) ([]byte, error) {
	data, err := r.readVerified(ctx, ref)
	if !tandem.IsCode(err, tandem.ECorrupt) {
		return data, err
	}
	if cur, serr := r.Blobs.Stat(ctx, ref.Key); serr == nil && (cur.SHA256 != ref.SHA256 || cur.Size != ref.Size) {
		return nil, nil // replaced since the entry named it
	}
	return nil, err
}

// readVerified reads the whole of a blob, ECorrupt unless its bytes are
// those of ref.
func (r *Source) readVerified(ctx context.Context, ref tandem.BlobRef) ([]byte, error) {
	rc, err := r.Blobs.OpenVerified(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The reader reports a short or long blob as ECorrupt, and checks the
	// sha256 on the Read that meets the end: one byte of room past
	// ref.Size lets that Read happen without growing the buffer.
	data := make([]byte, 0, ref.Size+1)
	for len(data) < cap(data) {
		n, err := rc.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		} else if err != nil {
			return nil, err
		}
	}
	// Only a reader that broke OpenVerified's promise gets here.
	return nil, tandem.Errorf(tandem.ECorrupt, "blob %q: longer than %d bytes", ref.Key, ref.Size)
}

// Changes serves a workspace's log to its pair's replicator, waiting up
// to wait for new entries.
func (r *Source) Changes(ctx context.Context, from, workspaceID string, after int64, limit int, wait time.Duration) (*tandem.ChangeBatch, error) {
	p, err := r.ReplicaPair(ctx, from, workspaceID)
	if err != nil {
		return nil, err
	}
	// In hot/hot the caller's own writes come back to it in our log
	// (applied here with their origin): never echo them.
	skipOrigin := ""
	if p.Tier == tandem.TierHotHot {
		skipOrigin = from
	}
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	deadline := time.Now().Add(wait)
	notifier, _ := r.Store.(tandem.ChangeNotifier)
	for {
		// Taken before the read, so that a commit between the read and
		// the wait still wakes it.
		var logged <-chan struct{}
		if notifier != nil {
			logged = notifier.ChangeSignal(workspaceID)
		}
		batch := &tandem.ChangeBatch{ScannedTo: after}
		err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			scanned, err := tx.ListChanges(ctx, workspaceID, after, limit)
			if err != nil {
				return err
			}
			for _, c := range scanned {
				batch.ScannedTo = c.Seq
				if skipOrigin == "" || c.Origin != skipOrigin {
					batch.Changes = append(batch.Changes, c)
				}
			}
			if batch.LastSeq, err = tx.LastChangeSeq(ctx, workspaceID); err != nil || batch.LastSeq == 0 {
				return err
			}
			last, err := tx.ListChanges(ctx, workspaceID, batch.LastSeq-1, 1)
			if err == nil && len(last) == 1 {
				batch.LastTime = last[0].Time
			}
			return err
		})
		if err != nil || batch.ScannedTo > after || !time.Now().Before(deadline) {
			return batch, err
		}
		// A write in this process wakes the poll at once; writes by other
		// processes sharing the database are found by looking again.
		recheck := time.NewTimer(pollInterval(logged != nil, time.Until(deadline)))
		select {
		case <-ctx.Done():
			recheck.Stop()
			return batch, nil
		case <-r.Closing():
			recheck.Stop()
			return batch, nil // the server is stopping: answer now, not at the deadline
		case <-logged:
			recheck.Stop()
		case <-recheck.C:
		}
	}
}

// OpenReplicaBlob streams a blob of a paired workspace to its peer. A blob
// whose bytes changed since the entry that named it is EConflict. Asked
// with a sha256, the bytes are not verified here: the peer does it.
func (r *Source) OpenReplicaBlob(ctx context.Context, from, workspaceID, key, sha string) (io.ReadCloser, error) {
	if _, err := r.ReplicaPair(ctx, from, workspaceID); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(key, tandem.StoragePrefix(workspaceID)) {
		return nil, tandem.Errorf(tandem.EForbidden, "blob %q is not in workspace %s", key, workspaceID)
	}
	if err := r.FinishPending(ctx, key); err != nil {
		return nil, err
	}
	cur, err := r.Blobs.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if sha != "" && cur.SHA256 != sha {
		return nil, tandem.Errorf(tandem.EConflict, "blob %s was replaced since (now sha256 %s)", key, cur.SHA256)
	}
	if sha == "" {
		return r.Blobs.OpenVerified(ctx, cur)
	}
	// Not hashed here: the peer verifies every byte against the sha256 it
	// asked for before it stores the blob, which catches bytes damaged at
	// rest here as well as in transit, and hashing 1 GiB on both sides took
	// a second of this region's CPU during a catch-up.
	return r.Blobs.Open(ctx, key)
}

// LatestReplicaSnapshot returns the manifest of the newest snapshot of a
// paired workspace to its peer.
func (r *Source) LatestReplicaSnapshot(ctx context.Context, from, workspaceID string) (*tandem.SnapshotManifest, error) {
	if _, err := r.ReplicaPair(ctx, from, workspaceID); err != nil {
		return nil, err
	}
	info, err := r.Snapshots.LatestSnapshot(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	return &info.SnapshotManifest, nil
}

// OpenReplicaSnapshotFile streams one file of a snapshot of a paired
// workspace to its peer: the manifest as stored, any other file verified
// against the sha256 and size its manifest records (a file corrupted at
// rest fails at its end with ECorrupt).
func (r *Source) OpenReplicaSnapshotFile(ctx context.Context, from, workspaceID, snapshot, file string) (io.ReadCloser, error) {
	if _, err := r.ReplicaPair(ctx, from, workspaceID); err != nil {
		return nil, err
	}
	if err := tandem.ValidSnapshotName(snapshot); err != nil {
		return nil, err
	}
	man, err := r.Snapshots.ReadSnapshotManifest(ctx, workspaceID, snapshot)
	if err != nil {
		return nil, err
	}
	if file == tandem.SnapshotManifestFile {
		return r.Blobs.Open(ctx, tandem.SnapshotKey(workspaceID, snapshot, file))
	}
	f := man.File(file)
	if f == nil {
		return nil, tandem.Errorf(tandem.ENotFound, "snapshot %s of workspace %s has no file %q", snapshot, workspaceID, file)
	}
	ref := tandem.BlobRef{Key: tandem.SnapshotKey(workspaceID, snapshot, file), SHA256: f.SHA256, Size: f.Size}
	// Check the file before streaming it: a corrupt one is then a clear
	// ECorrupt answer instead of a transfer broken off at its end. (Its
	// metadata only, so reading it twice is cheap next to the blobs.)
	rc, err := r.Blobs.OpenVerified(ctx, ref)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil {
		r.Logger.Error("snapshot file failed verification at rest", "id", workspaceID, "snapshot", snapshot, "file", file, "err", err)
		return nil, err
	}
	return r.Blobs.OpenVerified(ctx, ref)
}

// How often a long poll looks at the log again without a signal: writes by
// other server processes of the region (sharing its database) are seen no
// later than this. A store without ChangeNotifier is polled faster.
const (
	recheckSignaled   = time.Second
	recheckUnsignaled = 100 * time.Millisecond
)

func pollInterval(signaled bool, left time.Duration) time.Duration {
	d := recheckUnsignaled
	if signaled {
		d = recheckSignaled
	}
	return max(min(d, left), time.Millisecond)
}
