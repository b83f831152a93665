package tracking

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

var _ tandem.ExperimentService = (*Service)(nil)

// maxExperimentResults is MLflow's largest page of experiments/search.
const maxExperimentResults = 50000

// defaultExperimentResults is the page size when none is asked for.
const defaultExperimentResults = 1000

// trackingWorkspace finds the live workspace of an experiment call. Region
// admin tokens and the workspace's own tokens may read and write; a job
// token may read, and write nothing but its own run.
func trackingWorkspace(ctx context.Context, tx tandem.Tx, name string, write bool) (*tandem.Workspace, error) {
	ws, err := liveWorkspace(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if p := tandem.PrincipalFromContext(ctx); write && p != nil && p.Job() != "" {
		return nil, tandem.Errorf(tandem.EForbidden, "this token belongs to job %q and may only track that job's run", p.Job())
	}
	return ws, nil
}

// experimentArtifacts is where an experiment's runs keep their artifacts.
func experimentArtifacts(id string) string { return "mlflow-artifacts:/" + id }

// defaultExperiment is experiment 0 of a workspace before anything changed
// it.
func defaultExperiment(ws *tandem.Workspace) *tandem.Experiment {
	t := ws.CreatedAt.UnixMilli()
	return &tandem.Experiment{ID: tandem.DefaultExperimentID, Name: tandem.DefaultExperimentName,
		ArtifactLocation: experimentArtifacts(tandem.DefaultExperimentID), LifecycleStage: tandem.StageActive,
		CreationTime: t, LastUpdateTime: t}
}

// listExperiments returns every experiment of a workspace, the default one
// included.
func listExperiments(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace) ([]*tandem.Experiment, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindExperiment})
	if err != nil {
		return nil, err
	}
	out := make([]*tandem.Experiment, 0, len(list)+1)
	hasDefault := false
	for _, res := range list {
		var e tandem.Experiment
		if err := json.Unmarshal(res.Spec, &e); err != nil {
			return nil, fmt.Errorf("decode experiment %s: %w", res.Name, err)
		}
		hasDefault = hasDefault || e.ID == tandem.DefaultExperimentID
		out = append(out, &e)
	}
	if !hasDefault {
		out = append(out, defaultExperiment(ws))
	}
	return out, nil
}

func findExperiment(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, match func(*tandem.Experiment) bool, what string) (*tandem.Experiment, error) {
	all, err := listExperiments(ctx, tx, ws)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if match(e) {
			return e, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENotFound, "%s does not exist in workspace %q", what, ws.Name)
}

func experimentByID(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, id string) (*tandem.Experiment, error) {
	e, err := findExperiment(ctx, tx, ws, func(e *tandem.Experiment) bool { return e.ID == id }, fmt.Sprintf("experiment with id '%s'", id))
	return e, targeted(err, id)
}

func experimentByName(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, name string) (*tandem.Experiment, error) {
	e, err := findExperiment(ctx, tx, ws, func(e *tandem.Experiment) bool { return e.Name == name }, fmt.Sprintf("experiment '%s'", name))
	return e, targeted(err, name)
}

func targeted(err error, target string) error {
	if err != nil && tandem.IsCode(err, tandem.ENotFound) {
		return &tandem.Error{Code: tandem.ENotFound, Message: tandem.ErrorMessage(err), Target: target}
	}
	return err
}

func checkExperimentName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return tandem.Errorf(tandem.EInvalid, "invalid experiment name: must not be empty").WithTarget("name")
	case utf8.RuneCountInString(name) > 500:
		return tandem.Errorf(tandem.EInvalid, "invalid experiment name: longer than 500 characters").WithTarget("name")
	}
	return nil
}

// putExperiment stores an experiment: one resource, one change.
func (r *Service) putExperiment(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, e *tandem.Experiment, op tandem.Op) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	now := r.Timestamp()
	res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindExperiment, Name: e.ID, Spec: body, CreatedAt: now, UpdatedAt: now}
	if old, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindExperiment, Name: e.ID}); err == nil {
		res.CreatedAt = old.CreatedAt
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return err
	}
	if err := tx.PutResource(ctx, res); err != nil {
		return err
	}
	return r.LogChange(ctx, tx, ws.ID, tandem.KindExperiment, res.Name, "", op, res)
}

// createExperiment creates an experiment inside a write; its id is the
// sequence number of the change that creates it, unique in the workspace.
func (r *Service) createExperiment(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, name string, tags []tandem.RunParam) (*tandem.Experiment, error) {
	if _, err := experimentByName(ctx, tx, ws, name); err == nil {
		return nil, tandem.Errorf(tandem.EConflict, "experiment '%s' already exists", name).WithTarget(name)
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return nil, err
	}
	seq, err := tx.LastChangeSeq(ctx, ws.ID)
	if err != nil {
		return nil, err
	}
	all, err := listExperiments(ctx, tx, ws)
	if err != nil {
		return nil, err
	}
	id := freeExperimentID(all, seq+1)
	now := r.Timestamp().UnixMilli()
	e := &tandem.Experiment{ID: id, Name: name, ArtifactLocation: experimentArtifacts(id), LifecycleStage: tandem.StageActive,
		CreationTime: now, LastUpdateTime: now, Tags: mergeTags(nil, tags)}
	return e, r.putExperiment(ctx, tx, ws, e, tandem.OpCreate)
}

// freeExperimentID is the first id from n up that no experiment has (an
// import may have brought experiments whose ids the workspace's own
// sequence numbers reach later).
func freeExperimentID(all []*tandem.Experiment, n int64) string {
	used := map[string]bool{}
	for _, e := range all {
		used[e.ID] = true
	}
	for used[strconv.FormatInt(n, 10)] {
		n++
	}
	return strconv.FormatInt(n, 10)
}

// mergeTags sets tags on old, sorted by key.
func mergeTags(old, set []tandem.RunParam) []tandem.RunParam {
	m := map[string]string{}
	for _, t := range append(slices.Clone(old), set...) {
		m[t.Key] = t.Value
	}
	var out []tandem.RunParam
	for k, v := range m {
		out = append(out, tandem.RunParam{Key: k, Value: v})
	}
	slices.SortFunc(out, func(a, b tandem.RunParam) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// CreateExperiment creates an experiment; a taken name is EConflict.
func (r *Service) CreateExperiment(ctx context.Context, workspace, name string, tags []tandem.RunParam) (*tandem.Experiment, error) {
	if err := checkExperimentName(name); err != nil {
		return nil, err
	}
	for _, t := range tags {
		if err := checkKey("tag", t.Key); err != nil {
			return nil, err
		}
	}
	var e *tandem.Experiment
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, true)
		if err != nil {
			return err
		}
		e, err = r.createExperiment(ctx, tx, ws, name, tags)
		return err
	})
	return e, err
}

// GetExperiment finds an experiment by id.
func (r *Service) GetExperiment(ctx context.Context, workspace, id string) (*tandem.Experiment, error) {
	return r.readExperiment(ctx, workspace, func(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace) (*tandem.Experiment, error) {
		return experimentByID(ctx, tx, ws, id)
	})
}

// GetExperimentByName finds an experiment by name.
func (r *Service) GetExperimentByName(ctx context.Context, workspace, name string) (*tandem.Experiment, error) {
	return r.readExperiment(ctx, workspace, func(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace) (*tandem.Experiment, error) {
		return experimentByName(ctx, tx, ws, name)
	})
}

func (r *Service) readExperiment(ctx context.Context, workspace string, find func(context.Context, tandem.Tx, *tandem.Workspace) (*tandem.Experiment, error)) (*tandem.Experiment, error) {
	var e *tandem.Experiment
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, false)
		if err != nil {
			return err
		}
		e, err = find(ctx, tx, ws)
		return err
	})
	return e, err
}

// updateExperiment changes one experiment in one write.
func (r *Service) updateExperiment(ctx context.Context, workspace, id string, fn func(tx tandem.Tx, ws *tandem.Workspace, e *tandem.Experiment) error) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, true)
		if err != nil {
			return err
		}
		e, err := experimentByID(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		if err := fn(tx, ws, e); err != nil {
			return err
		}
		e.LastUpdateTime = r.Timestamp().UnixMilli()
		return r.putExperiment(ctx, tx, ws, e, tandem.OpUpdate)
	})
}

// RenameExperiment gives an experiment a new, free name.
func (r *Service) RenameExperiment(ctx context.Context, workspace, id, name string) error {
	if err := checkExperimentName(name); err != nil {
		return err
	}
	return r.updateExperiment(ctx, workspace, id, func(tx tandem.Tx, ws *tandem.Workspace, e *tandem.Experiment) error {
		if other, err := experimentByName(ctx, tx, ws, name); err == nil && other.ID != e.ID {
			return tandem.Errorf(tandem.EConflict, "experiment '%s' already exists", name).WithTarget(name)
		} else if err != nil && !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		e.Name = name
		return nil
	})
}

// DeleteExperiment marks an experiment deleted (MLflow's soft delete).
func (r *Service) DeleteExperiment(ctx context.Context, workspace, id string) error {
	return r.setExperimentStage(ctx, workspace, id, tandem.StageDeleted)
}

// RestoreExperiment makes a deleted experiment active again.
func (r *Service) RestoreExperiment(ctx context.Context, workspace, id string) error {
	return r.setExperimentStage(ctx, workspace, id, tandem.StageActive)
}

func (r *Service) setExperimentStage(ctx context.Context, workspace, id, stage string) error {
	return r.updateExperiment(ctx, workspace, id, func(_ tandem.Tx, _ *tandem.Workspace, e *tandem.Experiment) error {
		if e.LifecycleStage == stage {
			return tandem.Errorf(tandem.EInvalid, "cannot set experiment '%s' to %s: it is %s already", id, stage, stage).WithTarget(id)
		}
		e.LifecycleStage = stage
		return nil
	})
}

// SetExperimentTag sets one tag of an experiment.
func (r *Service) SetExperimentTag(ctx context.Context, workspace, id, key, value string) error {
	if err := checkKey("tag", key); err != nil {
		return err
	}
	if utf8.RuneCountInString(value) > maxRunTagValue {
		return tandem.Errorf(tandem.EInvalid, "tag %q: value is longer than %d characters", key, maxRunTagValue).WithTarget(key)
	}
	return r.updateExperiment(ctx, workspace, id, func(_ tandem.Tx, _ *tandem.Workspace, e *tandem.Experiment) error {
		e.Tags = mergeTags(e.Tags, []tandem.RunParam{{Key: key, Value: value}})
		return nil
	})
}

// experimentAttributes are what experiments may be ordered by.
var experimentAttributes = map[string]bool{"name": true, "creation_time": true, "last_update_time": true, "experiment_id": true}

// SearchExperiments returns a page of the experiments that match a filter.
func (r *Service) SearchExperiments(ctx context.Context, workspace string, q *tandem.ExperimentSearch) (*tandem.ExperimentPage, error) {
	clauses, err := parseFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	order, err := parseOrderBy(q.OrderBy, experimentAttributes)
	if err != nil {
		return nil, err
	}
	var all []*tandem.Experiment
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, false)
		if err != nil {
			return err
		}
		all, err = listExperiments(ctx, tx, ws)
		return err
	})
	if err != nil {
		return nil, err
	}
	var hits []*tandem.Experiment
	for _, e := range all {
		ok, err := experimentMatches(e, q.ViewType, clauses)
		if err != nil {
			return nil, err
		}
		if ok {
			hits = append(hits, e)
		}
	}
	slices.SortStableFunc(hits, func(a, b *tandem.Experiment) int { return compareExperiments(a, b, order) })
	size := q.MaxResults
	if size == 0 {
		size = defaultExperimentResults
	}
	start, end, next, err := pageBounds(q.PageToken, size, maxExperimentResults, len(hits))
	if err != nil {
		return nil, err
	}
	return &tandem.ExperimentPage{Experiments: append([]*tandem.Experiment{}, hits[start:end]...), NextPageToken: next}, nil
}

func experimentMatches(e *tandem.Experiment, view string, clauses []clause) (bool, error) {
	switch view {
	case "", tandem.ViewActiveOnly:
		if e.LifecycleStage != tandem.StageActive {
			return false, nil
		}
	case tandem.ViewDeletedOnly:
		if e.LifecycleStage != tandem.StageDeleted {
			return false, nil
		}
	case tandem.ViewAll:
	default:
		return false, tandem.Errorf(tandem.EInvalid, "invalid view_type %q: use ACTIVE_ONLY, DELETED_ONLY or ALL", view).WithTarget("view_type")
	}
	for _, c := range clauses {
		switch {
		case c.entity == "attribute" && c.key == "name":
			if !matchString(c, e.Name) {
				return false, nil
			}
		case c.entity == "attribute" && (c.key == "creation_time" || c.key == "last_update_time"):
			t := e.CreationTime
			if c.key == "last_update_time" {
				t = e.LastUpdateTime
			}
			if !c.isNum || !matchNumber(c, float64(t)) {
				return false, nil
			}
		case c.entity == "tag":
			v, ok := tagValue(e.Tags, c.key)
			if !ok || !matchString(c, v) {
				return false, nil
			}
		default:
			return false, tandem.Errorf(tandem.EInvalid, "invalid filter: experiments can be filtered on name, creation_time, last_update_time and tags, not %s %q", c.entity, c.key).WithTarget("filter")
		}
	}
	return true, nil
}

func tagValue(tags []tandem.RunParam, key string) (string, bool) {
	for _, t := range tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// compareExperiments orders by the order_by terms, then, as MLflow does,
// newest first by creation time and by id.
func compareExperiments(a, b *tandem.Experiment, order []orderKey) int {
	for _, o := range order {
		var c int
		switch o.key {
		case "name":
			c = cmp.Compare(a.Name, b.Name)
		case "creation_time":
			c = cmp.Compare(a.CreationTime, b.CreationTime)
		case "last_update_time":
			c = cmp.Compare(a.LastUpdateTime, b.LastUpdateTime)
		case "experiment_id":
			c = compareIDs(a.ID, b.ID)
		}
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Or(-cmp.Compare(a.CreationTime, b.CreationTime), -compareIDs(a.ID, b.ID))
}

// compareIDs compares numeric ids as numbers.
func compareIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil || errB != nil {
		return cmp.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

// EnsureExperiment returns the id of the experiment of workspace wsID
// named name, creating it (one write) when there is none: a job's
// experiment_name is its experiment, created on first use. Jobs call it
// with the region's authority, not a caller's token.
func (r *Service) EnsureExperiment(ctx context.Context, wsID, name string) (string, error) {
	if err := checkExperimentName(name); err != nil {
		return "", err
	}
	var id string
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := tx.FindWorkspaceByID(ctx, wsID)
		if err != nil {
			return err
		}
		if e, err := experimentByName(ctx, tx, ws, name); err == nil {
			id = e.ID
			return errSkip
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		e, err := r.createExperiment(ctx, tx, ws, name, nil)
		if err != nil {
			return err
		}
		id = e.ID
		return nil
	})
	if errors.Is(err, errSkip) {
		err = nil
	}
	return id, err
}
