package jobs

import (
	"context"
	"io"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// outputAssetKind returns the asset kind an output of this type registers
// as.
func outputAssetKind(typ string) tandem.Kind {
	switch typ {
	case "custom_model", "mlflow_model", "triton_model":
		return tandem.KindModel
	}
	return tandem.KindData
}

// registerOutputs registers each named output of a completed job (an
// output with a `name`, and optionally a `version`) as a data asset
// version (uri_folder, uri_file, mltable) or a model version
// (custom_model, mlflow_model, triton_model) whose files are the output
// the job stored. blobs are the job's stored outputs and log. Each version
// is one transaction with its change. It returns the versions it created,
// also when a later one fails.
func (r *Service) registerOutputs(ctx context.Context, ref JobRef, blobs []tandem.BlobRef) ([]tandem.OutputAsset, error) {
	var j *tandem.Job
	var ws *tandem.Workspace
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		if ws, err = tx.FindWorkspaceByID(ctx, ref.WorkspaceID); err != nil {
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ref.WorkspaceID, Kind: tandem.KindJob, Name: ref.Name})
		if err != nil {
			return err
		}
		j, err = JobFromResource(res)
		return err
	})
	if err != nil {
		return nil, err
	}
	outs := jobDoc(j).Outputs
	var produced []tandem.OutputAsset
	for _, o := range jobdoc.Names(outs) {
		decl := outs[o]
		if decl.Name == "" {
			continue
		}
		typ := decl.Type
		if typ == "" {
			typ = "uri_folder"
		}
		oa, err := r.registerOutput(ctx, ws, j, o, typ, decl.Name, decl.Version, blobs)
		if err != nil {
			r.Logger.Warn("cannot register job output", "workspace", ws.Name, "job", j.Name, "output", o, "err", err)
			return produced, err
		}
		produced = append(produced, *oa)
	}
	return produced, nil
}

func (r *Service) registerOutput(ctx context.Context, ws *tandem.Workspace, j *tandem.Job, output, typ, name, version string, blobs []tandem.BlobRef) (*tandem.OutputAsset, error) {
	kind := outputAssetKind(typ)
	folder := tandem.StoragePrefix(ws.ID) + tandem.JobOutputFolder(j.Name)
	a := &tandem.Asset{Kind: kind, Name: name, Version: version, Type: typ, JobName: j.Name,
		Description: "output " + output + " of job " + j.Name}
	var refs []tandem.BlobRef
	for _, b := range blobs {
		if rel, ok := strings.CutPrefix(b.Key, folder+output+"/"); ok {
			refs = append(refs, b)
			a.Files = append(a.Files, tandem.AssetFile{Field: "path", Path: output + "/" + rel, SHA256: b.SHA256, Size: b.Size})
		}
	}
	sort.Sort(byFilePath{a.Files, refs})
	uri := assets.DatastoreURI(tandem.JobOutputFolder(j.Name) + output + "/")
	switch {
	case len(a.Files) == 0:
		return nil, tandem.Errorf(tandem.EInvalid, "output %q is empty: there is nothing to register as %s %q", output, kind, name).WithTarget("outputs." + output)
	case typ == "uri_file":
		if len(a.Files) != 1 || strings.Count(a.Files[0].Path, "/") != 1 {
			return nil, tandem.Errorf(tandem.EInvalid, "output %q has type uri_file but holds %d files; write exactly one file into it", output, len(a.Files)).WithTarget("outputs." + output)
		}
		a.Files[0].Path = strings.TrimPrefix(a.Files[0].Path, output+"/")
		a.Paths = []tandem.AssetPath{{Field: "path", Root: a.Files[0].Path}}
		uri = assets.DatastoreURI(tandem.JobOutputFolder(j.Name) + output + "/" + a.Files[0].Path)
	default:
		a.Paths = []tandem.AssetPath{{Field: "path", Root: output, Dir: true}}
	}
	// Lineage in the document too, where Azure's schema has room for it:
	// job_name on a model, a property on a data asset.
	a.Spec = map[string]any{"name": name, "type": typ, "path": uri, "description": a.Description}
	if kind == tandem.KindModel {
		a.Spec["job_name"] = j.Name
	} else {
		a.Spec["properties"] = map[string]any{"job_name": j.Name}
	}

	unlock := r.LockAsset(ws.ID, kind, name)
	defer unlock()
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		if a.Version == "" {
			v, err := assets.NextVersion(ctx, tx, ws.ID, kind, name)
			if err != nil {
				return err
			}
			a.Version = v
		} else if _, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: kind, Name: name, Version: a.Version}); err == nil {
			return tandem.Errorf(tandem.EConflict, "output %q: %s %s version %s already exists; versions are immutable: omit the version to register the next one",
				output, kind, name, a.Version).WithTarget("outputs." + output)
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		a.Spec["version"] = a.Version
		a.CreatedAt = r.Timestamp()
		a.UpdatedAt = a.CreatedAt
		res, err := assets.AssetResource(ws.ID, a, refs)
		if err != nil {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, kind, name, a.Version, tandem.OpCreate, res)
	})
	if err != nil {
		return nil, err
	}
	r.Logger.Info("job output registered", "workspace", ws.Name, "job", j.Name, "output", output, "kind", kind, "name", name, "version", a.Version)
	return &tandem.OutputAsset{Output: output, Kind: kind, Name: name, Version: a.Version}, nil
}

// byFilePath sorts files and their blob refs together.
type byFilePath struct {
	files []tandem.AssetFile
	refs  []tandem.BlobRef
}

func (s byFilePath) Len() int           { return len(s.files) }
func (s byFilePath) Less(i, j int) bool { return s.files[i].Path < s.files[j].Path }
func (s byFilePath) Swap(i, j int) {
	s.files[i], s.files[j] = s.files[j], s.files[i]
	s.refs[i], s.refs[j] = s.refs[j], s.refs[i]
}

// jobFiles returns a job's stored files (code snapshot, log, outputs) with
// their blob refs, ordered by path.
func (r *Service) jobFiles(ctx context.Context, workspace, job string) ([]tandem.JobFile, []tandem.BlobRef, error) {
	var (
		files []tandem.JobFile
		refs  []tandem.BlobRef
	)
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: job})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "job %q not found in workspace %q", job, workspace).WithTarget(job)
		} else if err != nil {
			return err
		}
		prefix := tandem.StoragePrefix(ws.ID) + tandem.RunFolder(job)
		for _, b := range res.Blobs {
			if rel, ok := strings.CutPrefix(b.Key, prefix); ok {
				files = append(files, tandem.JobFile{Path: rel, SHA256: b.SHA256, Size: b.Size})
				refs = append(refs, b)
			}
		}
		// Code in the content-addressed store is listed under code/ too.
		if j, err := JobFromResource(res); err == nil && j.CodeStore == codeStoreSHA256 {
			for _, f := range j.Files {
				files = append(files, tandem.JobFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size})
				refs = append(refs, tandem.BlobRef{Key: codeKey(ws.ID, j, f), SHA256: f.SHA256, Size: f.Size})
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	idx := make([]int, len(files))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return files[idx[a]].Path < files[idx[b]].Path })
	sf, sr := make([]tandem.JobFile, len(files)), make([]tandem.BlobRef, len(files))
	for i, k := range idx {
		sf[i], sr[i] = files[k], refs[k]
	}
	return sf, sr, nil
}

// ListJobFiles returns a job's stored files, ordered by path.
func (r *Service) ListJobFiles(ctx context.Context, workspace, job string) ([]tandem.JobFile, error) {
	files, _, err := r.jobFiles(ctx, workspace, job)
	if files == nil && err == nil {
		files = []tandem.JobFile{}
	}
	return files, err
}

// OpenJobFile returns a verifying reader over one stored file of a job.
func (r *Service) OpenJobFile(ctx context.Context, workspace, job, path string) (*tandem.JobFile, io.ReadCloser, error) {
	files, refs, err := r.jobFiles(ctx, workspace, job)
	if err != nil {
		return nil, nil, err
	}
	for i, f := range files {
		if f.Path == path {
			rc, err := r.Blobs.OpenVerified(ctx, refs[i])
			if err != nil {
				return nil, nil, err
			}
			return &f, rc, nil
		}
	}
	return nil, nil, tandem.Errorf(tandem.ENotFound, "job %q has no stored file %q", job, path).WithTarget(path)
}
