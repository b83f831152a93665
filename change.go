package tandem

import (
	"encoding/json"
	"time"
)

// Op is what a change did to its resource.
type Op string

// Operations recorded in the change log.
const (
	OpCreate  Op = "create"
	OpUpdate  Op = "update"
	OpDelete  Op = "delete"  // soft delete for workspaces, removal for other kinds
	OpRecover Op = "recover" // a soft-deleted workspace came back
)

// Change is one entry of a workspace's change log (invariant 1: one write,
// one entry, in the same transaction as the write). Seq numbers of a
// workspace's log start at 1 and have no gaps.
type Change struct {
	WorkspaceID string    `json:"workspace_id"`
	Seq         int64     `json:"seq"`
	Kind        Kind      `json:"kind"`
	Name        string    `json:"name"`
	Version     string    `json:"version,omitempty"`
	Op          Op        `json:"op"`
	Origin      string    `json:"origin"` // region that accepted the write
	Epoch       int64     `json:"epoch"`
	Time        time.Time `json:"time"`
	// Base names the version this write replaced, "<origin>@<time>", in
	// hot/hot pairs (for conflict detection); empty otherwise.
	Base string `json:"base,omitempty"`
	// Body is the resource's state after the write (JSON of the Workspace,
	// Resource or Token); empty for removals.
	Body json.RawMessage `json:"body,omitempty"`
}
