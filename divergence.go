package tandem

import (
	"context"
	"time"
)

// Divergence is what a demoted primary had written that its peer never
// received: the entries, set aside with the bytes they referenced, kept
// until an operator applies or discards them. Nothing in it is deleted
// without that explicit discard.
type Divergence struct {
	ID          string    `json:"id"`
	Workspace   string    `json:"workspace"`
	WorkspaceID string    `json:"workspace_id"`
	Region      string    `json:"region"` // where it is kept (the old primary)
	Epoch       int64     `json:"epoch"`  // the epoch the entries were written at
	NewEpoch    int64     `json:"new_epoch"`
	FromSeq     int64     `json:"from_seq"` // first set-aside entry
	ToSeq       int64     `json:"to_seq"`   // last set-aside entry
	Changes     []*Change `json:"changes"`
	BlobsFolder string    `json:"blobs_folder"`      // copies of the bytes they referenced
	Applied     []int64   `json:"applied,omitempty"` // seqs written again in the primary
	DetectedAt  time.Time `json:"detected_at"`
}

// DivergenceService inspects and resolves divergences.
type DivergenceService interface {
	ListDivergences(ctx context.Context, workspace string) ([]*Divergence, error)
	FindDivergence(ctx context.Context, workspace, id string) (*Divergence, error)
	// DiscardDivergence deletes a divergence and its kept bytes.
	DiscardDivergence(ctx context.Context, workspace, id string) error
	// ApplyDivergence writes the chosen entries (all when seqs is empty)
	// again in the current primary, as new writes, and marks them applied.
	ApplyDivergence(ctx context.Context, workspace, id string, seqs []int64) (*Divergence, error)
}

// ReapplyRequest asks a primary to write again, as a new write, an entry a
// demoted peer set aside. Sources maps each blob key of the entry to the
// key under which the peer kept its bytes (in its divergence folder).
type ReapplyRequest struct {
	Change  *Change           `json:"change"`
	Sources map[string]string `json:"sources,omitempty"`
}
