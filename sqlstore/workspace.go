package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandemml/tandem"
)

const workspaceColumns = `id, name, display_name, description, tags, region, resources,
	created_at, updated_at, deleted_at, purge_at`

func (t *tx) FindWorkspaceByID(ctx context.Context, id string) (*tandem.Workspace, error) {
	list, err := t.listWorkspaces(ctx, "WHERE id = ?", id)
	if err != nil {
		return nil, err
	} else if len(list) == 0 {
		return nil, tandem.Errorf(tandem.ENotFound, "workspace with id %q not found", id)
	}
	return list[0], nil
}

func (t *tx) FindWorkspaceByName(ctx context.Context, name string) (*tandem.Workspace, error) {
	list, err := t.listWorkspaces(ctx, "WHERE name = ?", name)
	if err != nil {
		return nil, err
	} else if len(list) == 0 {
		return nil, tandem.Errorf(tandem.ENotFound, "workspace %q not found", name)
	}
	return list[0], nil
}

func (t *tx) ListWorkspaces(ctx context.Context, filter tandem.WorkspaceFilter) ([]*tandem.Workspace, error) {
	where := "WHERE deleted_at IS NULL"
	if filter.Deleted {
		where = "WHERE deleted_at IS NOT NULL"
	}
	var args []any
	if filter.ID != "" {
		where += " AND id = ?"
		args = append(args, filter.ID)
	}
	return t.listWorkspaces(ctx, where, args...)
}

func (t *tx) listWorkspaces(ctx context.Context, where string, args ...any) ([]*tandem.Workspace, error) {
	rows, err := t.query(ctx, "SELECT "+workspaceColumns+" FROM workspaces "+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var list []*tandem.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return list, nil
}

func scanWorkspace(rows *sql.Rows) (*tandem.Workspace, error) {
	var (
		w                  tandem.Workspace
		tags, resources    sql.NullString
		created, updated   string
		deletedAt, purgeAt sql.NullString
	)
	err := rows.Scan(&w.ID, &w.Name, &w.DisplayName, &w.Description, &tags, &w.Region, &resources,
		&created, &updated, &deletedAt, &purgeAt)
	if err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	if err := parseJSON(tags, &w.Tags); err != nil {
		return nil, fmt.Errorf("read tags of workspace %q: %w", w.ID, err)
	}
	if err := parseJSON(resources, &w.Resources); err != nil {
		return nil, fmt.Errorf("read associated resources of workspace %q: %w", w.ID, err)
	}
	if w.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if w.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	if w.DeletedAt, err = parseNullTime(deletedAt); err != nil {
		return nil, err
	}
	if w.PurgeAt, err = parseNullTime(purgeAt); err != nil {
		return nil, err
	}
	return &w, nil
}

// workspaceArgs returns the values of w's columns after id and name, in
// the order of workspaceColumns, normalising w's times to what is stored.
func workspaceArgs(w *tandem.Workspace) ([]any, error) {
	tags, err := jsonText(w.Tags, len(w.Tags) == 0)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	resources, err := jsonText(w.Resources, w.Resources == tandem.WorkspaceResources{})
	if err != nil {
		return nil, fmt.Errorf("encode associated resources: %w", err)
	}
	normalizeTime(&w.CreatedAt)
	normalizeTime(&w.UpdatedAt)
	normalizeTime(w.DeletedAt)
	normalizeTime(w.PurgeAt)
	return []any{w.DisplayName, w.Description, tags, w.Region, resources,
		formatTime(w.CreatedAt), formatTime(w.UpdatedAt), formatNullTime(w.DeletedAt), formatNullTime(w.PurgeAt)}, nil
}

func (t *tx) CreateWorkspace(ctx context.Context, w *tandem.Workspace) error {
	if err := t.mustWrite("CreateWorkspace"); err != nil {
		return err
	}
	args, err := workspaceArgs(w)
	if err != nil {
		return err
	}
	// ON CONFLICT DO NOTHING rather than a failing INSERT, so that a
	// duplicate leaves a PostgreSQL transaction usable.
	res, err := t.exec(ctx, "INSERT INTO workspaces ("+workspaceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		append([]any{w.ID, w.Name}, args...)...)
	if err != nil {
		return writeError(fmt.Sprintf("create workspace %q", w.Name), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if taken, err := t.exists(ctx, "SELECT 1 FROM workspaces WHERE id = ?", w.ID); err != nil {
			return err
		} else if taken {
			return tandem.Errorf(tandem.EConflict, "workspace id %q is taken", w.ID)
		}
		return tandem.Errorf(tandem.EConflict, "workspace %q already exists", w.Name)
	}
	t.wrote(w.ID)
	return nil
}

func (t *tx) UpdateWorkspace(ctx context.Context, w *tandem.Workspace) error {
	if err := t.mustWrite("UpdateWorkspace"); err != nil {
		return err
	}
	if err := t.workspaceExists(ctx, w.ID); err != nil {
		return err
	}
	if taken, err := t.exists(ctx, "SELECT 1 FROM workspaces WHERE name = ? AND id <> ?", w.Name, w.ID); err != nil {
		return err
	} else if taken {
		return tandem.Errorf(tandem.EConflict, "workspace %q already exists", w.Name)
	}
	args, err := workspaceArgs(w)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `UPDATE workspaces SET name = ?, display_name = ?, description = ?, tags = ?, region = ?,
		resources = ?, created_at = ?, updated_at = ?, deleted_at = ?, purge_at = ? WHERE id = ?`,
		append(append([]any{w.Name}, args...), w.ID)...)
	if err != nil {
		return writeError(fmt.Sprintf("update workspace %q", w.Name), err)
	}
	t.wrote(w.ID)
	return nil
}

// PurgeWorkspace removes the workspace and everything of it. It needs no
// change-log entry, and forgets any this transaction made for it.
func (t *tx) PurgeWorkspace(ctx context.Context, id string) error {
	if err := t.mustWrite("PurgeWorkspace"); err != nil {
		return err
	}
	if err := t.workspaceExists(ctx, id); err != nil {
		return err
	}
	for _, table := range []string{"changes", "change_seqs", "tokens", "resources"} {
		if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE workspace_id = ?", id); err != nil {
			return fmt.Errorf("purge workspace %q: %s: %w", id, table, err)
		}
	}
	delete(t.seen, id)
	if _, err := t.exec(ctx, "DELETE FROM workspaces WHERE id = ?", id); err != nil {
		return fmt.Errorf("purge workspace %q: %w", id, err)
	}
	delete(t.written, id)
	delete(t.appended, id)
	return nil
}
