package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
)

func AssetFolder(kind tandem.Kind, name, version string) string {
	return "assets/" + string(kind) + "/" + name + "/" + version + "/"
}

// DatastoreURI returns the azureml:// URI of a path in a workspace's default
// storage (the workspaceblobstore datastore, rooted at workspaces/<id>/).
func DatastoreURI(rel string) string {
	return "azureml://datastores/" + DefaultDatastore + "/paths/" + rel
}

// DefaultDatastore is the datastore of every workspace's default storage.
const DefaultDatastore = "workspaceblobstore"

// CreateAsset validates and registers an asset version: the staged files
// are copied (verified) to the version's folder, then the version and its
// change-log entry are written in one transaction. On failure the copies
// are removed again: no version without its files, no files without a
// version.
func (r *Service) CreateAsset(ctx context.Context, workspace string, req *tandem.AssetRequest) (*tandem.Asset, bool, error) {
	if !tandem.IsAssetKind(req.Kind) {
		return nil, false, tandem.Errorf(tandem.EInvalid, "%q is not a versioned asset kind (want data, model, environment or component)", req.Kind)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, false, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, false, err
	}
	a, err := r.prepareAsset(ctx, ws, req)
	if err != nil {
		return nil, false, err
	}

	unlock := r.LockAsset(ws.ID, a.Kind, a.Name)
	defer unlock()

	// Allocate the version, or find the existing one, before touching storage.
	var existing *tandem.Asset
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		if a.Version == "" {
			v, err := NextVersion(ctx, tx, ws.ID, a.Kind, a.Name)
			a.Version = v
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: a.Kind, Name: a.Name, Version: a.Version})
		if err == nil {
			existing, err = assetFromResource(res)
		} else if tandem.IsCode(err, tandem.ENotFound) {
			err = nil
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	finalizeSpec(a, req)
	if existing != nil {
		if sameContent(existing, a, len(req.Files) > 0) {
			return existing, false, nil
		}
		return nil, false, tandem.Errorf(tandem.EConflict,
			"%s %s version %s already exists with different content; versions are immutable: omit the version to create the next one, or choose another",
			a.Kind, a.Name, a.Version).WithTarget(a.Name + ":" + a.Version)
	}

	a.CreatedAt = r.Timestamp()
	a.UpdatedAt = a.CreatedAt
	blobs, err := r.copyStaged(ctx, ws, a)
	if err != nil {
		return nil, false, err
	}
	res, err := AssetResource(ws.ID, a, blobs)
	if err == nil {
		err = r.Store.Update(ctx, func(tx tandem.Tx) error {
			if _, err := r.LiveWorkspace(ctx, tx, workspace); err != nil {
				return err
			}
			if _, err := tx.FindResource(ctx, res.Key()); err == nil {
				return tandem.Errorf(tandem.EConflict, "%s %s version %s was created concurrently; retry", a.Kind, a.Name, a.Version)
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
			return r.LogChange(ctx, tx, ws.ID, a.Kind, a.Name, a.Version, tandem.OpCreate, res)
		})
	}
	if err != nil {
		r.RemoveBlobs(ctx, blobs)
		return nil, false, err
	}
	for _, f := range req.Files {
		_ = r.Blobs.Delete(ctx, region.StagingKey(ws.ID, f.SHA256))
	}
	r.Logger.Info("asset created", "workspace", ws.Name, "kind", a.Kind, "name", a.Name, "version", a.Version, "files", len(a.Files))
	return a, true, nil
}

// prepareAsset validates the request against the document rules, the
// staged files and the references, and returns the asset to create (its
// version may still be empty).
func (r *Service) prepareAsset(ctx context.Context, ws *tandem.Workspace, req *tandem.AssetRequest) (*tandem.Asset, error) {
	raw, err := json.Marshal(req.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "spec is not a JSON document: %v", err)
	}
	doc, err := spec.Parse(raw, "request", spec.Options{Kind: string(req.Kind), NoFS: true})
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	if doc.Kind != string(req.Kind) {
		return nil, tandem.Errorf(tandem.EInvalid, "the document describes a %s, not a %s", doc.Kind, req.Kind)
	}
	if err := tandem.ValidateAssetName(doc.Name); err != nil {
		return nil, err
	}
	if doc.Version != "" {
		if err := tandem.ValidateAssetVersion(doc.Version); err != nil {
			return nil, err
		}
	}
	if err := CheckPaths(doc, req); err != nil {
		return nil, err
	}
	if err := r.CheckStaged(ctx, ws.ID, req.Files); err != nil {
		return nil, err
	}
	if err := r.ResolveRefs(ctx, ws, doc); err != nil {
		return nil, err
	}
	files := append([]tandem.AssetFile(nil), req.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return &tandem.Asset{
		Kind:        req.Kind,
		Name:        doc.Name,
		Version:     doc.Version,
		Type:        doc.Type,
		Description: doc.Description,
		Tags:        doc.Tags,
		Spec:        doc.Fields,
		Paths:       req.Paths,
		Files:       files,
	}, nil
}

// CheckPaths makes sure the request describes every local path of the
// document, and that every file belongs to one of them.
func CheckPaths(doc *spec.Document, req *tandem.AssetRequest) error {
	fields := map[string]bool{}
	for _, p := range doc.Paths {
		fields[p.Field] = true
	}
	roots := map[string]tandem.AssetPath{}
	byField := map[string]tandem.AssetPath{}
	for _, p := range req.Paths {
		if !fields[p.Field] {
			return tandem.Errorf(tandem.EInvalid, "paths: %q is not a local path field of this document", p.Field)
		}
		if _, dup := byField[p.Field]; dup {
			return tandem.Errorf(tandem.EInvalid, "paths: field %q given twice", p.Field)
		}
		if p.Root == "" || strings.Contains(p.Root, "/") || p.Root == "." || p.Root == ".." {
			return tandem.Errorf(tandem.EInvalid, "paths: root %q of field %q must be one path segment", p.Root, p.Field)
		}
		if _, dup := roots[p.Root]; dup {
			return tandem.Errorf(tandem.EInvalid, "paths: root %q used by two fields", p.Root)
		}
		roots[p.Root], byField[p.Field] = p, p
	}
	for f := range fields {
		if _, ok := byField[f]; !ok {
			return tandem.Errorf(tandem.EInvalid, "local path in field %q has no uploaded files; upload it with the tandem CLI", f).WithTarget(f)
		}
	}
	seen := map[string]bool{}
	for _, f := range req.Files {
		p, ok := byField[f.Field]
		clean := path.Clean(f.Path)
		switch {
		case !ok:
			return tandem.Errorf(tandem.EInvalid, "file %q belongs to unknown field %q", f.Path, f.Field)
		case clean != f.Path || strings.HasPrefix(f.Path, "/") || strings.HasPrefix(f.Path, "../"):
			return tandem.Errorf(tandem.EInvalid, "file path %q must be clean and relative", f.Path)
		case p.Dir && !strings.HasPrefix(f.Path, p.Root+"/"):
			return tandem.Errorf(tandem.EInvalid, "file %q is not under %q, the folder of field %q", f.Path, p.Root, f.Field)
		case !p.Dir && f.Path != p.Root:
			return tandem.Errorf(tandem.EInvalid, "file %q: field %q is the single file %q", f.Path, f.Field, p.Root)
		case seen[f.Path]:
			return tandem.Errorf(tandem.EInvalid, "file %q listed twice", f.Path)
		case !region.ValidSHA256(f.SHA256) || f.Size < 0:
			return tandem.Errorf(tandem.EInvalid, "file %q: bad sha256 or size", f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// ResolveRefs checks that every azureml: reference names something that
// exists in the workspace.
func (r *Service) ResolveRefs(ctx context.Context, ws *tandem.Workspace, doc *spec.Document) error {
	return r.Store.View(ctx, func(tx tandem.Tx) error {
		for _, ref := range doc.Refs {
			kind := tandem.Kind(ref.Kind)
			switch {
			case ref.Registry != "":
				// Azure registries (azureml://registries/...) are recorded as
				// they are: Tandem does not host them.
				continue
			case kind == tandem.KindDatastore:
				if ref.Name == DefaultDatastore {
					continue
				}
				_, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: kind, Name: ref.Name})
				if tandem.IsCode(err, tandem.ENotFound) {
					return tandem.Errorf(tandem.ENotFound, "%s: datastore %q referenced by %q not found in workspace %q", ref.Field, ref.Name, ref.Raw, ws.Name).WithTarget(ref.Raw)
				} else if err != nil {
					return err
				}
			case tandem.IsAssetKind(kind):
				if _, err := FindAssetTx(ctx, tx, ws.ID, kind, ref.Name, ref.Version, ref.Label); tandem.IsCode(err, tandem.ENotFound) {
					return tandem.Errorf(tandem.ENotFound, "%s: reference %q not found in workspace %q: %s", ref.Field, ref.Raw, ws.Name, tandem.ErrorMessage(err)).WithTarget(ref.Raw)
				} else if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// finalizeSpec writes the version and the storage URIs of uploaded paths
// into the asset's document.
func finalizeSpec(a *tandem.Asset, req *tandem.AssetRequest) {
	a.Spec = CloneMap(a.Spec)
	a.Spec["name"] = a.Name
	a.Spec["version"] = a.Version
	folder := AssetFolder(a.Kind, a.Name, a.Version)
	for _, p := range req.Paths {
		uri := DatastoreURI(folder + p.Root)
		if p.Dir {
			uri += "/"
		}
		SetField(a.Spec, p.Field, uri)
	}
}

// sameContent reports whether a create of b repeats the existing version a.
// The document (with its storage URIs) must match, and when the request
// uploads files, their digests too.
func sameContent(a, b *tandem.Asset, compareFiles bool) bool {
	if !reflect.DeepEqual(normalizeJSON(a.Spec), normalizeJSON(b.Spec)) {
		return false
	}
	if !compareFiles {
		return true
	}
	if len(a.Files) != len(b.Files) {
		return false
	}
	for i := range a.Files {
		x, y := a.Files[i], b.Files[i]
		if x.Path != y.Path || x.SHA256 != y.SHA256 || x.Size != y.Size {
			return false
		}
	}
	return true
}

// normalizeJSON round-trips v through JSON so that numbers and maps compare
// alike whether they came from a request or from the database.
func normalizeJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// copyStaged copies each staged file to the version's folder, verifying the
// bytes, and returns the refs of the copies. On error nothing is left.
func (r *Service) copyStaged(ctx context.Context, ws *tandem.Workspace, a *tandem.Asset) ([]tandem.BlobRef, error) {
	folder := tandem.StoragePrefix(ws.ID) + AssetFolder(a.Kind, a.Name, a.Version)
	var out []tandem.BlobRef
	for _, f := range a.Files {
		key := folder + f.Path
		// A file already there with other bytes belongs to someone else's
		// attempt at this version: never overwrite it.
		if cur, err := r.Blobs.Stat(ctx, key); err == nil && cur.SHA256 != f.SHA256 {
			r.RemoveBlobs(ctx, out)
			return nil, tandem.Errorf(tandem.EConflict, "%s %s version %s: storage already holds other bytes at %s", a.Kind, a.Name, a.Version, key)
		}
		staged := tandem.BlobRef{Key: region.StagingKey(ws.ID, f.SHA256), SHA256: f.SHA256, Size: f.Size}
		ref, err := tandem.CopyBlob(ctx, r.Blobs, key, r.Blobs, staged)
		if err != nil {
			r.RemoveBlobs(ctx, out)
			return nil, fmt.Errorf("copy %s into %s %s:%s: %w", f.Path, a.Kind, a.Name, a.Version, err)
		}
		out = append(out, ref)
	}
	return out, nil
}

func AssetResource(wsID string, a *tandem.Asset, blobs []tandem.BlobRef) (*tandem.Resource, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return &tandem.Resource{
		WorkspaceID: wsID, Kind: a.Kind, Name: a.Name, Version: a.Version,
		Spec: b, Blobs: blobs, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}, nil
}

func assetFromResource(res *tandem.Resource) (*tandem.Asset, error) {
	var a tandem.Asset
	if err := json.Unmarshal(res.Spec, &a); err != nil {
		return nil, fmt.Errorf("decode %s %s:%s: %w", res.Kind, res.Name, res.Version, err)
	}
	a.CreatedAt, a.UpdatedAt = res.CreatedAt, res.UpdatedAt
	return &a, nil
}

// NextVersion returns the next integer version of a name: one more than
// the largest integer version, or "1".
func NextVersion(ctx context.Context, tx tandem.Tx, wsID string, kind tandem.Kind, name string) (string, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: kind, Name: name})
	if err != nil {
		return "", err
	}
	max := 0
	for _, res := range list {
		if n, err := strconv.Atoi(res.Version); err == nil && n > max {
			max = n
		}
	}
	return strconv.Itoa(max + 1), nil
}

func CloneMap(m map[string]any) map[string]any {
	out, _ := normalizeJSON(m).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out
}

// SetField sets a dotted field ("build.path", "code", "additional_includes[0]")
// in a document, creating maps on the way.
func SetField(doc map[string]any, field string, v any) {
	parts := strings.Split(field, ".")
	cur := doc
	for i, p := range parts {
		name, idx := p, -1
		if j := strings.IndexByte(p, '['); j > 0 && strings.HasSuffix(p, "]") {
			name = p[:j]
			idx, _ = strconv.Atoi(p[j+1 : len(p)-1])
		}
		last := i == len(parts)-1
		if idx >= 0 {
			list, _ := cur[name].([]any)
			if idx >= len(list) {
				return
			}
			if last {
				list[idx] = v
				return
			}
			next, ok := list[idx].(map[string]any)
			if !ok {
				return
			}
			cur = next
			continue
		}
		if last {
			cur[name] = v
			return
		}
		next, ok := cur[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[name] = next
		}
		cur = next
	}
}
