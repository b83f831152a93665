package jobs

import (
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/compute"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// Data and model inputs of command jobs. They are resolved when the job is
// created (a missing asset or file fails the create, and the version an
// @latest named is recorded) and copied, verified, into the run's folder
// as read-only files before the command starts.

// inputPlan is what resolveInputs found: the resolved inputs and the
// copies to make into the job's folder once its name is taken.
type inputPlan struct {
	inputs map[string]*tandem.JobInput
	// staged are local input files uploaded with the job: staging
	// (by sha256) to Key under the workspace.
	staged []tandem.InputFile
	// code are the files of a code folder given as a storage URI: Key to
	// runs/<name>/<Path>.
	code []tandem.InputFile
}

// DataInputTypes are the input types delivered as files.
var DataInputTypes = map[string]bool{
	"uri_file": true, "uri_folder": true, "mltable": true,
	"custom_model": true, "mlflow_model": true, "triton_model": true,
}

func isModelType(t string) bool { return strings.HasSuffix(t, "_model") }

// resolveInputs resolves the data and model inputs of a command job and a
// code folder given as a workspace storage URI. It returns the request
// without the local input paths, which only the code snapshot uses.
func (r *Service) resolveInputs(ctx context.Context, ws *tandem.Workspace, job string, d *jobdoc.Job, req *tandem.JobRequest) (*inputPlan, *tandem.JobRequest, error) {
	plan := &inputPlan{inputs: map[string]*tandem.JobInput{}}
	local := map[string]tandem.AssetPath{}
	rest := &tandem.JobRequest{Spec: req.Spec}
	for _, p := range req.Paths {
		if strings.HasPrefix(p.Field, "inputs.") {
			local[p.Field] = p
		} else {
			rest.Paths = append(rest.Paths, p)
		}
	}
	for _, f := range req.Files {
		if _, ok := local[f.Field]; !ok {
			rest.Files = append(rest.Files, f)
		}
	}
	for _, name := range jobdoc.Names(d.Inputs) {
		m := d.Inputs[name]
		if !m.Mapping {
			continue
		}
		typ, mode, raw := m.Type, m.Mode, m.Path
		target := "inputs." + name
		if !m.IsData() {
			if DataInputTypes[typ] {
				if !m.Optional {
					return nil, nil, tandem.Errorf(tandem.EInvalid, "input %q of type %s has no path", name, typ).WithTarget(target)
				}
			}
			continue
		}
		if err := CheckInputMode(name, mode); err != nil {
			return nil, nil, err
		}
		if typ != "" && !DataInputTypes[typ] {
			return nil, nil, tandem.Errorf(tandem.EInvalid, "input %q of type %s cannot have a path", name, typ).WithTarget(target)
		}
		var in *tandem.JobInput
		if p, ok := local[target+".path"]; ok {
			in = &tandem.JobInput{Type: typ, Path: assets.DatastoreURI(tandem.RunFolder(job) + "inputs/" + name + "/"), File: !p.Dir}
			for _, f := range req.Files {
				if f.Field != p.Field {
					continue
				}
				rel := strings.TrimPrefix(f.Path, p.Root+"/")
				if !p.Dir {
					rel = p.Root
					in.Path = assets.DatastoreURI(tandem.RunFolder(job) + "inputs/" + name + "/" + rel)
				}
				file := tandem.InputFile{Key: tandem.RunFolder(job) + "inputs/" + name + "/" + rel, Path: rel, SHA256: f.SHA256, Size: f.Size}
				in.Files = append(in.Files, file)
				plan.staged = append(plan.staged, file)
			}
		} else {
			var err error
			if in, err = r.ResolveDataPath(ctx, ws, typ, raw); err != nil {
				return nil, nil, tandem.Errorf(tandem.ErrorCode(err), "input %q: %s", name, tandem.ErrorMessage(err)).WithTarget(target)
			}
		}
		in.Mode = mode
		if err := fitType(in, typ); err != nil {
			return nil, nil, tandem.Errorf(tandem.EInvalid, "input %q: %v", name, err).WithTarget(target)
		}
		if in.Type == "" {
			in.Type = "uri_folder"
			if in.File {
				in.Type = "uri_file"
			}
		}
		plan.inputs[name] = in
	}
	// Code from storage (a pipeline step's, or azureml://datastores/...).
	if code := d.Code; strings.HasPrefix(code, "azureml://") {
		in, err := r.ResolveDataPath(ctx, ws, "uri_folder", code)
		if err != nil {
			return nil, nil, tandem.Errorf(tandem.ErrorCode(err), "code: %s", tandem.ErrorMessage(err)).WithTarget("code")
		}
		for _, f := range in.Files {
			plan.code = append(plan.code, tandem.InputFile{Key: f.Key, Path: "code/" + f.Path, SHA256: f.SHA256, Size: f.Size})
		}
	}
	return plan, rest, nil
}

// CheckInputMode refuses the input modes Tandem cannot give yet.
func CheckInputMode(name, mode string) error {
	switch mode {
	case "", "ro_mount", "download":
		return nil
	}
	return tandem.Errorf(tandem.EInvalid, "input %q: mode %s is not supported yet; ro_mount and download give a read-only local copy", name, mode).WithTarget("inputs." + name + ".mode")
}

// fitType checks what an input resolved to against its declared type: a
// uri_file takes a single file; the other types are folders (a single
// file is delivered in a folder).
func fitType(in *tandem.JobInput, typ string) error {
	switch {
	case typ == "uri_file" && !in.File:
		return fmt.Errorf("%s is a folder; a uri_file input needs a file", in.Path)
	case typ != "" && typ != "uri_file" && in.File:
		// A folder holding the one file.
		in.File = false
	}
	in.Type = typ
	return nil
}

var jobOutputURI = regexp.MustCompile(`^azureml://jobs/([^/]+)/outputs/([^/]+)(?:/paths/(.*))?$`)

// ResolveDataPath resolves a path that is not local: an asset reference,
// a workspace storage URI or an earlier job's output.
func (r *Service) ResolveDataPath(ctx context.Context, ws *tandem.Workspace, typ, raw string) (*tandem.JobInput, error) {
	prefix := tandem.StoragePrefix(ws.ID)
	if m := jobOutputURI.FindStringSubmatch(raw); m != nil {
		return r.resolveJobOutput(ctx, ws, m[1], m[2], strings.Trim(m[3], "/"))
	}
	if ds, p, ok := spec.ParseDatastoreURI(raw); ok {
		if ds != assets.DefaultDatastore {
			d, err := r.Assets.FindDatastore(ctx, ws.Name, ds)
			if err != nil {
				return nil, err
			}
			return nil, tandem.Errorf(tandem.EInvalid, "%q: datastore %q is of type %s; jobs read only the workspace's own storage (%s) yet", raw, ds, d.Type, assets.DefaultDatastore)
		}
		files, file, err := r.storageFiles(ctx, prefix, p)
		if err != nil {
			return nil, tandem.Errorf(tandem.ErrorCode(err), "%q: %s", raw, tandem.ErrorMessage(err))
		}
		return &tandem.JobInput{Path: raw, File: file, Files: files}, nil
	}
	if strings.HasPrefix(raw, "azureml://registries/") {
		return nil, registryInputError(ws, raw)
	}
	if ref, ok := spec.ParseRef(raw); ok && (strings.HasPrefix(raw, "azureml:") || strings.ContainsAny(raw, ":@")) {
		kind := tandem.KindData
		if isModelType(typ) || ref.Kind == spec.KindModel {
			kind = tandem.KindModel
		}
		var a *tandem.Asset
		err := r.Store.View(ctx, func(tx tandem.Tx) error {
			var err error
			a, err = assets.FindAssetTx(ctx, tx, ws.ID, kind, ref.Name, ref.Version, ref.Label)
			return err
		})
		if err != nil {
			return nil, tandem.Errorf(tandem.ErrorCode(err), "%s %q not found in workspace %q: %s", kind, raw, ws.Name, tandem.ErrorMessage(err))
		}
		in := &tandem.JobInput{Path: "azureml:" + a.Name + ":" + a.Version}
		if len(a.Files) == 0 {
			// Registered by reference: the workspace's storage or a job's
			// output (a model registered from azureml://jobs/...).
			p, _ := a.Spec["path"].(string)
			if ds, _, ok := spec.ParseDatastoreURI(p); (!ok || ds != assets.DefaultDatastore) && !jobOutputURI.MatchString(p) {
				return nil, tandem.Errorf(tandem.EInvalid, "%s %s:%s points at %q; jobs read only data in the workspace's storage and job outputs yet", kind, a.Name, a.Version, p)
			}
			sub, err := r.ResolveDataPath(ctx, ws, typ, p)
			if err != nil {
				return nil, err
			}
			in.File, in.Files = sub.File, sub.Files
			return in, nil
		}
		root, dir := "", true
		for _, p := range a.Paths {
			if p.Field == "path" {
				root, dir = p.Root, p.Dir
			}
		}
		folder := assets.AssetFolder(kind, a.Name, a.Version)
		for _, f := range a.Files {
			if f.Field != "path" {
				continue
			}
			rel := strings.TrimPrefix(f.Path, root+"/")
			in.Files = append(in.Files, tandem.InputFile{Key: folder + f.Path, Path: rel, SHA256: f.SHA256, Size: f.Size})
		}
		in.File = !dir
		return in, nil
	}
	return nil, tandem.Errorf(tandem.EInvalid, "%q: jobs read data assets, models, azureml://datastores/%s/paths/... and azureml://jobs/JOB/outputs/NAME; this kind of path is not supported yet", raw, assets.DefaultDatastore)
}

// registryInputError refuses an asset in an Azure ML registry: Tandem has
// no registries, and a workspace asset of the same name is not taken in
// its place (its files may differ).
func registryInputError(ws *tandem.Workspace, raw string) error {
	ref, ok := spec.ParseRef(raw)
	if !ok {
		return tandem.Errorf(tandem.EInvalid, "%q: assets in Azure ML registries cannot be job inputs here; register the asset in the workspace", raw)
	}
	use := "azureml:" + ref.Name + ":" + ref.Version
	if ref.Version == "" {
		use = "azureml:" + ref.Name + "@" + ref.Label
	}
	return tandem.Errorf(tandem.EInvalid, "%q: %s %q is in Azure ML registry %q, and Tandem has no registries; register it in workspace %q and use %s", raw, ref.Kind, ref.Name, ref.Registry, ws.Name, use)
}

// storageFiles lists the files at a path of the workspace's storage: the
// blob itself (file true), or every blob under it as a folder.
func (r *Service) storageFiles(ctx context.Context, prefix, p string) ([]tandem.InputFile, bool, error) {
	p = strings.Trim(path.Clean("/"+p), "/")
	if p != "" && !strings.HasSuffix(p, "/") {
		if ref, err := r.Blobs.Stat(ctx, prefix+p); err == nil {
			return []tandem.InputFile{{Key: p, Path: path.Base(p), SHA256: ref.SHA256, Size: ref.Size}}, true, nil
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return nil, false, err
		}
	}
	dir := p + "/"
	if p == "" {
		dir = ""
	}
	var files []tandem.InputFile
	err := r.Blobs.List(ctx, prefix+dir, func(ref tandem.BlobRef) error {
		key := strings.TrimPrefix(ref.Key, prefix)
		files = append(files, tandem.InputFile{Key: key, Path: strings.TrimPrefix(key, dir), SHA256: ref.SHA256, Size: ref.Size})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if len(files) == 0 {
		return nil, false, tandem.Errorf(tandem.ENotFound, "no file or folder at %s in the workspace's storage", p)
	}
	return files, false, nil
}

// resolveJobOutput resolves azureml://jobs/JOB/outputs/NAME[/paths/P]: the
// files the job stored for that output. The job must have ended; its
// output may be empty (an empty folder).
func (r *Service) resolveJobOutput(ctx context.Context, ws *tandem.Workspace, job, output, sub string) (*tandem.JobInput, error) {
	uri := "azureml://jobs/" + job + "/outputs/" + output
	var res *tandem.Resource
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		res, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: job})
		return err
	})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "%q: job %q not found in workspace %q", uri, job, ws.Name)
	} else if err != nil {
		return nil, err
	}
	j, err := JobFromResource(res)
	if err != nil {
		return nil, err
	}
	if !tandem.JobDone(j.Status) {
		return nil, tandem.Errorf(tandem.EConflict, "%q: job %q is %s; its outputs are stored when it ends", uri, job, j.Status)
	}
	prefix := tandem.StoragePrefix(ws.ID)
	dir := tandem.RunFolder(job) + "outputs/" + output + "/"
	if sub != "" {
		dir += sub + "/"
	}
	in := &tandem.JobInput{Path: uri}
	if sub != "" {
		in.Path += "/paths/" + sub
	}
	for _, b := range res.Blobs {
		key := strings.TrimPrefix(b.Key, prefix)
		switch {
		case sub != "" && key+"/" == dir:
			in.File = true
			in.Files = []tandem.InputFile{{Key: key, Path: path.Base(key), SHA256: b.SHA256, Size: b.Size}}
			return in, nil
		case strings.HasPrefix(key, dir):
			in.Files = append(in.Files, tandem.InputFile{Key: key, Path: strings.TrimPrefix(key, dir), SHA256: b.SHA256, Size: b.Size})
		}
	}
	o, declared := jobDoc(j).Outputs[output]
	if declared && o.Type == "uri_file" && len(in.Files) == 1 {
		in.File = true // a uri_file output is its one file
	}
	if len(in.Files) == 0 {
		if !declared || sub != "" {
			return nil, tandem.Errorf(tandem.ENotFound, "%q: job %q stored no output %q", in.Path, job, output)
		}
	}
	sort.Slice(in.Files, func(a, b int) bool { return in.Files[a].Path < in.Files[b].Path })
	return in, nil
}

// copyInputFiles copies, verified, the local input files uploaded with the
// job from staging into runs/<name>/inputs/..., and the files of a code
// folder given as a storage URI into runs/<name>/code/, which it adds to
// the job's snapshot. It returns the refs of the copies; on error nothing
// is left.
func (r *Service) copyInputFiles(ctx context.Context, wsID string, j *tandem.Job, plan *inputPlan, keep []tandem.AssetFile) ([]tandem.BlobRef, error) {
	prefix := tandem.StoragePrefix(wsID)
	var out []tandem.BlobRef
	for _, f := range plan.staged {
		ref, err := tandem.CopyBlob(ctx, r.Blobs, prefix+f.Key, r.Blobs, tandem.BlobRef{Key: region.StagingKey(wsID, f.SHA256), SHA256: f.SHA256, Size: f.Size})
		if err != nil {
			r.RemoveBlobs(ctx, out)
			return nil, fmt.Errorf("copy input file %s of job %s: %w", f.Path, j.Name, err)
		}
		out = append(out, ref)
	}
	for _, f := range plan.code {
		ref, err := r.storeCode(ctx, wsID, tandem.BlobRef{Key: prefix + f.Key, SHA256: f.SHA256, Size: f.Size})
		if err != nil {
			r.RemoveBlobs(ctx, out)
			return nil, fmt.Errorf("store code file %s of job %s: %w", f.Path, j.Name, err)
		}
		out = addBlob(out, ref)
		j.CodeStore = codeStoreSHA256
		j.Files = append(j.Files, tandem.AssetFile{Field: "code", Path: f.Path, SHA256: f.SHA256, Size: f.Size})
	}
	sort.Slice(j.Files, func(a, b int) bool { return j.Files[a].Path < j.Files[b].Path })
	// Staged bytes the code snapshot does not also use are not needed again.
	used := map[string]bool{}
	for _, f := range keep {
		used[f.SHA256] = true
	}
	for _, f := range plan.staged {
		if !used[f.SHA256] {
			_ = r.Blobs.Delete(ctx, region.StagingKey(wsID, f.SHA256))
		}
	}
	return out, nil
}

// recordInputs writes the resolved inputs into the job's document: each
// data input's path and type become what it resolved to.
func recordInputs(d *jobdoc.Job, inputs map[string]*tandem.JobInput) {
	for name, in := range inputs {
		if x := d.Inputs[name]; x != nil && x.Mapping {
			x.Path, x.Type = in.Path, in.Type
		}
	}
}

// prepareRun gives a run its inputs: each is copied, verified, from
// storage into the run's inputs folder and made read-only; ${{inputs.x}}
// becomes its local path. A uri_file output's ${{outputs.y}} becomes a
// file in y's folder, named as the output's path names it (or y).
func (r *Service) prepareRun(ctx context.Context, wsID string, job *tandem.Job, cj *compute.Job) {
	cj.Image, cj.Environment = r.jobImage(ctx, wsID, job)
	d := jobDoc(job)
	if c := d.Properties[RequestedCompute]; c != "" {
		cj.Notes = append(cj.Notes, fmt.Sprintf("compute %q is not available here; this step of pipeline %s runs on the local compute", c, job.Parent))
	}
	for name, o := range d.Outputs {
		if o.Type != "uri_file" {
			continue
		}
		file := name
		if p := o.Path; p != "" && !strings.HasSuffix(p, "/") {
			file = path.Base(p)
		}
		cj.Command = jobdoc.ReplaceExprs(cj.Command, func(e jobdoc.Expr) (string, bool) {
			return e.String() + "/" + file, e.Kind == jobdoc.ExprOutput && e.Name == name
		})
	}
	if len(job.Inputs) == 0 {
		return
	}
	prefix := tandem.StoragePrefix(wsID)
	cj.Inputs = func(dir string) (map[string]string, error) {
		return compute.WriteInputs(dir, job.Inputs, func(_ string, _ int, f tandem.InputFile) (io.ReadCloser, error) {
			return r.Blobs.OpenVerified(ctx, tandem.BlobRef{Key: prefix + f.Key, SHA256: f.SHA256, Size: f.Size})
		})
	}
}
