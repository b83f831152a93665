package jobs

import (
	"context"
	"encoding/json"
	"path"
	"regexp"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// stageStoredCode lets a job document name code that is already stored,
// as `tandem job show -o yaml` writes it: a code field holding
// azureml://datastores/workspaceblobstore/paths/P (this workspace's
// storage) or the long form azureml://subscriptions/S/resourcegroups/
// REGION/workspaces/W/datastores/workspaceblobstore/paths/P (workspace W of
// this region, which the caller must be allowed to read). The files under
// P are copied, verified, to this workspace's staging area and the field
// becomes a path of the request, exactly as if the CLI had uploaded them:
// the rest of CreateJob cannot tell the difference.
func (r *Service) stageStoredCode(ctx context.Context, ws *tandem.Workspace, req *tandem.JobRequest) (*tandem.JobRequest, error) {
	b, err := json.Marshal(req.Spec)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "spec is not a JSON document: %v", err)
	}
	out := &tandem.JobRequest{Paths: append([]tandem.AssetPath(nil), req.Paths...), Files: append([]tandem.AssetFile(nil), req.Files...)}
	if err := json.Unmarshal(b, &out.Spec); err != nil {
		return nil, err
	}
	d, err := jobdoc.ReadJob(out.Spec)
	if err != nil {
		return out, nil // not a document: Parse reports its problems
	}
	visit := func(code *string, field string) error {
		if *code == "" {
			return nil
		}
		root, ok, err := r.stageStored(ctx, ws, *code, field, true, out)
		if ok {
			*code = root
		}
		return err
	}
	// Inputs stored in another workspace (the long form only: a short
	// datastore URI is this workspace's storage, which inputs read in
	// place) are copied like local files given with the job.
	visitInputs := func(inputs map[string]*jobdoc.Input, prefix string) error {
		for _, n := range jobdoc.Names(inputs) {
			in := inputs[n]
			if in.Path == "" {
				continue
			}
			root, ok, err := r.stageStored(ctx, ws, in.Path, prefix+"inputs."+n+".path", false, out)
			if err != nil {
				return err
			}
			if ok {
				in.Path = root
			}
		}
		return nil
	}
	if err := visit(&d.Code, "code"); err != nil {
		return nil, err
	}
	if err := visitInputs(d.Inputs, ""); err != nil {
		return nil, err
	}
	for _, n := range d.StepNames() {
		step := d.Jobs[n]
		if err := visit(&step.Code, "jobs."+n+".code"); err != nil {
			return nil, err
		}
		if err := visitInputs(step.Inputs, "jobs."+n+"."); err != nil {
			return nil, err
		}
		if c := step.Component; c != nil && c.Inline != nil {
			if err := visit(&c.Inline.Code, "jobs."+n+".component.code"); err != nil {
				return nil, err
			}
		}
	}
	out.Spec = d.Map()
	return out, nil
}

// runCodeRE matches the code folder of a job: runs/<job>/code[/sub].
var runCodeRE = regexp.MustCompile(`^runs/([^/]+)/code(/.*)?$`)

// stageStored stages the file or the files of the folder stored at uri
// for field; ok reports whether uri named stored bytes at all (a local
// path does not; a short datastore URI counts only when short is set).
func (r *Service) stageStored(ctx context.Context, ws *tandem.Workspace, uri, field string, short bool, req *tandem.JobRequest) (root string, ok bool, err error) {
	group, wsName, ds, p, long := spec.ParseWorkspaceURI(uri)
	if !long {
		var isURI bool
		if ds, p, isURI = spec.ParseDatastoreURI(uri); !isURI || !short {
			return "", false, nil
		}
		group, wsName = r.Name, ws.Name
	}
	if ds != assets.DefaultDatastore {
		return "", true, tandem.Errorf(tandem.EInvalid, "%s: code on datastore %q: only a workspace's own storage (%s) holds code here", field, ds, assets.DefaultDatastore).WithTarget(field)
	}
	if !strings.EqualFold(group, r.Name) {
		return "", true, tandem.Errorf(tandem.EInvalid, "%s: the code is stored in region %q and this is region %q: move the workspace with `tandem workspace export` and `import`, or create the job there", field, group, r.Name).WithTarget(field)
	}
	src, err := r.FindWorkspace(ctx, wsName)
	if err != nil {
		return "", true, tandem.Errorf(tandem.ErrorCode(err), "%s: code of workspace %q: %s", field, wsName, tandem.ErrorMessage(err)).WithTarget(field)
	}
	prefix := tandem.StoragePrefix(src.ID) + strings.TrimSuffix(p, "/") + "/"
	var refs []tandem.BlobRef
	var rels []string // paths under prefix, when refs are not named by it
	if m := runCodeRE.FindStringSubmatch(strings.TrimSuffix(p, "/")); m != nil {
		// A job's code folder: its files may be in the content-addressed
		// code store, listed by the job.
		if job, err := r.jobByID(ctx, src.ID, m[1]); err == nil && job.CodeStore == codeStoreSHA256 {
			sub := strings.TrimPrefix(m[2], "/")
			for _, f := range job.Files {
				rel, ok := strings.CutPrefix(strings.TrimPrefix(f.Path, "code/"), sub)
				if !ok || (sub != "" && !strings.HasPrefix(rel, "/")) {
					continue
				}
				refs = append(refs, tandem.BlobRef{Key: codeKey(src.ID, job, f), SHA256: f.SHA256, Size: f.Size})
				rels = append(rels, strings.TrimPrefix(rel, "/"))
			}
		}
	}
	if rels == nil {
		err = r.Blobs.List(ctx, prefix, func(ref tandem.BlobRef) error {
			refs = append(refs, ref)
			return nil
		})
		if err != nil {
			return "", true, err
		}
	}
	root = strings.ReplaceAll(field, ".", "-")
	dir := true
	if len(refs) == 0 && !strings.HasSuffix(p, "/") {
		// A single file.
		ref, err := r.Blobs.Stat(ctx, tandem.StoragePrefix(src.ID)+p)
		if tandem.IsCode(err, tandem.ENotFound) {
			return "", true, tandem.Errorf(tandem.ENotFound, "%s: nothing is stored at %s", field, uri).WithTarget(field)
		} else if err != nil {
			return "", true, err
		}
		refs, dir, prefix = []tandem.BlobRef{ref}, false, ref.Key
		root = path.Base(p)
	}
	if len(refs) == 0 {
		return "", true, tandem.Errorf(tandem.ENotFound, "%s: no files are stored under %s", field, uri).WithTarget(field)
	}
	req.Paths = append(req.Paths, tandem.AssetPath{Field: field, Root: root, Dir: dir})
	for i, ref := range refs {
		staged := region.StagingKey(ws.ID, ref.SHA256)
		if have, err := r.Blobs.Stat(ctx, staged); err != nil || have.SHA256 != ref.SHA256 {
			if _, err := tandem.CopyBlob(ctx, r.Blobs, staged, r.Blobs, ref); err != nil {
				return "", true, err
			}
		}
		name := root
		switch {
		case rels != nil:
			name = root + "/" + rels[i]
		case dir:
			name = root + "/" + strings.TrimPrefix(ref.Key, prefix)
		}
		req.Files = append(req.Files, tandem.AssetFile{Field: field, Path: name, SHA256: ref.SHA256, Size: ref.Size})
	}
	return root, true, nil
}
