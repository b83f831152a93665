package region

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/tandemml/tandem"
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
func (r *Region) InlineBlobs(ctx context.Context, from, workspaceID string, changes []*tandem.Change, limits tandem.InlineLimits) ([]tandem.InlineBlob, error) {
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
			_, err := tx.GetSetting(ctx, PendingKeyPrefix+b.Key)
			if err == nil {
				pending = append(pending, b.Key)
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
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
func (r *Region) readInline(ctx context.Context, ref tandem.BlobRef) ([]byte, error) {
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
func (r *Region) readVerified(ctx context.Context, ref tandem.BlobRef) ([]byte, error) {
	rc, err := r.Blobs.OpenVerified(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, ref.Size)
	if _, err := io.ReadFull(rc, data); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = tandem.Errorf(tandem.ECorrupt, "blob %q: shorter than %d bytes", ref.Key, ref.Size)
		}
		return nil, err
	}
	// The end of the stream is where the sha256 is checked.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = tandem.Errorf(tandem.ECorrupt, "blob %q: longer than %d bytes", ref.Key, ref.Size)
		}
		return nil, err
	}
	return data, nil
}
