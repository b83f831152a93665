package replication

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// tokenRecord is a workspace token as the change log carries it.
type tokenRecord struct {
	tandem.Token
	Hash string `json:"hash"`
}

// apply writes the rows one replicated entry describes, then appends the
// entry itself with its seq. Re-applying is harmless: rows are upserted.
func apply(ctx context.Context, tx tandem.Tx, p *tandem.Pair, region string, c *tandem.Change) error {
	if err := applyRows(ctx, tx, p, region, c); err != nil {
		return err
	}
	return tx.ApplyChange(ctx, c)
}

// ApplyRows writes the rows one entry describes, without logging it. A
// demoted primary uses it to put back rows its divergent writes changed.
func ApplyRows(ctx context.Context, tx tandem.Tx, p *tandem.Pair, region string, c *tandem.Change) error {
	return applyRows(ctx, tx, p, region, c)
}

// DecodeResource returns the resource an entry's body holds, or nil.
func DecodeResource(c *tandem.Change) (*tandem.Resource, error) { return decodeResource(c) }

// applyRows writes the rows one entry describes, without logging it.
func applyRows(ctx context.Context, tx tandem.Tx, p *tandem.Pair, region string, c *tandem.Change) error {
	var err error
	switch c.Kind {
	case tandem.KindWorkspace:
		err = applyWorkspace(ctx, tx, p, region, c)
	case tandem.KindToken:
		err = applyToken(ctx, tx, c)
	default:
		err = applyResource(ctx, tx, c)
	}
	if err != nil {
		return fmt.Errorf("apply change %d (%s %s %s): %w", c.Seq, c.Op, c.Kind, c.Name, err)
	}
	return nil
}

func applyWorkspace(ctx context.Context, tx tandem.Tx, p *tandem.Pair, region string, c *tandem.Change) error {
	var w tandem.Workspace
	if err := json.Unmarshal(c.Body, &w); err != nil {
		return fmt.Errorf("decode workspace: %w", err)
	}
	// The secondary keeps its own name and region; everything else follows
	// the primary.
	w.Name, w.Region = p.Workspace, region
	if _, err := tx.FindWorkspaceByID(ctx, w.ID); tandem.IsCode(err, tandem.ENotFound) {
		return tx.CreateWorkspace(ctx, &w)
	} else if err != nil {
		return err
	}
	return tx.UpdateWorkspace(ctx, &w)
}

func applyToken(ctx context.Context, tx tandem.Tx, c *tandem.Change) error {
	found, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: c.Name})
	if err != nil {
		return err
	}
	for _, t := range found {
		if err := tx.DeleteToken(ctx, t.ID); err != nil {
			return err
		}
	}
	if c.Op == tandem.OpDelete {
		return nil
	}
	var rec tokenRecord
	if err := json.Unmarshal(c.Body, &rec); err != nil {
		return fmt.Errorf("decode token: %w", err)
	}
	rec.Token.Hash = rec.Hash
	rec.Token.WorkspaceID = c.WorkspaceID
	return tx.CreateToken(ctx, &rec.Token)
}

func applyResource(ctx context.Context, tx tandem.Tx, c *tandem.Change) error {
	if c.Op == tandem.OpDelete && len(c.Body) == 0 {
		err := tx.DeleteResource(ctx, tandem.ResourceKey{WorkspaceID: c.WorkspaceID, Kind: c.Kind, Name: c.Name, Version: c.Version})
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		}
		return err
	}
	res, err := decodeResource(c)
	if err != nil || res == nil {
		return err
	}
	return tx.PutResource(ctx, res)
}

// decodeResource returns the resource an entry's body holds, or nil for
// entries whose body is not a resource (a key rotation's summary, say).
func decodeResource(c *tandem.Change) (*tandem.Resource, error) {
	if len(c.Body) == 0 || c.Kind == tandem.KindWorkspace || c.Kind == tandem.KindToken {
		return nil, nil
	}
	var res tandem.Resource
	if err := json.Unmarshal(c.Body, &res); err != nil {
		return nil, fmt.Errorf("decode %s: %w", c.Kind, err)
	}
	if res.Kind == "" || res.Name == "" {
		return nil, nil
	}
	res.WorkspaceID = c.WorkspaceID
	return &res, nil
}
