package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// tx implements tandem.Tx over one database transaction.
type tx struct {
	*sql.Tx
	db       *DB
	writable bool

	// Invariant 1 bookkeeping: workspaces whose rows this transaction
	// wrote, and how many change-log entries each got.
	written  map[string]bool
	appended map[string]int
	applied  map[string]int // entries among appended that are replicated ones

	// stmts caches the statements a SQLite write transaction prepared,
	// by query: applying a replicated batch runs the same few statements
	// hundreds of times, and preparing each anew took a tenth of the
	// secondary's CPU. (PostgreSQL's driver caches statements itself.)
	stmts map[string]*sql.Stmt
	// seen holds the workspaces this write transaction found to exist
	// (workspaceExists), forgotten when it deletes one: a 500-entry batch
	// looked its workspace up a thousand times.
	seen map[string]bool
}

var _ tandem.Tx = (*tx)(nil)

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.ExecContext(ctx, t.db.dialect.rebind(q), args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.QueryContext(ctx, t.db.dialect.rebind(q), args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.QueryRowContext(ctx, t.db.dialect.rebind(q), args...)
}

// stmt returns the statement of q prepared in this transaction, or nil
// where statements are not cached (see stmts) or q did not prepare (the
// caller then runs it unprepared, and reports its error).
func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	if st, ok := t.stmts[q]; ok {
		return st
	}
	st, err := t.PrepareContext(ctx, t.db.dialect.rebind(q))
	if err != nil {
		return nil
	}
	t.stmts[q] = st
	return st
}

// exists reports whether q, a SELECT of one row, finds anything.
func (t *tx) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := t.queryRow(ctx, q, args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// mustWrite refuses writes in a View.
func (t *tx) mustWrite(method string) error {
	if !t.writable {
		return tandem.Errorf(tandem.EInternal, "%s called in a read-only transaction: use Store.Update", method)
	}
	return nil
}

// wrote marks a workspace as written by this transaction.
func (t *tx) wrote(workspaceID string) { t.written[workspaceID] = true }

// checkLog enforces invariant 1 before commit.
func (t *tx) checkLog() error {
	var missing, extra []string
	for id := range t.written {
		if t.appended[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range t.appended {
		if n > 1 && t.applied[id] != n {
			extra = append(extra, fmt.Sprintf("%q (%d entries)", id, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	switch {
	case len(missing) > 0:
		return tandem.Errorf(tandem.EInternal, "workspace %s was written without a change-log entry: "+
			"one write, one log entry (invariant 1); transaction rolled back", quoteAll(missing))
	case len(extra) > 0:
		return tandem.Errorf(tandem.EInternal, "workspace %s got more than one change-log entry in one transaction: "+
			"one write, one log entry (invariant 1); transaction rolled back", strings.Join(extra, ", "))
	}
	return nil
}

func quoteAll(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

// workspaceExists returns ENotFound unless the workspace row exists. Write
// methods check before they insert, so that a missing workspace is a clean
// error that leaves a PostgreSQL transaction usable.
func (t *tx) workspaceExists(ctx context.Context, id string) error {
	if t.seen[id] {
		return nil
	}
	ok, err := t.exists(ctx, "SELECT 1 FROM workspaces WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("find workspace %q: %w", id, err)
	} else if !ok {
		return tandem.Errorf(tandem.ENotFound, "workspace with id %q not found", id)
	}
	if t.seen != nil {
		t.seen[id] = true
	}
	return nil
}

// writeError converts constraint violations a check could not foresee
// (a concurrent writer without the writer lock, say) into codes.
func writeError(what string, err error) error {
	switch {
	case isUniqueViolation(err):
		return tandem.Errorf(tandem.EConflict, "%s: already exists", what)
	case isForeignKeyViolation(err):
		return tandem.Errorf(tandem.ENotFound, "%s: its workspace does not exist", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}
