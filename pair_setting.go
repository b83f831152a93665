package tandem

import (
	"context"
	"encoding/json"
	"fmt"
)

// A workspace's pair is kept in its region's metadata as the setting
// pair/<workspace-id> (a Pair in JSON). These four functions are the only
// code that spells that key: the kernel's writable check, failover, the
// replicator and its manager all go through them.
const pairSettingPrefix = "pair/"

// FindPair returns the pair of a workspace, or nil when it is not paired.
func FindPair(ctx context.Context, tx Tx, workspaceID string) (*Pair, error) {
	b, err := tx.GetSetting(ctx, pairSettingPrefix+workspaceID)
	if IsCode(err, ENotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var p Pair
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode pair of workspace %s: %w", workspaceID, err)
	}
	return &p, nil
}

// PutPair stores p as the pair of p.WorkspaceID.
func PutPair(ctx context.Context, tx Tx, p *Pair) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return tx.PutSetting(ctx, pairSettingPrefix+p.WorkspaceID, b)
}

// DeletePair removes the pair of a workspace; removing none is not an error.
func DeletePair(ctx context.Context, tx Tx, workspaceID string) error {
	return tx.DeleteSetting(ctx, pairSettingPrefix+workspaceID)
}

// ListPairs returns every pair of the region, ordered by workspace id.
func ListPairs(ctx context.Context, tx Tx) ([]*Pair, error) {
	list, err := tx.ListSettings(ctx, pairSettingPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]*Pair, 0, len(list))
	for _, s := range list {
		var p Pair
		if err := json.Unmarshal(s.Value, &p); err != nil {
			return nil, fmt.Errorf("decode %s: %w", s.Key, err)
		}
		out = append(out, &p)
	}
	return out, nil
}
