package assets

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/tandemml/tandem"
)

// RenameRegisteredModel renames a registered model and its versions.
// Tandem model versions are immutable and keep their name, so a rename is
// a sequence of writes, each one transaction with its change: the
// registered model under the new name (with its aliases), then each live
// version under the new name with the same number (a version from a run
// references the same bytes; another gets a verified copy of its files in
// its new folder), then the old name's deletion (its versions archived).
// The new name must be free: no registered model and no model versions.
// The sequence is not atomic: when it stops, the error says how far it
// got, and both names exist until the old one is deleted.
func (r *Service) RenameRegisteredModel(ctx context.Context, workspace, name, newName string) (*tandem.RegisteredModel, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	if err := tandem.ValidateAssetName(newName); err != nil {
		return nil, err
	}
	if newName == name {
		return r.GetRegisteredModel(ctx, workspace, name)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	// No version of either name is created meanwhile (locks taken in name
	// order, so that two renames cannot wait for each other).
	first, second := min(name, newName), max(name, newName)
	unlock1 := r.LockAsset(ws.ID, tandem.KindModel, first)
	defer unlock1()
	unlock2 := r.LockAsset(ws.ID, tandem.KindModel, second)
	defer unlock2()
	var versions []*tandem.Resource
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		m, err := findRegisteredModel(ctx, tx, ws.ID, name)
		if err != nil {
			return err
		}
		if err := checkNameFree(ctx, tx, ws.ID, newName); err != nil {
			return err
		}
		if versions, err = liveVersionResources(ctx, tx, ws.ID, name); err != nil {
			return err
		}
		m.Name, m.UpdatedAt = newName, r.Timestamp()
		return r.putRegisteredModel(ctx, tx, ws.ID, m, tandem.OpCreate)
	})
	if err != nil {
		return nil, err
	}
	for i, res := range versions {
		if err := r.renameVersion(ctx, workspace, res, newName); err != nil {
			return nil, fmt.Errorf("rename of registered model %s to %s stopped after %d of %d versions (both names exist; delete %s or %s to finish): %w",
				name, newName, i, len(versions), newName, name, err)
		}
	}
	if err := r.DeleteRegisteredModel(ctx, workspace, name); err != nil {
		return nil, fmt.Errorf("rename of registered model %s to %s: the versions are renamed, but deleting the old name failed: %w", name, newName, err)
	}
	return r.GetRegisteredModel(ctx, workspace, newName)
}

// checkNameFree refuses a new name that has a registered model or model
// versions.
func checkNameFree(ctx context.Context, tx tandem.Tx, wsID, name string) error {
	if _, err := findRegisteredModel(ctx, tx, wsID, name); err == nil {
		return tandem.Errorf(tandem.EConflict, "registered model (name=%s) already exists", name).WithTarget(name)
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return err
	}
	existing, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: tandem.KindModel, Name: name, Limit: 1})
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return tandem.Errorf(tandem.EConflict, "model %q already has versions; rename to a name without any", name).WithTarget(name)
	}
	return nil
}

// liveVersionResources returns the live versions of a model, by number.
func liveVersionResources(ctx context.Context, tx tandem.Tx, wsID, name string) ([]*tandem.Resource, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: tandem.KindModel, Name: name})
	if err != nil {
		return nil, err
	}
	var out []*tandem.Resource
	for _, res := range list {
		a, err := assetFromResource(res)
		if err != nil {
			return nil, err
		}
		if !a.Archived {
			out = append(out, res)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, aerr := strconv.Atoi(out[i].Version)
		b, berr := strconv.Atoi(out[j].Version)
		if aerr == nil && berr == nil {
			return a < b
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// renameVersion writes one version under newName, same number: one write.
func (r *Service) renameVersion(ctx context.Context, workspace string, res *tandem.Resource, newName string) error {
	a, err := assetFromResource(res)
	if err != nil {
		return err
	}
	if len(a.Files) != len(res.Blobs) {
		return fmt.Errorf("model %s:%s lists %d files but references %d blobs", a.Name, a.Version, len(a.Files), len(res.Blobs))
	}
	a.Name = newName
	a.Spec = CloneMap(a.Spec)
	a.Spec["name"] = newName
	blobs := res.Blobs
	var copied []tandem.BlobRef
	if a.JobName == "" {
		folder := tandem.StoragePrefix(res.WorkspaceID) + AssetFolder(tandem.KindModel, newName, a.Version)
		for i, f := range a.Files {
			ref, err := tandem.CopyBlob(ctx, r.Blobs, folder+f.Path, r.Blobs, res.Blobs[i])
			if err != nil {
				r.RemoveBlobs(ctx, copied)
				return fmt.Errorf("copy %s of model %s:%s: %w", f.Path, res.Name, a.Version, err)
			}
			copied = append(copied, ref)
		}
		blobs = copied
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		a.UpdatedAt = r.Timestamp()
		nres, err := AssetResource(ws.ID, a, blobs)
		if err != nil {
			return err
		}
		if err := tx.PutResource(ctx, nres); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindModel, newName, a.Version, tandem.OpCreate, nres)
	})
	if err != nil {
		r.RemoveBlobs(ctx, copied)
	}
	return err
}
