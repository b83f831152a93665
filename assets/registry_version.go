package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// modelSource is what a model version's source resolves to: files a run
// stored, referenced by the version.
type modelSource struct {
	run         string
	root        string // the source's path under the run's outputs folder
	files       []tandem.AssetFile
	refs        []tandem.BlobRef
	downloadURI string
	mlmodel     bool // an MLmodel file at the root: an MLflow model
}

// parseRunSource splits runs:/<run>/<path> and
// mlflow-artifacts:/<experiment>/<run>/artifacts/<path> into the run and
// the path under its artifacts.
func parseRunSource(source string) (run, p string, ok bool) {
	if rest, found := strings.CutPrefix(source, "runs:/"); found {
		run, p, _ = strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		return run, p, true
	}
	if rest, found := strings.CutPrefix(source, "mlflow-artifacts:/"); found {
		segs := strings.SplitN(strings.TrimPrefix(rest, "/"), "/", 4)
		if len(segs) < 3 || segs[2] != "artifacts" {
			return "", "", false
		}
		if len(segs) == 4 {
			p = segs[3]
		}
		return segs[1], p, true
	}
	return "", "", false
}

// resolveSource finds the files under a version's source, in tx.
func resolveSource(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, source string) (*modelSource, error) {
	bad := func(format string, args ...any) error {
		return tandem.Errorf(tandem.EInvalid, "invalid source %q: "+format, append([]any{source}, args...)...).WithTarget("source")
	}
	if rest, ok := strings.CutPrefix(source, "models:/"); ok {
		return versionSource(ctx, tx, ws, source, rest)
	}
	run, p, ok := parseRunSource(source)
	if !ok {
		return nil, bad("use runs:/<run_id>/<path>, mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path> or models:/<name>/<version>")
	}
	p = strings.TrimSuffix(p, "/")
	if run == "" || p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") {
		return nil, bad("it must name a run and a clean relative path under its artifacts")
	}
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: run})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "run %q not found: workspace %q has no job of that name", run, ws.Name).WithTarget("source")
	} else if err != nil {
		return nil, err
	}
	var j tandem.Job
	if err := json.Unmarshal(res.Spec, &j); err != nil {
		return nil, fmt.Errorf("decode job %s: %w", run, err)
	}
	experiment := j.ExperimentName
	if experiment == "" {
		experiment = "0" // MLflow's default experiment, as the run's artifact_uri says
	}
	folder := tandem.StoragePrefix(ws.ID) + tandem.JobOutputFolder(run)
	src := &modelSource{run: run, root: p, downloadURI: "mlflow-artifacts:/" + experiment + "/" + run + "/artifacts/" + p}
	for _, b := range res.Blobs {
		rel, ok := strings.CutPrefix(b.Key, folder)
		if !ok || (rel != p && !strings.HasPrefix(rel, p+"/")) {
			continue
		}
		src.files = append(src.files, tandem.AssetFile{Field: "path", Path: rel, SHA256: b.SHA256, Size: b.Size})
		src.refs = append(src.refs, b)
		src.mlmodel = src.mlmodel || rel == p+"/MLmodel"
	}
	if len(src.files) == 0 {
		return nil, bad("run %q has no artifacts under %q", run, p)
	}
	sort.Sort(byPath{src.files, src.refs})
	return src, nil
}

// versionSource resolves models:/<name>/<version or @alias> to the very
// files of that version, which must have been registered from a run.
func versionSource(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, source, rest string) (*modelSource, error) {
	name, version, _ := strings.Cut(rest, "/")
	if alias, ok := strings.CutPrefix(version, "@"); ok {
		m, err := findRegisteredModel(ctx, tx, ws.ID, name)
		if err != nil {
			return nil, err
		}
		v, ok := m.Aliases[alias]
		if !ok {
			return nil, tandem.Errorf(tandem.ENotFound, "registered model %q has no alias %q", name, alias).WithTarget("source")
		}
		version = v
	}
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindModel, Name: name, Version: version})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "model version (name=%s, version=%s) not found", name, version).WithTarget("source")
	} else if err != nil {
		return nil, err
	}
	a, err := assetFromResource(res)
	if err != nil {
		return nil, err
	}
	if a.Archived {
		return nil, tandem.Errorf(tandem.ENotFound, "model version (name=%s, version=%s) not found", name, version).WithTarget("source")
	}
	if a.JobName == "" || len(a.Paths) != 1 || len(a.Files) != len(res.Blobs) {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid source %q: model %s version %s was not registered from a run's artifacts; Tandem registers versions from runs:/ and mlflow-artifacts:/ sources and from such versions", source, name, version).WithTarget("source")
	}
	src := &modelSource{run: a.JobName, root: a.Paths[0].Root, files: a.Files, refs: res.Blobs,
		downloadURI: modelVersion(a, nil).DownloadURI, mlmodel: a.Type == "mlflow_model"}
	return src, nil
}

// byPath sorts files and their blob refs together.
type byPath struct {
	files []tandem.AssetFile
	refs  []tandem.BlobRef
}

func (s byPath) Len() int           { return len(s.files) }
func (s byPath) Less(i, j int) bool { return s.files[i].Path < s.files[j].Path }
func (s byPath) Swap(i, j int) {
	s.files[i], s.files[j] = s.files[j], s.files[i]
	s.refs[i], s.refs[j] = s.refs[j], s.refs[i]
}

// versionAsset is the Tandem model version of a source.
func versionAsset(name, source string, src *modelSource, mv *tandem.ModelVersion) *tandem.Asset {
	typ := "custom_model"
	if src.mlmodel {
		typ = "mlflow_model"
	}
	a := &tandem.Asset{Kind: tandem.KindModel, Name: name, Type: typ, Description: mv.Description, Tags: mv.Tags,
		JobName: src.run, Files: src.files}
	if len(src.files) == 1 && src.files[0].Path == src.root {
		a.Paths = []tandem.AssetPath{{Field: "path", Root: src.root}}
	} else {
		a.Paths = []tandem.AssetPath{{Field: "path", Root: src.root, Dir: true}}
	}
	a.Spec = map[string]any{"name": name, "type": typ, "job_name": src.run,
		"path":       DatastoreURI(tandem.JobOutputFolder(src.run) + src.root),
		"properties": map[string]any{propSource: source, propDownloadURI: src.downloadURI}}
	if a.Description != "" {
		a.Spec["description"] = a.Description
	}
	if len(a.Tags) > 0 {
		a.Spec["tags"] = a.Tags
	}
	return a
}

// CreateModelVersion registers the next version of a registered model
// from the files under source, READY at once: one write, one change.
func (r *Service) CreateModelVersion(ctx context.Context, workspace, name, source, runID string, mv *tandem.ModelVersion) (*tandem.ModelVersion, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	if mv == nil {
		mv = &tandem.ModelVersion{}
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	unlock := r.LockAsset(ws.ID, tandem.KindModel, name)
	defer unlock()
	var out *tandem.ModelVersion
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		m, err := findRegisteredModel(ctx, tx, ws.ID, name)
		if err != nil {
			return err
		}
		src, err := resolveSource(ctx, tx, ws, source)
		if err != nil {
			return err
		}
		if runID != "" && runID != src.run {
			return tandem.Errorf(tandem.EInvalid, "run_id %q is not the run of source %q (%s)", runID, source, src.run).WithTarget("run_id")
		}
		a := versionAsset(name, source, src, mv)
		if a.Version, err = NextVersion(ctx, tx, ws.ID, tandem.KindModel, name); err != nil {
			return err
		}
		a.Spec["version"] = a.Version
		a.CreatedAt = r.Timestamp()
		a.UpdatedAt = a.CreatedAt
		res, err := AssetResource(ws.ID, a, src.refs)
		if err != nil {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		out = modelVersion(a, m)
		return r.LogChange(ctx, tx, ws.ID, tandem.KindModel, name, a.Version, tandem.OpCreate, res)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// liveVersion finds a registered model's live version in tx; version may
// be "@alias".
func liveVersion(ctx context.Context, tx tandem.Tx, wsID, name, version string) (*tandem.Asset, *tandem.RegisteredModel, error) {
	m, err := findRegisteredModel(ctx, tx, wsID, name)
	if err != nil {
		return nil, nil, err
	}
	if alias, ok := strings.CutPrefix(version, "@"); ok {
		v, ok := m.Aliases[alias]
		if !ok {
			return nil, nil, tandem.Errorf(tandem.ENotFound, "registered model %q has no alias %q", name, alias).WithTarget("alias")
		}
		version = v
	}
	if version == "" {
		return nil, nil, tandem.Errorf(tandem.EInvalid, "missing value for required parameter 'version'").WithTarget("version")
	}
	a, err := FindAssetTx(ctx, tx, wsID, tandem.KindModel, name, version, "")
	if err == nil && a.Archived {
		err = tandem.Errorf(tandem.ENotFound, "model version (name=%s, version=%s) not found", name, version)
	}
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, nil, tandem.Errorf(tandem.ENotFound, "model version (name=%s, version=%s) not found", name, version).WithTarget("version")
	}
	return a, m, err
}

// GetModelVersion returns a live version of a registered model.
func (r *Service) GetModelVersion(ctx context.Context, workspace, name, version string) (*tandem.ModelVersion, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	var out *tandem.ModelVersion
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		a, m, err := liveVersion(ctx, tx, ws.ID, name, version)
		if err != nil {
			return err
		}
		out = modelVersion(a, m)
		return nil
	})
	return out, err
}

// runIDFilterRE is the run_id comparison of MLflow's model version
// filters (what MLflow's UI asks for a run's registered models).
var runIDFilterRE = regexp.MustCompile(`(?i)^\s*run_id\s*=\s*(?:'([^']*)'|"([^"]*)")\s*$`)

// SearchModelVersions returns the live versions of the registered models
// whose names pass filter, or of every registered model for a filter
// run_id = 'x', those registered from that run; by name, then newest
// first.
func (r *Service) SearchModelVersions(ctx context.Context, workspace, filter string) ([]*tandem.ModelVersion, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	run, byRun := "", false
	if m := runIDFilterRE.FindStringSubmatch(filter); m != nil {
		run, byRun, filter = m[1]+m[2], true, ""
	}
	models, err := r.SearchRegisteredModels(ctx, workspace, filter)
	if err != nil {
		return nil, err
	}
	out := []*tandem.ModelVersion{}
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		for _, m := range models {
			versions, err := listVersions(ctx, tx, ws.ID, tandem.KindModel, m.Name, false)
			if err != nil {
				return err
			}
			for _, a := range versions {
				if !byRun || a.JobName == run {
					out = append(out, modelVersion(a, m))
				}
			}
		}
		return nil
	})
	return out, err
}

// UpdateModelVersion changes a version's description or tags.
func (r *Service) UpdateModelVersion(ctx context.Context, workspace, name, version string, ch tandem.RegistryChange) (*tandem.ModelVersion, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	if _, err := r.GetModelVersion(ctx, workspace, name, version); err != nil {
		return nil, err
	}
	a, err := r.mutateAsset(ctx, workspace, tandem.KindModel, name, version, func(a *tandem.Asset) error {
		if a.Archived {
			return tandem.Errorf(tandem.ENotFound, "model version (name=%s, version=%s) not found", name, version)
		}
		if ch.Description != nil {
			a.Description = *ch.Description
			a.Spec["description"] = a.Description
		}
		a.Tags = applyTags(a.Tags, ch)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.GetModelVersion(ctx, workspace, a.Name, a.Version)
}

// DeleteModelVersion archives a live version of a registered model, then
// drops the aliases that named it (a second write when there are any).
func (r *Service) DeleteModelVersion(ctx context.Context, workspace, name, version string) error {
	if err := noJobToken(ctx); err != nil {
		return err
	}
	mv, err := r.GetModelVersion(ctx, workspace, name, version)
	if err != nil {
		return err
	}
	if err := r.ArchiveAsset(ctx, workspace, tandem.KindModel, name, mv.Version, true); err != nil {
		return err
	}
	if len(mv.Aliases) > 0 {
		_, err = r.UpdateRegisteredModel(ctx, workspace, name, tandem.RegistryChange{DeleteAliases: mv.Aliases})
	}
	return err
}
