package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandemml/tandem"
)

// DefaultChangeLimit is how many entries ListChanges returns when its
// limit is zero or negative.
const DefaultChangeLimit = 1000

// AppendChange appends c to its workspace's log. It sets c.Seq to the next
// number, c.Time to the DB's clock when zero, and c.Time to its stored
// value (UTC, microseconds). ENotFound if the workspace does not exist.
func (t *tx) AppendChange(ctx context.Context, c *tandem.Change) error {
	if err := t.mustWrite("AppendChange"); err != nil {
		return err
	}
	if err := t.workspaceExists(ctx, c.WorkspaceID); err != nil {
		return err
	}
	if c.Time.IsZero() {
		c.Time = t.db.Now()
	}
	normalizeTime(&c.Time)
	// The upsert row-locks the counter until commit: a concurrent append
	// to the same workspace waits, and a rollback returns the number.
	var seq int64
	err := t.queryRow(ctx, `INSERT INTO change_seqs (workspace_id, last_seq) VALUES (?, 1)
		ON CONFLICT (workspace_id) DO UPDATE SET last_seq = change_seqs.last_seq + 1
		RETURNING last_seq`, c.WorkspaceID).Scan(&seq)
	if err != nil {
		return fmt.Errorf("next change seq of workspace %q: %w", c.WorkspaceID, err)
	}
	_, err = t.exec(ctx, `INSERT INTO changes (workspace_id, seq, kind, name, version, op, origin, epoch, time, body, base)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.WorkspaceID, seq, string(c.Kind), c.Name, c.Version, string(c.Op), c.Origin, c.Epoch, formatTime(c.Time), rawText(c.Body), c.Base)
	if err != nil {
		return writeError(fmt.Sprintf("append change %d of workspace %q", seq, c.WorkspaceID), err)
	}
	c.Seq = seq
	t.appended[c.WorkspaceID]++
	return nil
}

// ApplyChange appends a replicated entry with its own Seq, which must
// follow the workspace's last one exactly.
func (t *tx) ApplyChange(ctx context.Context, c *tandem.Change) error {
	if err := t.mustWrite("ApplyChange"); err != nil {
		return err
	}
	if err := t.workspaceExists(ctx, c.WorkspaceID); err != nil {
		return err
	}
	last, err := t.LastChangeSeq(ctx, c.WorkspaceID)
	if err != nil {
		return err
	}
	if c.Seq != last+1 {
		return tandem.Errorf(tandem.EConflict, "replicated change %d of workspace %q does not follow the last applied change %d", c.Seq, c.WorkspaceID, last)
	}
	normalizeTime(&c.Time)
	_, err = t.exec(ctx, `INSERT INTO change_seqs (workspace_id, last_seq) VALUES (?, ?)
		ON CONFLICT (workspace_id) DO UPDATE SET last_seq = excluded.last_seq`, c.WorkspaceID, c.Seq)
	if err != nil {
		return fmt.Errorf("advance change seq of workspace %q: %w", c.WorkspaceID, err)
	}
	_, err = t.exec(ctx, `INSERT INTO changes (workspace_id, seq, kind, name, version, op, origin, epoch, time, body, base)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.WorkspaceID, c.Seq, string(c.Kind), c.Name, c.Version, string(c.Op), c.Origin, c.Epoch, formatTime(c.Time), rawText(c.Body), c.Base)
	if err != nil {
		return writeError(fmt.Sprintf("apply change %d of workspace %q", c.Seq, c.WorkspaceID), err)
	}
	t.appended[c.WorkspaceID]++
	t.applied[c.WorkspaceID]++
	return nil
}

// ListChanges returns up to limit entries with Seq > after, in order;
// DefaultChangeLimit of them when limit <= 0.
func (t *tx) ListChanges(ctx context.Context, workspaceID string, after int64, limit int) ([]*tandem.Change, error) {
	if limit <= 0 {
		limit = DefaultChangeLimit
	}
	rows, err := t.query(ctx, `SELECT workspace_id, seq, kind, name, version, op, origin, epoch, time, body, base
		FROM changes WHERE workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list changes of workspace %q: %w", workspaceID, err)
	}
	defer rows.Close()
	var list []*tandem.Change
	for rows.Next() {
		var (
			c    tandem.Change
			at   string
			body sql.NullString
		)
		err := rows.Scan(&c.WorkspaceID, &c.Seq, &c.Kind, &c.Name, &c.Version, &c.Op, &c.Origin, &c.Epoch, &at, &body, &c.Base)
		if err != nil {
			return nil, fmt.Errorf("read change: %w", err)
		}
		if c.Time, err = parseTime(at); err != nil {
			return nil, err
		}
		c.Body = parseRaw(body)
		list = append(list, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list changes of workspace %q: %w", workspaceID, err)
	}
	return list, nil
}

func (t *tx) LastChangeSeq(ctx context.Context, workspaceID string) (int64, error) {
	var seq int64
	err := t.queryRow(ctx, "SELECT last_seq FROM change_seqs WHERE workspace_id = ?", workspaceID).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("last change seq of workspace %q: %w", workspaceID, err)
	}
	return seq, nil
}

// TruncateChanges removes a workspace's entries after seq and makes seq the
// last one again: a demoted primary sets its unreplicated entries aside
// (the caller keeps them) and reverts the rows they wrote in the same
// transaction, which the invariant guard accepts as it accepts applied
// entries.
func (t *tx) TruncateChanges(ctx context.Context, workspaceID string, after int64) error {
	if err := t.mustWrite("TruncateChanges"); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "DELETE FROM changes WHERE workspace_id = ? AND seq > ?", workspaceID, after); err != nil {
		return fmt.Errorf("truncate changes of workspace %q: %w", workspaceID, err)
	}
	if _, err := t.exec(ctx, "UPDATE change_seqs SET last_seq = ? WHERE workspace_id = ? AND last_seq > ?", after, workspaceID, after); err != nil {
		return fmt.Errorf("truncate changes of workspace %q: %w", workspaceID, err)
	}
	t.appended[workspaceID]++
	t.applied[workspaceID]++
	return nil
}
