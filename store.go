package tandem

import "context"

// Store is a region's metadata database. Every read and write runs inside a
// transaction obtained from View or Update.
//
// Invariant 1 is enforced here: an Update that writes rows of a workspace
// (workspace, resource or workspace-scoped token) must append exactly one
// Change for that workspace, or the transaction is rolled back with an
// EInternal error. Purging a workspace removes its log with it and needs no
// entry. Region admin tokens belong to no workspace and log nothing.
//
// Update transactions are serialized per database, so a read-modify-write
// inside one Update never loses a concurrent update. A Tx method that
// returns ENotFound or EConflict leaves the transaction usable (on
// PostgreSQL too, where a failed statement would otherwise abort it).
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn
	// returns nil and rolled back otherwise. It returns fn's error as is.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// ChangeNotifier is implemented by stores that tell waiters in this process
// when a write to a workspace's change log committed. The replication
// feed's long poll waits on it instead of polling the database; writers in
// other processes sharing the database are not seen, so a waiter still
// looks again now and then.
type ChangeNotifier interface {
	// ChangeSignal returns a channel closed when a transaction that
	// appended entries to the change log of workspaceID commits. Take it
	// before reading the log, so that no commit in between is missed.
	ChangeSignal(workspaceID string) <-chan struct{}
}

// Tx is one metadata transaction. Find methods return ENotFound for a
// missing row; Create methods return EConflict for a duplicate.
type Tx interface {
	// FindWorkspaceByID and FindWorkspaceByName return live and soft-deleted
	// workspaces alike.
	FindWorkspaceByID(ctx context.Context, id string) (*Workspace, error)
	FindWorkspaceByName(ctx context.Context, name string) (*Workspace, error)
	// ListWorkspaces returns workspaces ordered by name: live ones, or
	// soft-deleted ones when filter.Deleted.
	ListWorkspaces(ctx context.Context, filter WorkspaceFilter) ([]*Workspace, error)
	// CreateWorkspace inserts w. EConflict if the id or the name is taken
	// (by a live or a soft-deleted workspace).
	CreateWorkspace(ctx context.Context, w *Workspace) error
	// UpdateWorkspace replaces the stored row of w.ID with w.
	UpdateWorkspace(ctx context.Context, w *Workspace) error
	// PurgeWorkspace removes the workspace row and everything that belongs
	// to it: resources, workspace tokens and the change log.
	PurgeWorkspace(ctx context.Context, id string) error

	// FindResource returns one resource.
	FindResource(ctx context.Context, key ResourceKey) (*Resource, error)
	// ListResources returns resources of filter.WorkspaceID.
	ListResources(ctx context.Context, filter ResourceFilter) ([]*Resource, error)
	// PutResource inserts or replaces the resource with r's key.
	PutResource(ctx context.Context, r *Resource) error
	// DeleteResource removes one resource.
	DeleteResource(ctx context.Context, key ResourceKey) error

	// CreateToken inserts t. EConflict if the name is taken.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns the token whose secret hashes to hash.
	FindTokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens returns tokens ordered by name.
	ListTokens(ctx context.Context, filter TokenFilter) ([]*Token, error)
	// DeleteToken removes a token by id.
	DeleteToken(ctx context.Context, id string) error

	// AppendChange appends c to the log of c.WorkspaceID, assigning c.Seq
	// (the previous last Seq plus one) and c.Time when zero.
	AppendChange(ctx context.Context, c *Change) error
	// ListChanges returns up to limit entries with Seq > after, in order.
	ListChanges(ctx context.Context, workspaceID string, after int64, limit int) ([]*Change, error)
	// LastChangeSeq returns the Seq of the workspace's last entry, 0 if none.
	LastChangeSeq(ctx context.Context, workspaceID string) (int64, error)

	// ApplyChange appends an entry replicated from a peer region with its
	// own Seq, which must be the workspace's last Seq plus one (EConflict
	// otherwise: a gap or a repeat). A transaction may apply several
	// entries to one workspace; the rows they describe are written by the
	// caller in the same transaction, so a batch and its checkpoint (the
	// last Seq) commit together.
	ApplyChange(ctx context.Context, c *Change) error
	// TruncateChanges removes the entries after seq (a demoted primary's
	// unreplicated ones, which the caller sets aside) and makes seq the
	// last again. The rows those entries wrote are reverted by the caller
	// in the same transaction.
	TruncateChanges(ctx context.Context, workspaceID string, after int64) error

	// Region-level settings: records of the region itself (peer regions,
	// pairs, replication state) that belong to no workspace's log.
	GetSetting(ctx context.Context, key string) ([]byte, error) // ENotFound
	PutSetting(ctx context.Context, key string, value []byte) error
	DeleteSetting(ctx context.Context, key string) error
	ListSettings(ctx context.Context, prefix string) ([]Setting, error)
}

// Setting is one region-level record.
//
// (Settings are not workspace rows: writing them needs no change entry.)
type Setting struct {
	Key   string
	Value []byte
}
