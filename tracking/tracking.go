package tracking

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
)

var _ tandem.RunService = (*Service)(nil)

// Limits of one tracking call, MLflow's own (its REST API documents them
// for log-batch), so that code written against MLflow fails the same way.
const (
	maxBatchMetrics = 1000
	maxBatchParams  = 100
	maxBatchTags    = 100
	maxBatchTotal   = 1000
	maxKeyLength    = 250
	maxParamValue   = 6000
	maxRunTagValue  = 8000
)

// Record names of a job's tracking records (kind jobmetric), all under
// "<job>/", so that one indexed range lists them: records that carry
// parameters go under <job>/params, so that checking a new parameter reads
// only those; records of one metric key and nothing else (what log-metric
// writes) under <job>/metric/<key>, so that a metric's history reads only
// its own records and the mixed ones; every other record under <job>/log.
func runLogName(job string) string         { return job + "/log" }
func runParamsName(job string) string      { return job + "/params" }
func runMetricName(job, key string) string { return job + "/metric/" + key }
func runRecordPrefix(job string) string    { return job + "/" }

// recordName chooses the name a record is stored under.
func recordName(job string, l *tandem.RunLog) string {
	switch {
	case len(l.Params) > 0:
		return runParamsName(job)
	case len(l.Tags) > 0 || len(l.Metrics) == 0:
		return runLogName(job)
	}
	for _, m := range l.Metrics[1:] {
		if m.Key != l.Metrics[0].Key {
			return runLogName(job)
		}
	}
	return runMetricName(job, l.Metrics[0].Key)
}

// recordVersion names a record by the sequence number of the change that
// writes it, zero-padded so that versions sort in write order, and the
// region that wrote it: after a forced failover a sequence number may be
// used twice, once by the old primary's set-aside writes and once by the
// new primary, and a set-aside record applied again must not replace
// another.
func recordVersion(seq int64, region string) string { return fmt.Sprintf("%012d-%s", seq, region) }

// keyRE is MLflow's rule for metric, parameter and tag names: letters,
// digits, '_', '-', '.', ' ', ':' and '/'.
var keyRE = regexp.MustCompile(`^[\p{L}\p{N}_\-. :/]+$`)

func checkKey(what, key string) error {
	switch {
	case key == "":
		return tandem.Errorf(tandem.EInvalid, "%s key must not be empty", what).WithTarget("key")
	case utf8.RuneCountInString(key) > maxKeyLength:
		return tandem.Errorf(tandem.EInvalid, "%s key %q is longer than %d characters", what, key, maxKeyLength).WithTarget(key)
	case !keyRE.MatchString(key):
		return tandem.Errorf(tandem.EInvalid, "invalid %s key %q: names may only contain letters, digits, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)", what, key).WithTarget(key)
	case path.Clean(key) != key || key[0] == '/':
		return tandem.Errorf(tandem.EInvalid, "invalid %s key %q: it would resolve to a different path (%q); use a clean relative path", what, key, path.Clean(key)).WithTarget(key)
	}
	return nil
}

// checkRunLog applies MLflow's rules to one call's content.
func checkRunLog(l *tandem.RunLog) error {
	switch {
	case len(l.Metrics)+len(l.Params)+len(l.Tags)+len(l.DeletedTags)+len(l.Inputs) == 0:
		return tandem.Errorf(tandem.EInvalid, "nothing to log: give at least one metric, parameter or tag")
	case len(l.Metrics) > maxBatchMetrics:
		return tandem.Errorf(tandem.EInvalid, "a batch may hold at most %d metrics, got %d", maxBatchMetrics, len(l.Metrics)).WithTarget("metrics")
	case len(l.Params) > maxBatchParams:
		return tandem.Errorf(tandem.EInvalid, "a batch may hold at most %d params, got %d", maxBatchParams, len(l.Params)).WithTarget("params")
	case len(l.Tags) > maxBatchTags:
		return tandem.Errorf(tandem.EInvalid, "a batch may hold at most %d tags, got %d", maxBatchTags, len(l.Tags)).WithTarget("tags")
	case len(l.Metrics)+len(l.Params)+len(l.Tags) > maxBatchTotal:
		return tandem.Errorf(tandem.EInvalid, "a batch may hold at most %d metrics, params and tags in total", maxBatchTotal)
	}
	for _, m := range l.Metrics {
		if err := checkKey("metric", m.Key); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	for _, p := range l.Params {
		if err := checkKey("param", p.Key); err != nil {
			return err
		}
		if utf8.RuneCountInString(p.Value) > maxParamValue {
			return tandem.Errorf(tandem.EInvalid, "param %q: value is longer than %d characters", p.Key, maxParamValue).WithTarget(p.Key)
		}
		if v, dup := seen[p.Key]; dup && v != p.Value {
			return tandem.Errorf(tandem.EInvalid, "param %q is given twice with different values (%q and %q)", p.Key, v, p.Value).WithTarget(p.Key)
		}
		seen[p.Key] = p.Value
	}
	for _, t := range l.Tags {
		if err := checkKey("tag", t.Key); err != nil {
			return err
		}
		if utf8.RuneCountInString(t.Value) > maxRunTagValue {
			return tandem.Errorf(tandem.EInvalid, "tag %q: value is longer than %d characters", t.Key, maxRunTagValue).WithTarget(t.Key)
		}
	}
	return nil
}

// runWorkspace finds the live workspace of a tracking call on job's run.
// Region admin tokens and the workspace's own tokens may track any run of
// it; a job token only its own job's run.
func runWorkspace(ctx context.Context, tx tandem.Tx, name, job string) (*tandem.Workspace, error) {
	ws, err := liveWorkspace(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" && p.Job() != job {
		return nil, tandem.Errorf(tandem.EForbidden, "this token belongs to job %q and may only track that job's run, not %q", p.Job(), job).WithTarget(job)
	}
	return ws, nil
}

// liveWorkspace finds the live workspace name that the caller may use.
func liveWorkspace(ctx context.Context, tx tandem.Tx, name string) (*tandem.Workspace, error) {
	ws, err := tx.FindWorkspaceByName(ctx, name)
	p := tandem.PrincipalFromContext(ctx)
	if tandem.IsCode(err, tandem.ENotFound) || (err == nil && p != nil && !p.Admin() && p.WorkspaceID != ws.ID) {
		return nil, tandem.Errorf(tandem.ENotFound, "workspace %q not found", name).WithTarget(name)
	} else if err != nil {
		return nil, err
	}
	if ws.Deleted() {
		return nil, tandem.Errorf(tandem.ENotFound, "workspace %q is soft-deleted", name).WithTarget(name)
	}
	return ws, nil
}

func findRunJob(ctx context.Context, tx tandem.Tx, ws *tandem.Workspace, job string) (*tandem.Job, error) {
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindJob, Name: job})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "run %q not found: workspace %q has no job of that name", job, ws.Name).WithTarget(job)
	} else if err != nil {
		return nil, err
	}
	return jobs.JobFromResource(res)
}

// LogRun stores one tracking record: one resource and its change, in one
// transaction. Parameters are immutable: logging one again with the same
// value is accepted, with another value it is EInvalid.
func (r *Service) LogRun(ctx context.Context, workspace, job string, l *tandem.RunLog) error {
	if err := checkRunLog(l); err != nil {
		return err
	}
	rec := &tandem.RunLog{Metrics: l.Metrics, Params: dedupeParams(l.Params), Tags: l.Tags, DeletedTags: l.DeletedTags, Inputs: l.Inputs}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var ws *tandem.Workspace
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if ws, err = runWorkspace(ctx, tx, workspace, job); err != nil {
			return err
		}
		j, err := findRunJob(ctx, tx, ws, job)
		if err != nil {
			return err
		}
		if j.LifecycleStage == tandem.StageDeleted {
			return tandem.Errorf(tandem.EInvalid, "the run %s must be in the 'active' state; its current state is deleted", job).WithTarget(job)
		}
		if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" && tandem.JobDone(j.Status) {
			return tandem.Errorf(tandem.EForbidden, "job %q has ended (%s); its token no longer logs to its run", job, j.Status)
		}
		name := recordName(job, rec)
		if len(rec.Params) > 0 {
			if err := checkParamsUnchanged(ctx, tx, ws.ID, job, rec.Params); err != nil {
				return err
			}
		}
		seq, err := tx.LastChangeSeq(ctx, ws.ID)
		if err != nil {
			return err
		}
		now := r.Timestamp()
		res := &tandem.Resource{
			WorkspaceID: ws.ID, Kind: tandem.KindJobMetric, Name: name, Version: recordVersion(seq+1, r.Name),
			Spec: body, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindJobMetric, res.Name, res.Version, tandem.OpCreate, res)
	})
	return err
}

// dedupeParams drops repeats of a parameter within one call (checkRunLog
// made sure they agree).
func dedupeParams(in []tandem.RunParam) []tandem.RunParam {
	seen := map[string]bool{}
	var out []tandem.RunParam
	for _, p := range in {
		if !seen[p.Key] {
			seen[p.Key] = true
			out = append(out, p)
		}
	}
	return out
}

func checkParamsUnchanged(ctx context.Context, tx tandem.Tx, wsID, job string, params []tandem.RunParam) error {
	logged, err := loggedParams(ctx, tx, wsID, job)
	if err != nil {
		return err
	}
	for _, p := range params {
		if v, ok := logged[p.Key]; ok && v != p.Value {
			return tandem.Errorf(tandem.EInvalid,
				"changing param values is not allowed: param %q was already logged with value %q for run %q; attempted logging new value %q",
				p.Key, v, job, p.Value).WithTarget(p.Key)
		}
	}
	return nil
}

func loggedParams(ctx context.Context, tx tandem.Tx, wsID, job string) (map[string]string, error) {
	recs, err := runRecords(ctx, tx, wsID, runParamsName(job))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, rec := range recs {
		for _, p := range rec.Params {
			if _, ok := out[p.Key]; !ok {
				out[p.Key] = p.Value
			}
		}
	}
	return out, nil
}

// runRecords returns the records stored under one name, in write order.
func runRecords(ctx context.Context, tx tandem.Tx, wsID, name string) ([]*tandem.RunLog, error) {
	list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: tandem.KindJobMetric, Name: name})
	if err != nil {
		return nil, err
	}
	out := make([]*tandem.RunLog, 0, len(list))
	for _, res := range list {
		var l tandem.RunLog
		if err := json.Unmarshal(res.Spec, &l); err != nil {
			return nil, fmt.Errorf("decode tracking record %s@%s: %w", res.Name, res.Version, err)
		}
		out = append(out, &l)
	}
	return out, nil
}

type versionedLog struct {
	version string
	log     *tandem.RunLog
}

// listRecords returns the records of a job that filter selects, in write
// order.
func listRecords(ctx context.Context, tx tandem.Tx, filters ...tandem.ResourceFilter) ([]*tandem.RunLog, error) {
	var all []versionedLog
	for _, f := range filters {
		f.Kind = tandem.KindJobMetric
		list, err := tx.ListResources(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, res := range list {
			var l tandem.RunLog
			if err := json.Unmarshal(res.Spec, &l); err != nil {
				return nil, fmt.Errorf("decode tracking record %s@%s: %w", res.Name, res.Version, err)
			}
			all = append(all, versionedLog{res.Version, &l})
		}
	}
	slices.SortStableFunc(all, func(a, b versionedLog) int { return cmp.Compare(a.version, b.version) })
	out := make([]*tandem.RunLog, len(all))
	for i, v := range all {
		out[i] = v.log
	}
	return out, nil
}

// allRecords returns every tracking record of a job, in write order.
func allRecords(ctx context.Context, tx tandem.Tx, wsID, job string) ([]*tandem.RunLog, error) {
	return listRecords(ctx, tx, tandem.ResourceFilter{WorkspaceID: wsID, NamePrefix: runRecordPrefix(job)})
}

// metricRecords returns the records that may hold points of one metric.
func metricRecords(ctx context.Context, tx tandem.Tx, wsID, job, key string) ([]*tandem.RunLog, error) {
	return listRecords(ctx, tx,
		tandem.ResourceFilter{WorkspaceID: wsID, Name: runMetricName(job, key)},
		tandem.ResourceFilter{WorkspaceID: wsID, Name: runLogName(job)},
		tandem.ResourceFilter{WorkspaceID: wsID, Name: runParamsName(job)})
}

// newerMetric reports whether a is a later point than b as MLflow chooses
// a metric's latest value: larger step, then larger timestamp, then larger
// value (NaN the smallest); on a full tie the later logged point wins.
func newerMetric(a, b tandem.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	av, bv := float64(a.Value), float64(b.Value)
	switch {
	case math.IsNaN(bv):
		return true
	case math.IsNaN(av):
		return false
	}
	return av >= bv
}

// runData folds a job's records into its latest metrics, params and tags.
func runData(recs []*tandem.RunLog) tandem.RunData {
	latest := map[string]tandem.Metric{}
	params := map[string]string{}
	tags := map[string]string{}
	seenInputs := map[string]bool{}
	var inputs []json.RawMessage
	for _, rec := range recs {
		for _, m := range rec.Metrics {
			if cur, ok := latest[m.Key]; !ok || newerMetric(m, cur) {
				latest[m.Key] = m
			}
		}
		for _, p := range rec.Params {
			if _, ok := params[p.Key]; !ok {
				params[p.Key] = p.Value
			}
		}
		for _, t := range rec.Tags {
			tags[t.Key] = t.Value
		}
		for _, k := range rec.DeletedTags {
			delete(tags, k)
		}
		for _, in := range rec.Inputs {
			if !seenInputs[string(in)] {
				seenInputs[string(in)] = true
				inputs = append(inputs, in)
			}
		}
	}
	d := tandem.RunData{Metrics: []tandem.Metric{}, Params: []tandem.RunParam{}, Tags: []tandem.RunParam{}, Inputs: inputs}
	for _, k := range slices.Sorted(maps.Keys(latest)) {
		d.Metrics = append(d.Metrics, latest[k])
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		d.Params = append(d.Params, tandem.RunParam{Key: k, Value: params[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		d.Tags = append(d.Tags, tandem.RunParam{Key: k, Value: tags[k]})
	}
	return d
}

// GetRun returns a job with its latest metrics, params and tags.
func (r *Service) GetRun(ctx context.Context, workspace, job string) (*tandem.Run, error) {
	var run *tandem.Run
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := runWorkspace(ctx, tx, workspace, job)
		if err != nil {
			return err
		}
		j, err := findRunJob(ctx, tx, ws, job)
		if err != nil {
			return err
		}
		ix, err := newExperimentIndex(ctx, tx, ws)
		if err != nil {
			return err
		}
		run, err = jobRun(ctx, tx, ws, ix, j)
		return err
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// MetricHistory returns the points of one metric (every metric when key
// is ""), ordered by timestamp, then step, then logging order. An unknown
// key of a known run is an empty history, as in MLflow.
func (r *Service) MetricHistory(ctx context.Context, workspace, job, key string) ([]tandem.Metric, error) {
	out := []tandem.Metric{}
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := runWorkspace(ctx, tx, workspace, job)
		if err != nil {
			return err
		}
		if _, err := findRunJob(ctx, tx, ws, job); err != nil {
			return err
		}
		var recs []*tandem.RunLog
		if key == "" {
			recs, err = allRecords(ctx, tx, ws.ID, job)
		} else {
			recs, err = metricRecords(ctx, tx, ws.ID, job, key)
		}
		if err != nil {
			return err
		}
		for _, rec := range recs {
			for _, m := range rec.Metrics {
				if key == "" || m.Key == key {
					out = append(out, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b tandem.Metric) int {
		return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), cmp.Compare(a.Step, b.Step))
	})
	return out, nil
}
