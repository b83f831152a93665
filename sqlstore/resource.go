package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

const resourceColumns = "workspace_id, kind, name, version, spec, blobs, created_at, updated_at"

func describeKey(k tandem.ResourceKey) string {
	s := fmt.Sprintf("%s %q", k.Kind, k.Name)
	if k.Version != "" {
		s += fmt.Sprintf(" version %q", k.Version)
	}
	return s + fmt.Sprintf(" in workspace %q", k.WorkspaceID)
}

func (t *tx) FindResource(ctx context.Context, key tandem.ResourceKey) (*tandem.Resource, error) {
	list, err := t.listResources(ctx, "WHERE workspace_id = ? AND kind = ? AND name = ? AND version = ?",
		key.WorkspaceID, string(key.Kind), key.Name, key.Version)
	if err != nil {
		return nil, err
	} else if len(list) == 0 {
		return nil, tandem.Errorf(tandem.ENotFound, "%s not found", describeKey(key))
	}
	return list[0], nil
}

func (t *tx) ListResources(ctx context.Context, filter tandem.ResourceFilter) ([]*tandem.Resource, error) {
	where := "WHERE workspace_id = ?"
	args := []any{filter.WorkspaceID}
	if filter.Kind != "" {
		where += " AND kind = ?"
		args = append(args, string(filter.Kind))
	}
	if filter.Name != "" {
		where += " AND name = ?"
		args = append(args, filter.Name)
	}
	if filter.NamePrefix != "" {
		// substr counts characters on both backends, and = compares
		// exactly, unlike LIKE, which ignores ASCII case on SQLite.
		where += " AND substr(name, 1, ?) = ?"
		args = append(args, utf8.RuneCountInString(filter.NamePrefix), filter.NamePrefix)
		// A range on the key's name column lets both databases seek to the
		// prefix instead of testing every name of the kind (names compare
		// by bytes: BINARY on SQLite, COLLATE "C" on PostgreSQL); the
		// substr test above keeps the exact meaning. Only for a prefix
		// ending in ASCII, whose successor is still valid UTF-8.
		if p := filter.NamePrefix; p[len(p)-1] < 0x7f {
			where += " AND name >= ? AND name < ?"
			args = append(args, p, p[:len(p)-1]+string(p[len(p)-1]+1))
		}
	}
	where += " ORDER BY kind, name, version"
	if filter.Limit > 0 {
		where += " LIMIT ?"
		args = append(args, filter.Limit)
	}
	return t.listResources(ctx, where, args...)
}

func (t *tx) listResources(ctx context.Context, where string, args ...any) ([]*tandem.Resource, error) {
	rows, err := t.query(ctx, "SELECT "+resourceColumns+" FROM resources "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	defer rows.Close()
	var list []*tandem.Resource
	for rows.Next() {
		var (
			r                tandem.Resource
			spec, blobs      sql.NullString
			created, updated string
		)
		if err := rows.Scan(&r.WorkspaceID, &r.Kind, &r.Name, &r.Version, &spec, &blobs, &created, &updated); err != nil {
			return nil, fmt.Errorf("read resource: %w", err)
		}
		r.Spec = parseRaw(spec)
		if err := parseJSON(blobs, &r.Blobs); err != nil {
			return nil, fmt.Errorf("read blobs of %s: %w", describeKey(r.Key()), err)
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if r.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, err
		}
		list = append(list, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list resources: %w", err)
	}
	return list, nil
}

func (t *tx) PutResource(ctx context.Context, r *tandem.Resource) error {
	if err := t.mustWrite("PutResource"); err != nil {
		return err
	}
	if err := t.workspaceExists(ctx, r.WorkspaceID); err != nil {
		return err
	}
	blobs, err := jsonText(r.Blobs, len(r.Blobs) == 0)
	if err != nil {
		return fmt.Errorf("encode blobs of %s: %w", describeKey(r.Key()), err)
	}
	normalizeTime(&r.CreatedAt)
	normalizeTime(&r.UpdatedAt)
	_, err = t.exec(ctx, "INSERT INTO resources ("+resourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (workspace_id, kind, name, version) DO UPDATE SET
		spec = excluded.spec, blobs = excluded.blobs, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		r.WorkspaceID, string(r.Kind), r.Name, r.Version, rawText(r.Spec), blobs, formatTime(r.CreatedAt), formatTime(r.UpdatedAt))
	if err != nil {
		return writeError("put "+describeKey(r.Key()), err)
	}
	t.wrote(r.WorkspaceID)
	return nil
}

func (t *tx) DeleteResource(ctx context.Context, key tandem.ResourceKey) error {
	if err := t.mustWrite("DeleteResource"); err != nil {
		return err
	}
	res, err := t.exec(ctx, "DELETE FROM resources WHERE workspace_id = ? AND kind = ? AND name = ? AND version = ?",
		key.WorkspaceID, string(key.Kind), key.Name, key.Version)
	if err != nil {
		return fmt.Errorf("delete %s: %w", describeKey(key), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return tandem.Errorf(tandem.ENotFound, "%s not found", describeKey(key))
	}
	t.wrote(key.WorkspaceID)
	return nil
}
