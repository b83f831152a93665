package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

var _ tandem.SecretService = (*Service)(nil)

// SecretSpec is the Spec of a KindSecret resource: the sealed value and a
// version counter. It never holds the plaintext, so neither do the
// resources table, the change log, nor anything that replicates them.
type SecretSpec struct {
	Version int64         `json:"version"`
	Sealed  tandem.Sealed `json:"sealed"`
}

// rekeyRecord is the body of an OpRekey change: which secrets of the
// workspace were rewrapped, and under which key. No key material.
type rekeyRecord struct {
	KeyID   string   `json:"key_id"`
	Secrets []string `json:"secrets"`
}

// SecretAAD binds a sealed value to its workspace and name, so that it
// cannot be copied onto another secret, in this workspace or another.
func SecretAAD(wsID, name string) []byte {
	return []byte("tandem/secret/v1\x00" + wsID + "\x00" + name)
}

func CheckSecretValue(value []byte) error {
	switch {
	case len(value) == 0:
		return tandem.Errorf(tandem.EInvalid, "secret value is empty").WithTarget("value")
	case len(value) > tandem.MaxSecretValue:
		return tandem.Errorf(tandem.ETooLarge, "secret value is %d bytes; at most %d (64 KiB) are allowed",
			len(value), tandem.MaxSecretValue).WithTarget("value")
	}
	return nil
}

func DecodeSecret(res *tandem.Resource) (*tandem.Secret, SecretSpec, error) {
	var sp SecretSpec
	if err := json.Unmarshal(res.Spec, &sp); err != nil {
		return nil, sp, fmt.Errorf("decode secret %q of workspace %s: %w", res.Name, res.WorkspaceID, err)
	}
	return &tandem.Secret{
		Name:      res.Name,
		Version:   sp.Version,
		KeyID:     sp.Sealed.KeyID,
		CreatedAt: res.CreatedAt,
		UpdatedAt: res.UpdatedAt,
	}, sp, nil
}

func secretNotFound(workspace, name string) error {
	return tandem.Errorf(tandem.ENotFound, "secret %q not found in workspace %q", name, workspace).WithTarget(name)
}

// caller names the principal of ctx for the audit log.
func caller(ctx context.Context) string {
	if p := tandem.PrincipalFromContext(ctx); p != nil {
		return p.Name
	}
	return "region"
}

// SetSecret creates a secret or replaces its value, sealed by the vault and
// bound to the workspace and name. One transaction writes the resource and
// its change, whose body carries only the sealed value.
func (r *Service) SetSecret(ctx context.Context, workspace, name string, value []byte) (*tandem.Secret, error) {
	if err := tandem.ValidateSecretName(name); err != nil {
		return nil, err
	}
	if err := CheckSecretValue(value); err != nil {
		return nil, err
	}
	v, err := r.RequireVault()
	if err != nil {
		return nil, err
	}
	var sec *tandem.Secret
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		now := r.Timestamp()
		res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: name, CreatedAt: now, UpdatedAt: now}
		sp := SecretSpec{Version: 1}
		op := tandem.OpCreate
		if old, err := tx.FindResource(ctx, res.Key()); err == nil {
			_, oldSpec, err := DecodeSecret(old)
			if err != nil {
				return err
			}
			op, res.CreatedAt, sp.Version = tandem.OpUpdate, old.CreatedAt, oldSpec.Version+1
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		// Seal inside the transaction: a key rotation's rewrap, serialized
		// with it, either sees this value or ran before it was sealed, so no
		// value is ever left under a key the rotation then retires.
		if sp.Sealed, err = v.Seal(value, SecretAAD(ws.ID, name)); err != nil {
			return fmt.Errorf("seal secret %q: %w", name, err)
		}
		if res.Spec, err = json.Marshal(sp); err != nil {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		if sec, _, err = DecodeSecret(res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindSecret, name, "", op, res)
	})
	if err != nil {
		return nil, err
	}
	r.Logger.Info("secret set", "workspace", workspace, "secret", name, "version", sec.Version, "by", caller(ctx))
	return sec, nil
}

// ListSecrets returns the metadata of a workspace's secrets, by name.
func (r *Service) ListSecrets(ctx context.Context, workspace string) ([]*tandem.Secret, error) {
	var out []*tandem.Secret
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindSecret})
		if err != nil {
			return err
		}
		for _, res := range list {
			sec, _, err := DecodeSecret(res)
			if err != nil {
				return err
			}
			out = append(out, sec)
		}
		return nil
	})
	return out, err
}

// findSecret returns a secret's resource, decoded.
func (r *Service) findSecret(ctx context.Context, workspace, name string) (*tandem.Workspace, *tandem.Secret, SecretSpec, error) {
	var (
		ws  *tandem.Workspace
		sec *tandem.Secret
		sp  SecretSpec
	)
	if err := tandem.ValidateSecretName(name); err != nil {
		return nil, nil, sp, err
	}
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.LiveWorkspace(ctx, tx, workspace); err != nil {
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: name})
		if tandem.IsCode(err, tandem.ENotFound) {
			return secretNotFound(workspace, name)
		} else if err != nil {
			return err
		}
		sec, sp, err = DecodeSecret(res)
		return err
	})
	return ws, sec, sp, err
}

// FindSecret returns a secret's metadata.
func (r *Service) FindSecret(ctx context.Context, workspace, name string) (*tandem.Secret, error) {
	_, sec, _, err := r.findSecret(ctx, workspace, name)
	return sec, err
}

// GetSecretValue opens a secret's value. Every read is logged (without the
// value) for audit.
func (r *Service) GetSecretValue(ctx context.Context, workspace, name string) ([]byte, error) {
	v, err := r.RequireVault()
	if err != nil {
		return nil, err
	}
	ws, _, sp, err := r.findSecret(ctx, workspace, name)
	if err != nil {
		return nil, err
	}
	value, err := v.Open(sp.Sealed, SecretAAD(ws.ID, name))
	if err != nil {
		return nil, VaultError(r.Logger, err, workspace, name)
	}
	r.Logger.Info("secret read", "workspace", workspace, "secret", name, "by", caller(ctx))
	return value, nil
}

// VaultError explains a vault failure on one secret: a key missing from the
// key file is the operator's to fix (Unavailable), a value that fails
// authentication is corrupt. Both are logged.
func VaultError(log *slog.Logger, err error, workspace, name string) error {
	log.Error("open secret", "workspace", workspace, "secret", name, "err", err)
	switch tandem.ErrorCode(err) {
	case tandem.ENotFound:
		return tandem.Errorf(tandem.EUnavailable,
			"secret %q of workspace %q is sealed under a key-encryption key the server's key file does not hold: %s",
			name, workspace, tandem.ErrorMessage(err)).WithTarget(name)
	case tandem.ECorrupt:
		return tandem.Errorf(tandem.ECorrupt, "secret %q of workspace %q: %s", name, workspace, tandem.ErrorMessage(err)).WithTarget(name)
	}
	return err
}

// DeleteSecret removes a secret and logs its removal.
func (r *Service) DeleteSecret(ctx context.Context, workspace, name string) error {
	if err := tandem.ValidateSecretName(name); err != nil {
		return err
	}
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		err = tx.DeleteResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: name})
		if tandem.IsCode(err, tandem.ENotFound) {
			return secretNotFound(workspace, name)
		} else if err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindSecret, name, "", tandem.OpDelete, nil)
	})
	if err == nil {
		r.Logger.Info("secret deleted", "workspace", workspace, "secret", name, "by", caller(ctx))
	}
	return err
}

// RotateKey rotates the region's key-encryption key in three steps, each
// safe to be the last before a crash because the keyring always holds
// every key in use:
//
//  1. the vault adds a new key and makes it current (the file keeps the
//     old ones);
//  2. one Update rewraps the data key of every secret, in live and
//     soft-deleted workspaces, under the new key, with one OpRekey change
//     per workspace that has secrets;
//  3. the vault retires the keys no stored secret uses any more.
//
// A failure at step 2 or 3 leaves the old keys in the ring; running the
// rotation again finishes the job.
func (r *Service) RotateKey(ctx context.Context) (*tandem.KeyRotation, error) {
	if err := region.RequireAdmin(ctx, "rotating the vault key"); err != nil {
		return nil, err
	}
	v, err := r.RequireVault()
	if err != nil {
		return nil, err
	}
	rot, ok := v.(tandem.KeyRotator)
	if !ok {
		return nil, tandem.Errorf(tandem.EInvalid, "this region's vault keys are managed outside Tandem; rotate them there")
	}
	kid, err := rot.AddKey()
	if err != nil {
		return nil, fmt.Errorf("add vault key: %w", err)
	}
	out := &tandem.KeyRotation{KeyID: kid}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		out.Secrets, out.Workspaces = 0, 0
		wss, err := allWorkspaces(ctx, tx)
		if err != nil {
			return err
		}
		for _, ws := range wss {
			n, err := r.rewrapWorkspace(ctx, tx, rot, ws)
			if err != nil {
				return err
			}
			if n > 0 {
				out.Secrets += n
				out.Workspaces++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rewrap secrets under new vault key %s (the key file keeps the old keys; run the rotation again): %w", kid, err)
	}
	inUse, err := r.keysInUse(ctx)
	if err != nil {
		return nil, fmt.Errorf("list vault keys in use (the key file keeps the old keys; run the rotation again): %w", err)
	}
	if out.RetiredKeys, err = rot.RetireKeys(inUse); err != nil {
		return nil, fmt.Errorf("retire old vault keys (they stay in the key file; run the rotation again): %w", err)
	}
	if out.RetiredKeys == nil {
		out.RetiredKeys = []string{}
	}
	r.Logger.Info("vault key rotated", "key_id", kid, "secrets", out.Secrets, "workspaces", out.Workspaces,
		"retired", out.RetiredKeys, "by", caller(ctx))
	return out, nil
}

// rewrapWorkspace rewraps the secrets of ws that are not under the current
// key and logs one OpRekey change if there were any. It returns how many.
func (r *Service) rewrapWorkspace(ctx context.Context, tx tandem.Tx, v tandem.Vault, ws *tandem.Workspace) (int, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindSecret})
	if err != nil {
		return 0, err
	}
	rec := rekeyRecord{KeyID: v.KeyID(), Secrets: []string{}}
	for _, res := range list {
		_, sp, err := DecodeSecret(res)
		if err != nil {
			return 0, err
		}
		if sp.Sealed.KeyID == rec.KeyID {
			continue
		}
		if sp.Sealed, err = v.Rewrap(sp.Sealed); err != nil {
			return 0, fmt.Errorf("secret %q of workspace %q (delete it or restore its key): %w", res.Name, ws.Name, err)
		}
		if res.Spec, err = json.Marshal(sp); err != nil {
			return 0, err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return 0, err
		}
		rec.Secrets = append(rec.Secrets, res.Name)
	}
	if len(rec.Secrets) == 0 {
		return 0, nil
	}
	return len(rec.Secrets), r.LogChange(ctx, tx, ws.ID, tandem.KindSecret, "", "", tandem.OpRekey, rec)
}

// keysInUse returns the ids of the keys that stored secrets are sealed under.
func (r *Service) keysInUse(ctx context.Context) ([]string, error) {
	var ids []string
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		wss, err := allWorkspaces(ctx, tx)
		if err != nil {
			return err
		}
		for _, ws := range wss {
			list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindSecret})
			if err != nil {
				return err
			}
			for _, res := range list {
				_, sp, err := DecodeSecret(res)
				if err != nil {
					return err
				}
				if !slices.Contains(ids, sp.Sealed.KeyID) {
					ids = append(ids, sp.Sealed.KeyID)
				}
			}
		}
		return nil
	})
	return ids, err
}

// allWorkspaces returns live and soft-deleted workspaces: a deleted
// workspace's secrets come back with it when it is recovered.
func allWorkspaces(ctx context.Context, tx tandem.Tx) ([]*tandem.Workspace, error) {
	live, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
	if err != nil {
		return nil, err
	}
	deleted, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
	if err != nil {
		return nil, err
	}
	return append(live, deleted...), nil
}
