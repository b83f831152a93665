package region

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// RecordWrite notes v as the last write of a resource of a hot/hot
// workspace and returns the version it replaced ("" if none), which the
// write's change carries as its Base.
func RecordWrite(ctx context.Context, tx tandem.Tx, wsID string, kind tandem.Kind, name, version string, v tandem.WriteVersion) (string, error) {
	key := tandem.VersionKey(wsID, kind, name, version)
	var base string
	b, err := tx.GetSetting(ctx, key)
	if err == nil {
		var prev tandem.WriteVersion
		if err := json.Unmarshal(b, &prev); err != nil {
			return "", fmt.Errorf("decode %s: %w", key, err)
		}
		base = prev.String()
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return "", err
	}
	nb, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return base, tx.PutSetting(ctx, key, nb)
}

// ListConflicts returns the losing writes of a hot/hot pair kept in this
// region, oldest first.
func (r *Region) ListConflicts(ctx context.Context, workspace string) ([]*tandem.Conflict, error) {
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	var out []*tandem.Conflict
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListSettings(ctx, tandem.ConflictKeyPrefix(p.WorkspaceID))
		for _, s := range list {
			var c tandem.Conflict
			if err := json.Unmarshal(s.Value, &c); err != nil {
				return fmt.Errorf("decode %s: %w", s.Key, err)
			}
			out = append(out, &c)
		}
		return err
	})
	return out, err
}
