package tracking

import (
	"cmp"
	"context"
	"slices"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
)

// maxRunResults is MLflow's largest page of runs/search.
const maxRunResults = 50000

// defaultRunResults is the page size when none is asked for (MLflow's).
const defaultRunResults = 1000

// runAttributes are the attributes runs may be ordered by.
var runAttributes = map[string]bool{"start_time": true, "end_time": true, "run_name": true, "status": true, "run_id": true, "created": true, "experiment_id": true}

// SearchRuns returns a page of the runs of some experiments that match a
// filter, ordered by order_by, then newest first.
func (r *Service) SearchRuns(ctx context.Context, workspace string, q *tandem.RunSearch) (*tandem.RunPage, error) {
	clauses, err := parseFilter(q.Filter)
	if err != nil {
		return nil, err
	}
	order, err := parseOrderBy(q.OrderBy, runAttributes)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range q.ExperimentIDs {
		want[id] = true
	}
	var hits []*tandem.Run
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := trackingWorkspace(ctx, tx, workspace, false)
		if err != nil {
			return err
		}
		ix, err := newExperimentIndex(ctx, tx, ws)
		if err != nil {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindJob})
		if err != nil {
			return err
		}
		for _, res := range list {
			j, err := jobs.JobFromResource(res)
			if err != nil {
				return err
			}
			if !want[ix.experimentOf(j)] {
				continue
			}
			run, err := jobRun(ctx, tx, ws, ix, j)
			if err != nil {
				return err
			}
			if !stageVisible(run.Info.LifecycleStage, q.ViewType) {
				continue
			}
			ok, err := runMatches(run, clauses)
			if err != nil {
				return err
			}
			if ok {
				hits = append(hits, run)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(hits, func(a, b *tandem.Run) int { return compareRuns(a, b, order) })
	size := q.MaxResults
	if size == 0 {
		size = defaultRunResults
	}
	start, end, next, err := pageBounds(q.PageToken, size, maxRunResults, len(hits))
	if err != nil {
		return nil, err
	}
	return &tandem.RunPage{Runs: append([]*tandem.Run{}, hits[start:end]...), NextPageToken: next}, nil
}

func stageVisible(stage, view string) bool {
	deleted := stage == tandem.StageDeleted
	switch view {
	case tandem.ViewDeletedOnly:
		return deleted
	case tandem.ViewAll:
		return true
	}
	return !deleted
}

// runValue is what a run holds for an entity and key: a string, a number
// (metrics, times), or nothing.
func runValue(run *tandem.Run, entity, key string) (s string, x float64, isNum, ok bool) {
	switch entity {
	case "metric":
		for _, m := range run.Data.Metrics {
			if m.Key == key {
				return "", float64(m.Value), true, true
			}
		}
		return "", 0, false, false
	case "param":
		v, ok := tagValue(run.Data.Params, key)
		return v, 0, false, ok
	case "tag":
		v, ok := tagValue(run.Data.Tags, key)
		return v, 0, false, ok
	}
	info := run.Info
	switch key {
	case "run_id":
		return info.RunID, 0, false, true
	case "run_name":
		return info.RunName, 0, false, true
	case "status":
		return info.Status, 0, false, true
	case "user_id":
		return info.UserID, 0, false, true
	case "lifecycle_stage":
		return info.LifecycleStage, 0, false, true
	case "experiment_id":
		return info.ExperimentID, 0, false, true
	case "artifact_uri":
		return info.ArtifactURI, 0, false, true
	case "start_time", "created":
		return "", float64(info.StartTime), true, true
	case "end_time":
		if info.EndTime == nil {
			return "", 0, false, false
		}
		return "", float64(*info.EndTime), true, true
	}
	return "", 0, false, false
}

func runMatches(run *tandem.Run, clauses []clause) (bool, error) {
	for _, c := range clauses {
		if c.entity == "attribute" {
			if _, _, _, known := runValue(&tandem.Run{Info: &tandem.RunInfo{EndTime: new(int64)}}, "attribute", c.key); !known {
				return false, tandem.Errorf(tandem.EInvalid, "invalid attribute key %q: use run_id, run_name, status, user_id, start_time, end_time, artifact_uri or lifecycle_stage", c.key).WithTarget("filter")
			}
		}
		s, x, isNum, ok := runValue(run, c.entity, c.key)
		if !ok {
			return false, nil
		}
		if isNum != c.isNum {
			if isNum {
				return false, tandem.Errorf(tandem.EInvalid, "invalid filter: %s %q is a number; compare it with a number, not '%s'", c.entity, c.key, c.value).WithTarget("filter")
			}
			// params and tags are strings: compare a number's text
		}
		if isNum && !matchNumber(c, x) || !isNum && !matchString(c, s) {
			return false, nil
		}
	}
	return true, nil
}

// compareRuns orders by the order_by terms (runs without the value last,
// as MLflow puts them), then newest first by start time, then by id.
func compareRuns(a, b *tandem.Run, order []orderKey) int {
	for _, o := range order {
		as, ax, aNum, aok := runValue(a, o.entity, o.key)
		bs, bx, _, bok := runValue(b, o.entity, o.key)
		if !aok || !bok {
			if aok != bok {
				if aok {
					return -1
				}
				return 1
			}
			continue
		}
		c := cmp.Compare(as, bs)
		if aNum {
			c = cmp.Compare(ax, bx)
		}
		if o.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Or(-cmp.Compare(a.Info.StartTime, b.Info.StartTime), cmp.Compare(a.Info.RunID, b.Info.RunID))
}
