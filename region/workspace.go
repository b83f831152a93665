package region

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
)

const (
	maxDescription  = 4096
	maxDisplayName  = 256
	maxTags         = 64
	maxTagKey       = 128
	maxTagValue     = 1024
	WorkspaceMarker = ".tandem/workspace.json" // marker written into each workspace's storage
)

// FindWorkspace returns a live workspace visible to the caller.
func (r *Region) FindWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	var ws *tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		ws, err = r.LiveWorkspace(ctx, tx, name)
		return err
	})
	return ws, err
}

// LiveWorkspace finds a live workspace the caller may use, with errors that
// say what to do about a soft-deleted one.
func (r *Region) LiveWorkspace(ctx context.Context, tx tandem.Tx, name string) (*tandem.Workspace, error) {
	ws, err := r.AnyWorkspace(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if ws.Deleted() {
		return nil, tandem.Errorf(tandem.ENotFound,
			"workspace %q is soft-deleted (purge due %s); recover it with `tandem workspace recover --name %s`",
			name, ws.PurgeAt.Format("2006-01-02 15:04 MST"), name).WithTarget(name)
	}
	return ws, nil
}

// AnyWorkspace finds a live or soft-deleted workspace the caller may see.
func (r *Region) AnyWorkspace(ctx context.Context, tx tandem.Tx, name string) (*tandem.Workspace, error) {
	ws, err := tx.FindWorkspaceByName(ctx, name)
	if tandem.IsCode(err, tandem.ENotFound) || (err == nil && !Visible(ctx, ws)) {
		return nil, tandem.Errorf(tandem.ENotFound, "workspace %q not found", name).WithTarget(name)
	} else if err != nil {
		return nil, err
	}
	return ws, nil
}

// ListWorkspaces returns the workspaces visible to the caller.
func (r *Region) ListWorkspaces(ctx context.Context, filter tandem.WorkspaceFilter) ([]*tandem.Workspace, error) {
	var out []*tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		all, err := tx.ListWorkspaces(ctx, filter)
		if err != nil {
			return err
		}
		for _, ws := range all {
			if Visible(ctx, ws) {
				out = append(out, ws)
			}
		}
		return nil
	})
	return out, err
}

// CreateWorkspace validates w, provisions its associated resources and
// records it. On any failure nothing of it remains.
func (r *Region) CreateWorkspace(ctx context.Context, w *tandem.Workspace) error {
	if err := RequireAdmin(ctx, "creating a workspace"); err != nil {
		return err
	}
	if err := tandem.ValidateWorkspaceName(w.Name); err != nil {
		return err
	}
	if err := ValidateFields(w.DisplayName, w.Description, w.Tags); err != nil {
		return err
	}
	// Refuse a taken name before touching storage.
	if err := r.Store.View(ctx, func(tx tandem.Tx) error { return NameFree(ctx, tx, w.Name) }); err != nil {
		return err
	}

	now := r.Timestamp()
	w.ID = uuid.NewString()
	w.Region = r.Name
	w.CreatedAt, w.UpdatedAt = now, now
	w.DeletedAt, w.PurgeAt = nil, nil
	w.Resources = tandem.WorkspaceResources{
		Storage:             tandem.StoragePrefix(w.ID),
		KeyVault:            "vault/" + w.ID,
		ApplicationInsights: "insights/" + w.ID,
		ContainerRegistry:   "registry/" + w.ID,
	}

	// Provision the storage prefix with a marker that names the workspace,
	// so its storage can be identified with ordinary tools.
	marker, err := json.MarshalIndent(map[string]string{"id": w.ID, "name": w.Name, "region": w.Region}, "", "  ")
	if err != nil {
		return err
	}
	markerKey := w.Resources.Storage + WorkspaceMarker
	if _, err := r.Blobs.Put(ctx, markerKey, strings.NewReader(string(marker)), nil); err != nil {
		return fmt.Errorf("provision storage for workspace %q: %w", w.Name, err)
	}

	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := NameFree(ctx, tx, w.Name); err != nil {
			return err
		}
		if err := tx.CreateWorkspace(ctx, w); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, w.ID, tandem.KindWorkspace, w.Name, "", tandem.OpCreate, w)
	})
	if err != nil {
		if derr := r.Blobs.Delete(context.WithoutCancel(ctx), markerKey); derr != nil {
			r.Logger.Error("remove storage marker of failed workspace", "workspace", w.Name, "err", derr)
		}
		return err
	}
	r.Logger.Info("workspace created", "workspace", w.Name, "id", w.ID)
	return nil
}

func NameFree(ctx context.Context, tx tandem.Tx, name string) error {
	ws, err := tx.FindWorkspaceByName(ctx, name)
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if ws.Deleted() {
		return tandem.Errorf(tandem.EConflict,
			"workspace name %q belongs to a soft-deleted workspace (purge due %s); recover it with `tandem workspace recover --name %s` or free the name with `tandem workspace purge --name %s`",
			name, ws.PurgeAt.Format("2006-01-02 15:04 MST"), name, name).WithTarget(name)
	}
	return tandem.Errorf(tandem.EConflict, "workspace %q already exists", name).WithTarget(name)
}

func ValidateFields(displayName, description string, tags map[string]string) error {
	switch {
	case utf8.RuneCountInString(displayName) > maxDisplayName:
		return tandem.Errorf(tandem.EInvalid, "display name is longer than %d characters", maxDisplayName).WithTarget("display_name")
	case utf8.RuneCountInString(description) > maxDescription:
		return tandem.Errorf(tandem.EInvalid, "description is longer than %d characters", maxDescription).WithTarget("description")
	case len(tags) > maxTags:
		return tandem.Errorf(tandem.EInvalid, "%d tags given; at most %d are allowed", len(tags), maxTags).WithTarget("tags")
	}
	for k, v := range tags {
		switch {
		case strings.TrimSpace(k) == "":
			return tandem.Errorf(tandem.EInvalid, "tag keys must not be empty").WithTarget("tags")
		case len(k) > maxTagKey:
			return tandem.Errorf(tandem.EInvalid, "tag key %q is longer than %d bytes", k, maxTagKey).WithTarget("tags")
		case len(v) > maxTagValue:
			return tandem.Errorf(tandem.EInvalid, "value of tag %q is longer than %d bytes", k, maxTagValue).WithTarget("tags")
		}
	}
	return nil
}

// UpdateWorkspace changes the description, display name or tags of a live
// workspace.
func (r *Region) UpdateWorkspace(ctx context.Context, name string, upd tandem.WorkspaceUpdate) (*tandem.Workspace, error) {
	var ws *tandem.Workspace
	err := r.Store.Update(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.LiveWorkspace(ctx, tx, name); err != nil {
			return err
		}
		if upd.DisplayName != nil {
			ws.DisplayName = *upd.DisplayName
		}
		if upd.Description != nil {
			ws.Description = *upd.Description
		}
		if upd.Tags != nil {
			ws.Tags = upd.Tags
		}
		if err := ValidateFields(ws.DisplayName, ws.Description, ws.Tags); err != nil {
			return err
		}
		ws.UpdatedAt = r.Timestamp()
		if err := tx.UpdateWorkspace(ctx, ws); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindWorkspace, ws.Name, "", tandem.OpUpdate, ws)
	})
	return ws, err
}

// DeleteWorkspace soft-deletes a live workspace for the retention period,
// or purges it at once with opts.Permanent.
func (r *Region) DeleteWorkspace(ctx context.Context, name string, opts tandem.DeleteOptions) (*tandem.Workspace, error) {
	if err := RequireAdmin(ctx, "deleting a workspace"); err != nil {
		return nil, err
	}
	var ws *tandem.Workspace
	err := r.Store.Update(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.LiveWorkspace(ctx, tx, name); err != nil {
			return err
		}
		now := r.Timestamp()
		purgeAt := now.Add(r.Retention)
		if opts.Permanent {
			purgeAt = now
		}
		ws.DeletedAt, ws.PurgeAt, ws.UpdatedAt = &now, &purgeAt, now
		if opts.Permanent {
			return tx.PurgeWorkspace(ctx, ws.ID)
		}
		if err := tx.UpdateWorkspace(ctx, ws); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindWorkspace, ws.Name, "", tandem.OpDelete, ws)
	})
	if err != nil {
		return nil, err
	}
	if opts.Permanent {
		r.Logger.Info("workspace permanently deleted", "workspace", ws.Name, "id", ws.ID)
		if opts.PurgeStorage {
			if err := r.purgeStorage(ctx, ws); err != nil {
				return ws, err
			}
		}
	} else {
		r.Logger.Info("workspace soft-deleted", "workspace", ws.Name, "id", ws.ID, "purge_at", ws.PurgeAt)
	}
	return ws, nil
}

// RecoverWorkspace brings back a soft-deleted workspace with everything in it.
func (r *Region) RecoverWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	if err := RequireAdmin(ctx, "recovering a workspace"); err != nil {
		return nil, err
	}
	var ws *tandem.Workspace
	err := r.Store.Update(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.AnyWorkspace(ctx, tx, name); err != nil {
			return err
		}
		if !ws.Deleted() {
			return tandem.Errorf(tandem.EConflict, "workspace %q is not deleted; there is nothing to recover", name).WithTarget(name)
		}
		ws.DeletedAt, ws.PurgeAt, ws.UpdatedAt = nil, nil, r.Timestamp()
		if err := tx.UpdateWorkspace(ctx, ws); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindWorkspace, ws.Name, "", tandem.OpRecover, ws)
	})
	if err == nil {
		r.Logger.Info("workspace recovered", "workspace", ws.Name, "id", ws.ID)
	}
	return ws, err
}

// PurgeWorkspace removes a soft-deleted workspace's metadata now, and its
// storage too with opts.Storage. Notebooks stay in storage otherwise.
func (r *Region) PurgeWorkspace(ctx context.Context, name string, opts tandem.PurgeOptions) error {
	if err := RequireAdmin(ctx, "purging a workspace"); err != nil {
		return err
	}
	var ws *tandem.Workspace
	err := r.Store.Update(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.AnyWorkspace(ctx, tx, name); err != nil {
			return err
		}
		if !ws.Deleted() {
			return tandem.Errorf(tandem.EConflict,
				"workspace %q is live; delete it first (`tandem workspace delete --name %s`), or delete it with --permanently-delete to skip retention",
				name, name).WithTarget(name)
		}
		return tx.PurgeWorkspace(ctx, ws.ID)
	})
	if err != nil {
		return err
	}
	r.Logger.Info("workspace purged", "workspace", ws.Name, "id", ws.ID, "storage", opts.Storage)
	if opts.Storage {
		return r.purgeStorage(ctx, ws)
	}
	return nil
}

func (r *Region) purgeStorage(ctx context.Context, ws *tandem.Workspace) error {
	n, err := r.Blobs.DeletePrefix(ctx, tandem.StoragePrefix(ws.ID))
	if err != nil {
		return fmt.Errorf("purge storage of workspace %q: %w", ws.Name, err)
	}
	r.Logger.Info("workspace storage purged", "workspace", ws.Name, "id", ws.ID, "blobs", n)
	return nil
}

// PurgeExpired purges every soft-deleted workspace whose retention has
// ended, keeping its storage, and returns how many it purged.
func (r *Region) PurgeExpired(ctx context.Context) (int, error) {
	var due []*tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		deleted, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: true})
		now := r.Timestamp()
		for _, ws := range deleted {
			if ws.PurgeAt != nil && !ws.PurgeAt.After(now) {
				due = append(due, ws)
			}
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ws := range due {
		purged := false
		err := r.Store.Update(ctx, func(tx tandem.Tx) error {
			// Recheck inside the transaction: it may have been recovered.
			cur, err := tx.FindWorkspaceByID(ctx, ws.ID)
			if err != nil || !cur.Deleted() || cur.PurgeAt.After(r.Timestamp()) {
				return err
			}
			purged = true
			return tx.PurgeWorkspace(ctx, ws.ID)
		})
		if tandem.IsCode(err, tandem.ENotFound) || (err == nil && !purged) {
			continue
		} else if err != nil {
			return n, fmt.Errorf("purge expired workspace %q: %w", ws.Name, err)
		}
		n++
		r.Logger.Info("workspace purged after retention", "workspace", ws.Name, "id", ws.ID)
	}
	return n, nil
}

// RunPurger purges expired workspaces every interval until ctx ends.
func (r *Region) RunPurger(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.PurgeExpired(ctx); err != nil && ctx.Err() == nil {
			r.Logger.Error("purge expired workspaces", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
