package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandemml/tandem"
)

// GetSetting returns the value stored under key. ENotFound if none.
func (t *tx) GetSetting(ctx context.Context, key string) ([]byte, error) {
	var v string
	err := t.queryRow(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err == sql.ErrNoRows {
		return nil, tandem.Errorf(tandem.ENotFound, "setting %q not found", key)
	} else if err != nil {
		return nil, fmt.Errorf("get setting %q: %w", key, err)
	}
	return []byte(v), nil
}

// PutSetting stores value under key, replacing any previous value.
func (t *tx) PutSetting(ctx context.Context, key string, value []byte) error {
	if err := t.mustWrite("PutSetting"); err != nil {
		return err
	}
	_, err := t.exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, string(value), formatTime(t.db.Now()))
	if err != nil {
		return fmt.Errorf("put setting %q: %w", key, err)
	}
	return nil
}

// DeleteSetting removes key. Removing a missing key is not an error.
func (t *tx) DeleteSetting(ctx context.Context, key string) error {
	if err := t.mustWrite("DeleteSetting"); err != nil {
		return err
	}
	if _, err := t.exec(ctx, "DELETE FROM settings WHERE key = ?", key); err != nil {
		return fmt.Errorf("delete setting %q: %w", key, err)
	}
	return nil
}

// ListSettings returns the settings whose key starts with prefix, by key.
func (t *tx) ListSettings(ctx context.Context, prefix string) ([]tandem.Setting, error) {
	rows, err := t.query(ctx, "SELECT key, value FROM settings WHERE substr(key, 1, ?) = ? ORDER BY key", len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("list settings %q: %w", prefix, err)
	}
	defer rows.Close()
	var out []tandem.Setting
	for rows.Next() {
		var s tandem.Setting
		var v string
		if err := rows.Scan(&s.Key, &v); err != nil {
			return nil, fmt.Errorf("read setting: %w", err)
		}
		s.Value = []byte(v)
		out = append(out, s)
	}
	return out, rows.Err()
}
