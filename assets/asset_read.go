package assets

import (
	"context"
	"io"
	"sort"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// FindAssetTx returns one version of an asset, or the version a label
// selects ("latest": the most recently created, not archived).
func FindAssetTx(ctx context.Context, tx tandem.Tx, wsID string, kind tandem.Kind, name, version, label string) (*tandem.Asset, error) {
	if label == "" && version == "" {
		label = tandem.LabelLatest
	}
	if label != "" {
		if label != tandem.LabelLatest {
			return nil, tandem.Errorf(tandem.EInvalid, "unknown label %q; the only label is %q", label, tandem.LabelLatest).WithTarget("label")
		}
		versions, err := listVersions(ctx, tx, wsID, kind, name, false)
		if err != nil {
			return nil, err
		}
		if len(versions) == 0 {
			return nil, tandem.Errorf(tandem.ENotFound, "%s %q has no versions", kind, name).WithTarget(name)
		}
		return versions[0], nil
	}
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: kind, Name: name, Version: version})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "%s %q version %q not found", kind, name, version).WithTarget(name + ":" + version)
	} else if err != nil {
		return nil, err
	}
	return assetFromResource(res)
}

// listVersions returns the versions of one name, newest first.
func listVersions(ctx context.Context, tx tandem.Tx, wsID string, kind tandem.Kind, name string, archived bool) ([]*tandem.Asset, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: kind, Name: name})
	if err != nil {
		return nil, err
	}
	var out []*tandem.Asset
	for _, res := range list {
		a, err := assetFromResource(res)
		if err != nil {
			return nil, err
		}
		if a.Archived && !archived {
			continue
		}
		out = append(out, a)
	}
	sortNewestFirst(out)
	return out, nil
}

func sortNewestFirst(list []*tandem.Asset) {
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].CreatedAt.Equal(list[j].CreatedAt) {
			return list[i].CreatedAt.After(list[j].CreatedAt)
		}
		return list[i].Version > list[j].Version
	})
}

// FindAsset returns one version, or the version a label selects.
func (r *Service) FindAsset(ctx context.Context, workspace string, kind tandem.Kind, name, version, label string) (*tandem.Asset, error) {
	var a *tandem.Asset
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		a, err = FindAssetTx(ctx, tx, ws.ID, kind, name, version, label)
		return err
	})
	return a, err
}

// ListAssets returns the latest version of each name, or every version of
// filter.Name, newest first.
func (r *Service) ListAssets(ctx context.Context, workspace string, filter tandem.AssetFilter) ([]*tandem.Asset, error) {
	if !tandem.IsAssetKind(filter.Kind) {
		return nil, tandem.Errorf(tandem.EInvalid, "%q is not a versioned asset kind", filter.Kind)
	}
	var out []*tandem.Asset
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if filter.Name != "" {
			out, err = listVersions(ctx, tx, ws.ID, filter.Kind, filter.Name, filter.IncludeArchived)
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: filter.Kind})
		if err != nil {
			return err
		}
		latest := map[string]*tandem.Asset{}
		for _, res := range list {
			a, err := assetFromResource(res)
			if err != nil {
				return err
			}
			if a.Archived && !filter.IncludeArchived {
				continue
			}
			if cur, ok := latest[a.Name]; !ok || a.CreatedAt.After(cur.CreatedAt) {
				latest[a.Name] = a
			}
		}
		for _, a := range latest {
			out = append(out, a)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return nil
	})
	return out, err
}

// UpdateAsset changes the description or tags of a version.
func (r *Service) UpdateAsset(ctx context.Context, workspace string, kind tandem.Kind, name, version string, upd tandem.AssetUpdate) (*tandem.Asset, error) {
	return r.mutateAsset(ctx, workspace, kind, name, version, func(a *tandem.Asset) error {
		if upd.Description != nil {
			a.Description = *upd.Description
			a.Spec["description"] = *upd.Description
		}
		if upd.Tags != nil {
			a.Tags = upd.Tags
			a.Spec["tags"] = upd.Tags
		}
		return region.ValidateFields("", a.Description, a.Tags)
	})
}

// ArchiveAsset archives or restores one version, or every version of a
// name. Each version is its own write, so each has its own change entry.
func (r *Service) ArchiveAsset(ctx context.Context, workspace string, kind tandem.Kind, name, version string, archived bool) error {
	versions := []string{version}
	if version == "" {
		var all []*tandem.Asset
		err := r.Store.View(ctx, func(tx tandem.Tx) error {
			ws, err := r.LiveWorkspace(ctx, tx, workspace)
			if err != nil {
				return err
			}
			all, err = listVersions(ctx, tx, ws.ID, kind, name, true)
			return err
		})
		if err != nil {
			return err
		}
		if len(all) == 0 {
			return tandem.Errorf(tandem.ENotFound, "%s %q not found", kind, name).WithTarget(name)
		}
		versions = versions[:0]
		for _, a := range all {
			versions = append(versions, a.Version)
		}
	}
	for _, v := range versions {
		_, err := r.mutateAsset(ctx, workspace, kind, name, v, func(a *tandem.Asset) error {
			a.Archived = archived
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// mutateAsset applies fn to one version in a transaction with its change.
func (r *Service) mutateAsset(ctx context.Context, workspace string, kind tandem.Kind, name, version string, fn func(*tandem.Asset) error) (*tandem.Asset, error) {
	if !tandem.IsAssetKind(kind) {
		return nil, tandem.Errorf(tandem.EInvalid, "%q is not a versioned asset kind", kind)
	}
	var a *tandem.Asset
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		key := tandem.ResourceKey{WorkspaceID: ws.ID, Kind: kind, Name: name, Version: version}
		res, err := tx.FindResource(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "%s %q version %q not found", kind, name, version).WithTarget(name + ":" + version)
		} else if err != nil {
			return err
		}
		if a, err = assetFromResource(res); err != nil {
			return err
		}
		if a.Spec == nil {
			a.Spec = map[string]any{}
		}
		if err := fn(a); err != nil {
			return err
		}
		a.UpdatedAt = r.Timestamp()
		upd, err := AssetResource(ws.ID, a, res.Blobs)
		if err != nil {
			return err
		}
		if err := tx.PutResource(ctx, upd); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, kind, name, version, tandem.OpUpdate, upd)
	})
	return a, err
}

// OpenAssetFile returns a verifying reader over one file of a version.
func (r *Service) OpenAssetFile(ctx context.Context, workspace string, kind tandem.Kind, name, version, p string) (*tandem.AssetFile, io.ReadCloser, error) {
	var (
		file tandem.AssetFile
		ref  tandem.BlobRef
	)
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: kind, Name: name, Version: version})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "%s %q version %q not found", kind, name, version)
		} else if err != nil {
			return err
		}
		a, err := assetFromResource(res)
		if err != nil {
			return err
		}
		key := tandem.StoragePrefix(ws.ID) + AssetStorageFolder(a) + p
		for i, f := range a.Files {
			if f.Path == p && i < len(res.Blobs) && res.Blobs[i].Key == key {
				file, ref = f, res.Blobs[i]
				return nil
			}
		}
		return tandem.Errorf(tandem.ENotFound, "%s %s:%s has no file %q", kind, name, version, p).WithTarget(p)
	})
	if err != nil {
		return nil, nil, err
	}
	rc, err := r.Blobs.OpenVerified(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return &file, rc, nil
}

// AssetStorageFolder is the folder an asset version's file paths are
// relative to: its own folder under assets/, or for a version registered
// from a job's output, that job's outputs folder (the version references
// the bytes the job stored; nothing is copied).
func AssetStorageFolder(a *tandem.Asset) string {
	if a.JobName != "" {
		return tandem.JobOutputFolder(a.JobName)
	}
	return AssetFolder(a.Kind, a.Name, a.Version)
}
