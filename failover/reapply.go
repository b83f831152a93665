package failover

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
)

// ApplyDivergence sends the chosen entries of a divergence kept here to the
// current primary, which writes each again as a new write (with its bytes,
// fetched from here), and marks them applied. Entries already applied are
// skipped, so it can be run again after a failure.
func (r *Service) ApplyDivergence(ctx context.Context, workspace, id string, seqs []int64) (*tandem.Divergence, error) {
	if err := region.RequireAdmin(ctx, "applying a divergence"); err != nil {
		return nil, err
	}
	d, err := r.FindDivergence(ctx, workspace, id)
	if err != nil {
		return nil, err
	}
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if p.Role == tandem.RolePrimary {
		return nil, tandem.Errorf(tandem.EConflict, "region %q holds the primary of %q now: its own writes need no re-applying", r.Name, workspace)
	}
	client, _, err := r.DialPeer(ctx, p.PeerRegion)
	if err != nil {
		return nil, err
	}
	for _, s := range seqs {
		if !slices.ContainsFunc(d.Changes, func(c *tandem.Change) bool { return c.Seq == s }) {
			return nil, tandem.Errorf(tandem.EInvalid, "divergence %s has no entry %d (it holds %d to %d)", id, s, d.FromSeq, d.ToSeq)
		}
	}
	for _, c := range d.Changes {
		if (len(seqs) > 0 && !slices.Contains(seqs, c.Seq)) || slices.Contains(d.Applied, c.Seq) {
			continue
		}
		req := tandem.ReapplyRequest{Change: c, Sources: map[string]string{}}
		if res, _ := replication.DecodeResource(c); res != nil {
			for _, b := range res.Blobs {
				req.Sources[b.Key] = d.BlobsFolder + strings.TrimPrefix(b.Key, tandem.StoragePrefix(c.WorkspaceID))
			}
		}
		if err := client.Reapply(ctx, p.WorkspaceID, req); err != nil {
			return d, fmt.Errorf("re-apply entry %d (%s %s %s) in region %q: %w", c.Seq, c.Op, c.Kind, c.Name, p.PeerRegion, err)
		}
		d.Applied = append(d.Applied, c.Seq)
		b, err := json.Marshal(d)
		if err != nil {
			return d, err
		}
		if err := r.Store.Update(ctx, func(tx tandem.Tx) error {
			return tx.PutSetting(ctx, divergenceKeyPrefix+d.WorkspaceID+"/"+d.ID, b)
		}); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Reapply writes, in this region (the primary), an entry the peer set
// aside: as a new write of this region, at its epoch, with its bytes
// fetched from the peer and verified.
func (r *Service) Reapply(ctx context.Context, from, workspaceID string, req tandem.ReapplyRequest) error {
	p, err := r.ReplicaPair(ctx, from, workspaceID)
	if err != nil {
		return err
	}
	c := req.Change
	if c == nil || c.WorkspaceID != workspaceID {
		return tandem.Errorf(tandem.EInvalid, "the entry to re-apply is missing or belongs to another workspace")
	}
	if err := r.CheckWritable(ctx, workspaceID); err != nil {
		return err
	}
	client, _, err := r.DialPeer(ctx, from)
	if err != nil {
		return err
	}
	res, err := replication.DecodeResource(c)
	if err != nil {
		return err
	}
	if res != nil && c.Op != tandem.OpDelete {
		for _, b := range res.Blobs {
			src := req.Sources[b.Key]
			if src == "" {
				return tandem.Errorf(tandem.EInvalid, "no kept copy named for blob %s", b.Key)
			}
			rc, err := client.OpenBlob(ctx, workspaceID, src, b.SHA256)
			if err != nil {
				return fmt.Errorf("fetch kept blob %s: %w", src, err)
			}
			_, err = tandem.CopyBlob(ctx, r.Blobs, b.Key, tandem.ReaderSource(rc), b)
			rc.Close()
			if err != nil {
				return fmt.Errorf("write blob %s: %w", b.Key, err)
			}
		}
	}
	now := r.Timestamp()
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		entry := *c
		if res != nil {
			if c.Op == tandem.OpDelete {
				if err := tx.DeleteResource(ctx, res.Key()); err != nil && !tandem.IsCode(err, tandem.ENotFound) {
					return err
				}
				return r.LogChange(ctx, tx, workspaceID, c.Kind, c.Name, c.Version, tandem.OpDelete, nil)
			}
			res.UpdatedAt = now
			if old, err := tx.FindResource(ctx, res.Key()); err == nil {
				res.CreatedAt = old.CreatedAt
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
			return r.LogChange(ctx, tx, workspaceID, c.Kind, c.Name, c.Version, tandem.OpUpdate, res)
		}
		// Workspace settings and tokens: apply the body as the entry did,
		// then log it as this region's write.
		if err := replication.ApplyRows(ctx, tx, p, r.Name, &entry); err != nil {
			return err
		}
		var body any
		if len(c.Body) > 0 {
			body = json.RawMessage(c.Body)
		}
		return r.LogChange(ctx, tx, workspaceID, c.Kind, c.Name, c.Version, c.Op, body)
	})
}
