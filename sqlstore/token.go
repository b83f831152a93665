package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandemml/tandem"
)

// tokenSelect reads tokens with the name of their workspace, for display.
const tokenSelect = `SELECT t.id, t.name, t.workspace_id, w.name, t.hash, t.created_at
	FROM tokens t LEFT JOIN workspaces w ON w.id = t.workspace_id `

func (t *tx) CreateToken(ctx context.Context, tok *tandem.Token) error {
	if err := t.mustWrite("CreateToken"); err != nil {
		return err
	}
	var workspaceID any // NULL for a region admin token
	if !tok.Admin() {
		if err := t.workspaceExists(ctx, tok.WorkspaceID); err != nil {
			return err
		}
		workspaceID = tok.WorkspaceID
	}
	normalizeTime(&tok.CreatedAt)
	res, err := t.exec(ctx, `INSERT INTO tokens (id, name, workspace_id, hash, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, tok.ID, tok.Name, workspaceID, tok.Hash, formatTime(tok.CreatedAt))
	if err != nil {
		return writeError(fmt.Sprintf("create token %q", tok.Name), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return t.tokenConflict(ctx, tok)
	}
	if !tok.Admin() {
		t.wrote(tok.WorkspaceID)
	}
	return nil
}

// tokenConflict explains which unique column a new token collided on.
func (t *tx) tokenConflict(ctx context.Context, tok *tandem.Token) error {
	if taken, err := t.exists(ctx, "SELECT 1 FROM tokens WHERE name = ?", tok.Name); err != nil {
		return err
	} else if taken {
		return tandem.Errorf(tandem.EConflict, "token %q already exists", tok.Name)
	}
	if taken, err := t.exists(ctx, "SELECT 1 FROM tokens WHERE id = ?", tok.ID); err != nil {
		return err
	} else if taken {
		return tandem.Errorf(tandem.EConflict, "token id %q is taken", tok.ID)
	}
	return tandem.Errorf(tandem.EConflict, "token %q: its secret belongs to another token", tok.Name)
}

func (t *tx) FindTokenByHash(ctx context.Context, hash string) (*tandem.Token, error) {
	list, err := t.listTokens(ctx, "WHERE t.hash = ?", hash)
	if err != nil {
		return nil, err
	} else if len(list) == 0 {
		return nil, tandem.Errorf(tandem.ENotFound, "no token has that secret")
	}
	return list[0], nil
}

func (t *tx) ListTokens(ctx context.Context, filter tandem.TokenFilter) ([]*tandem.Token, error) {
	where := "WHERE 1 = 1"
	var args []any
	if filter.WorkspaceID != "" {
		where += " AND t.workspace_id = ?"
		args = append(args, filter.WorkspaceID)
	}
	if filter.Name != "" {
		where += " AND t.name = ?"
		args = append(args, filter.Name)
	}
	return t.listTokens(ctx, where+" ORDER BY t.name", args...)
}

func (t *tx) listTokens(ctx context.Context, where string, args ...any) ([]*tandem.Token, error) {
	rows, err := t.query(ctx, tokenSelect+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var list []*tandem.Token
	for rows.Next() {
		var (
			tok                          tandem.Token
			workspaceID, workspace, crAt sql.NullString
		)
		if err := rows.Scan(&tok.ID, &tok.Name, &workspaceID, &workspace, &tok.Hash, &crAt); err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		tok.WorkspaceID, tok.Workspace = workspaceID.String, workspace.String
		if tok.CreatedAt, err = parseTime(crAt.String); err != nil {
			return nil, err
		}
		list = append(list, &tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return list, nil
}

func (t *tx) DeleteToken(ctx context.Context, id string) error {
	if err := t.mustWrite("DeleteToken"); err != nil {
		return err
	}
	var workspaceID sql.NullString
	err := t.queryRow(ctx, "SELECT workspace_id FROM tokens WHERE id = ?", id).Scan(&workspaceID)
	if err == sql.ErrNoRows {
		return tandem.Errorf(tandem.ENotFound, "token with id %q not found", id)
	} else if err != nil {
		return fmt.Errorf("find token %q: %w", id, err)
	}
	if _, err := t.exec(ctx, "DELETE FROM tokens WHERE id = ?", id); err != nil {
		return fmt.Errorf("delete token %q: %w", id, err)
	}
	if workspaceID.Valid {
		t.wrote(workspaceID.String)
	}
	return nil
}
