package region

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// A pending write is bytes committed in metadata but still in the staging
// area, to be copied to their readable key. It is noted in a setting in the
// transaction that commits the write, and removed once the copy is done.

const pendingKeyPrefix = "pending/"

type PendingWrite struct {
	Final  tandem.BlobRef `json:"final"`
	Staged string         `json:"staged"`
}

func PutPending(ctx context.Context, tx tandem.Tx, final tandem.BlobRef, staged string) error {
	b, err := json.Marshal(PendingWrite{Final: final, Staged: staged})
	if err != nil {
		return err
	}
	return tx.PutSetting(ctx, pendingKeyPrefix+final.Key, b)
}

// FinishPending completes the pending copy to key, if there is one. Copies
// to one key are serialized, and each reads the note once it holds the
// lock, so an older copy never lands after a newer one.
func (r *Region) FinishPending(ctx context.Context, key string) error {
	unlock := r.LockAsset("", "pending", key)
	defer unlock()
	var pw *PendingWrite
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		b, err := tx.GetSetting(ctx, pendingKeyPrefix+key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		} else if err != nil {
			return err
		}
		pw = &PendingWrite{}
		return json.Unmarshal(b, pw)
	})
	if err != nil || pw == nil {
		return err
	}
	return r.completePending(ctx, pw)
}

func (r *Region) completePending(ctx context.Context, pw *PendingWrite) error {
	// Copy even when the key's recorded sha256 already matches: the record
	// says nothing of bytes that rotted under it.
	staged := tandem.BlobRef{Key: pw.Staged, SHA256: pw.Final.SHA256, Size: pw.Final.Size}
	_, err := tandem.CopyBlob(ctx, r.Blobs, pw.Final.Key, r.Blobs, staged)
	if tandem.IsCode(err, tandem.ENotFound) {
		// Finished by another reader between our look and now.
		return nil
	} else if err != nil {
		return fmt.Errorf("finish write of %s: %w", pw.Final.Key, err)
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		// A newer write of the same key may have replaced the note.
		b, err := tx.GetSetting(ctx, pendingKeyPrefix+pw.Final.Key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		} else if err != nil {
			return err
		}
		var now PendingWrite
		if json.Unmarshal(b, &now) == nil && now.Staged == pw.Staged {
			return tx.DeleteSetting(ctx, pendingKeyPrefix+pw.Final.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.Blobs.Delete(ctx, pw.Staged)
}

// FinishPendingWrites completes every pending copy; servers run it at
// start, after a crash may have cut copies short.
func (r *Region) FinishPendingWrites(ctx context.Context) error {
	var list []tandem.Setting
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		list, err = tx.ListSettings(ctx, pendingKeyPrefix)
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range list {
		if err := r.FinishPending(ctx, strings.TrimPrefix(s.Key, pendingKeyPrefix)); err != nil {
			return err
		}
	}
	if len(list) > 0 {
		r.Logger.Info("pending writes finished", "count", len(list))
	}
	return nil
}

// HasPendingWrite reports whether the blob key still waits for its staged
// bytes (a write that crashed between its commit and its copy).
func HasPendingWrite(ctx context.Context, tx tandem.Tx, key string) (bool, error) {
	_, err := tx.GetSetting(ctx, pendingKeyPrefix+key)
	if tandem.IsCode(err, tandem.ENotFound) {
		return false, nil
	}
	return err == nil, err
}
