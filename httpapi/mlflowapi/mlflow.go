package mlflowapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// headerWorkspace names the workspace of an MLflow call made with a region
// admin token.
const headerWorkspace = "X-Tandem-Workspace"

// mlflowPrefixes are where MLflow clients find the API: the current path,
// the preview one older clients use and the one MLflow's UI calls.
var mlflowPrefixes = []string{"/api/2.0/mlflow/", "/api/2.0/preview/mlflow/", "/ajax-api/2.0/mlflow/"}

// mlflowWorkspacePrefix is the tracking URI of a workspace, relative to
// the server's endpoint (see tandem.MLflowTrackingURI).
const mlflowWorkspacePrefix = "/mlflow/workspaces/{mlflowWorkspace}"

// mlflowHandler serves one MLflow endpoint for workspace ws.
type mlflowHandler func(w http.ResponseWriter, r *http.Request, ws string) error

// mlflowHandlers is the table of MLflow endpoints, "METHOD path" relative
// to a prefix (e.g. "POST runs/log-metric"). It is the one place MLflow
// routes are registered: each route file (experiments, runs, and the
// artifact and model-registry files) contributes its own table, merged
// here.
func (h *Handler) mlflowHandlers() map[string]mlflowHandler {
	table := map[string]mlflowHandler{
		"POST runs/log-metric":    h.mlflowLogMetric,
		"POST runs/log-batch":     h.mlflowLogBatch,
		"POST runs/log-parameter": h.mlflowLogParam,
		"POST runs/set-tag":       h.mlflowSetTag,
		"GET metrics/get-history": h.mlflowMetricHistory,
	}
	maps.Copy(table, h.mlflowExperimentHandlers())
	maps.Copy(table, h.mlflowRunHandlers())
	maps.Copy(table, h.mlflowRegistryHandlers())
	return table
}

// Endpoints lists the supported endpoints, relative to a prefix.
func (h *Handler) Endpoints() []string {
	return slices.Sorted(maps.Keys(h.mlflowHandlers()))
}

// Routes registers the MLflow routes on m: every endpoint under each of
// the prefixes, both bare (the token chooses the workspace) and below a
// workspace's tracking URI, and the artifact proxy under both.
func (h *Handler) Routes(m *http.ServeMux) {
	handlers := h.mlflowHandlers()
	for _, prefix := range mlflowPrefixes {
		for e, fn := range handlers {
			method, rest, _ := strings.Cut(e, " ")
			m.Handle(method+" "+prefix+rest, h.mlflow(fn, false))
			m.Handle(method+" "+mlflowWorkspacePrefix+prefix+rest, h.mlflow(fn, true))
		}
		m.Handle(prefix, h.mlflow(h.mlflowUnsupported, false))
		m.Handle(mlflowWorkspacePrefix+prefix, h.mlflow(h.mlflowUnsupported, true))
	}
	h.mlflowArtifactRoutes(m, "", false)
	h.mlflowArtifactRoutes(m, mlflowWorkspacePrefix, true)
}

// mlflowError is MLflow's error body. PrimaryTrackingURI, a Tandem
// addition MLflow's client ignores, is set on a write refused by a pair's
// read-only secondary: the workspace's tracking URI in its primary region,
// also sent in the X-Tandem-Primary header.
type mlflowError struct {
	ErrorCode          string `json:"error_code"`
	Message            string `json:"message"`
	PrimaryTrackingURI string `json:"primary_tracking_uri,omitempty"`
}

// headerPrimary carries the primary's tracking URI on a write refused by a
// read-only secondary, for a client (or a client-side redirect) to follow.
const headerPrimary = "X-Tandem-Primary"

// mlflowCodes maps Tandem's error codes to MLflow's and their statuses.
// MLflow's server answers RESOURCE_ALREADY_EXISTS with 400, as every
// error but the ones listed with their own status. NotPrimary becomes
// TEMPORARILY_UNAVAILABLE (503), which MLflow clients retry, rather than
// 421, which they would not; the answer adds the primary's tracking URI
// (see primaryTrackingURI).
var mlflowCodes = map[string]struct {
	code   string
	status int
}{
	tandem.EInvalid:      {"INVALID_PARAMETER_VALUE", http.StatusBadRequest},
	tandem.ETooLarge:     {"INVALID_PARAMETER_VALUE", http.StatusBadRequest},
	tandem.ENotFound:     {"RESOURCE_DOES_NOT_EXIST", http.StatusNotFound},
	tandem.EConflict:     {"RESOURCE_ALREADY_EXISTS", http.StatusBadRequest},
	tandem.EUnauthorized: {"UNAUTHENTICATED", http.StatusUnauthorized},
	tandem.EForbidden:    {"PERMISSION_DENIED", http.StatusForbidden},
	tandem.EMethod:       {"ENDPOINT_NOT_FOUND", http.StatusMethodNotAllowed},
	tandem.ENotPrimary:   {"TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable},
	tandem.EUnavailable:  {"TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable},
	tandem.ECorrupt:      {"INTERNAL_ERROR", http.StatusInternalServerError},
	tandem.EInternal:     {"INTERNAL_ERROR", http.StatusInternalServerError},
}

// errEndpoint marks an unsupported MLflow endpoint.
var errEndpoint = errors.New("endpoint not found")

// writeMLflowError writes err in MLflow's shape; ws is the call's
// workspace, "" when it was not found yet.
func (h *Handler) writeMLflowError(w http.ResponseWriter, r *http.Request, ws string, err error) {
	if errors.Is(err, errEndpoint) {
		writeJSON(w, http.StatusNotFound, mlflowError{ErrorCode: "ENDPOINT_NOT_FOUND", Message: "MLflow endpoint " + r.Method + " " + r.URL.Path + " is not supported by Tandem; supported: " + strings.Join(h.Endpoints(), ", ") + " (under /api/2.0/mlflow/)"})
		return
	}
	code := tandem.ErrorCode(err)
	if code == tandem.EInternal {
		h.logger().Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	m, ok := mlflowCodes[code]
	if !ok {
		m = mlflowCodes[tandem.EInternal]
	}
	body := mlflowError{ErrorCode: m.code, Message: tandem.ErrorMessage(err)}
	if code == tandem.ENotPrimary {
		body.PrimaryTrackingURI = primaryTrackingURI(err, ws)
		if body.PrimaryTrackingURI != "" {
			w.Header().Set(headerPrimary, body.PrimaryTrackingURI)
		}
	}
	writeJSON(w, m.status, body)
}

// primaryTrackingURI is the tracking URI of workspace ws in the primary
// region a NotPrimary error names (its Target is the primary's endpoint),
// or "" when either is unknown.
func primaryTrackingURI(err error, ws string) string {
	var te *tandem.Error
	if ws == "" || !errors.As(err, &te) {
		return ""
	}
	return tandem.MLflowTrackingURI(te.Target, ws)
}

// mlflow authenticates an MLflow call, finds its workspace (from the path
// when fromPath, else from the token) and writes errors in MLflow's shape.
func (h *Handler) mlflow(next mlflowHandler, fromPath bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ws string
		err := func() error {
			secret, ok := mlflowSecret(r)
			if !ok {
				return tandem.Errorf(tandem.EUnauthorized, "missing token: set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_PASSWORD with any user name (inside a job it is set for you)")
			}
			t, err := h.Auth.Authenticate(r.Context(), secret)
			if err != nil {
				return err
			}
			ctx := tandem.NewContextWithPrincipal(r.Context(), t)
			ws, err = mlflowWorkspace(r, t, fromPath)
			if err != nil {
				ws = ""
				return err
			}
			if h.Runs == nil || h.Experiments == nil || h.MLflowRuns == nil {
				return tandem.Errorf(tandem.EUnavailable, "this server does not track runs")
			}
			return next(w, r.WithContext(ctx), ws)
		}()
		if err != nil {
			h.writeMLflowError(w, r, ws, err)
		}
	})
}

// mlflowSecret reads the token of a bearer header, or the password of a
// Basic one (MLflow sends MLFLOW_TRACKING_USERNAME and _PASSWORD so).
func mlflowSecret(r *http.Request) (string, bool) {
	if secret, ok := bearer(r); ok {
		return secret, true
	}
	if _, pw, ok := r.BasicAuth(); ok && strings.TrimSpace(pw) != "" {
		return strings.TrimSpace(pw), true
	}
	return "", false
}

// mlflowWorkspace chooses the workspace of a call. A workspace token may
// only name its own workspace in the path; another is reported as not
// found, as everywhere in the API.
func mlflowWorkspace(r *http.Request, t *tandem.Token, fromPath bool) (string, error) {
	if fromPath {
		ws := r.PathValue("mlflowWorkspace")
		if !t.Admin() && ws != t.Workspace {
			return "", tandem.Errorf(tandem.ENotFound, "workspace %q not found", ws).WithTarget(ws)
		}
		return ws, nil
	}
	if !t.Admin() {
		return t.Workspace, nil
	}
	ws := r.Header.Get(headerWorkspace)
	if ws == "" {
		return "", tandem.Errorf(tandem.EInvalid, "a region admin token must name the workspace: use the workspace's tracking URI (<endpoint>/mlflow/workspaces/<workspace>) or the %s header", headerWorkspace)
	}
	return ws, nil
}

func (h *Handler) mlflowUnsupported(http.ResponseWriter, *http.Request, string) error {
	return errEndpoint
}

// flexInt is an int64 field MLflow clients may send as a JSON number or,
// following protobuf's JSON mapping, as a string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Timestamps and steps are integers; MLflow rounds floats.
		x, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return tandem.Errorf(tandem.EInvalid, "%s is not an integer", b)
		}
		n = int64(x)
	}
	*f = flexInt(n)
	return nil
}

type mlflowMetric struct {
	Key       string              `json:"key"`
	Value     *tandem.MetricValue `json:"value"`
	Timestamp *flexInt            `json:"timestamp"`
	Step      *flexInt            `json:"step"`
}

func (m *mlflowMetric) metric(field string) (tandem.Metric, error) {
	switch {
	case m.Key == "":
		return tandem.Metric{}, missing(field + "key")
	case m.Value == nil:
		return tandem.Metric{}, missing(field + "value")
	case m.Timestamp == nil:
		return tandem.Metric{}, missing(field + "timestamp")
	}
	out := tandem.Metric{Key: m.Key, Value: *m.Value, Timestamp: int64(*m.Timestamp)}
	if m.Step != nil {
		out.Step = int64(*m.Step)
	}
	return out, nil
}

type mlflowParam struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func (p *mlflowParam) param(field string) (tandem.RunParam, error) {
	switch {
	case p.Key == "":
		return tandem.RunParam{}, missing(field + "key")
	case p.Value == nil:
		return tandem.RunParam{}, missing(field + "value")
	}
	return tandem.RunParam{Key: p.Key, Value: *p.Value}, nil
}

type runRef struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"` // MLflow's deprecated name for run_id
}

func (r runRef) id() (string, error) {
	if r.RunID != "" {
		return r.RunID, nil
	}
	if r.RunUUID != "" {
		return r.RunUUID, nil
	}
	return "", missing("run_id")
}

func missing(field string) error {
	return tandem.Errorf(tandem.EInvalid, "missing value for required parameter '%s'", field).WithTarget(field)
}

// decodeMLflow reads a JSON body. Unknown fields are ignored: MLflow
// clients send fields this subset has no use for (model_id, dataset_name,
// ...).
func decodeMLflow(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxJSONBody {
		return tandem.Errorf(tandem.EInvalid, "request body is larger than %d bytes", maxJSONBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return tandem.Errorf(tandem.EInvalid, "request body is empty; send a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *tandem.Error
		if errors.As(err, &te) {
			return te
		}
		return tandem.Errorf(tandem.EInvalid, "request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

func writeEmpty(w http.ResponseWriter) { writeJSON(w, http.StatusOK, struct{}{}) }

func (h *Handler) mlflowLogMetric(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		runRef
		mlflowMetric
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	run, err := req.id()
	if err != nil {
		return err
	}
	m, err := req.metric("")
	if err != nil {
		return err
	}
	if err := h.Runs.LogRun(r.Context(), ws, run, &tandem.RunLog{Metrics: []tandem.Metric{m}}); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowLogBatch(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		runRef
		Metrics []mlflowMetric `json:"metrics"`
		Params  []mlflowParam  `json:"params"`
		Tags    []mlflowParam  `json:"tags"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	run, err := req.id()
	if err != nil {
		return err
	}
	var l tandem.RunLog
	for i, m := range req.Metrics {
		x, err := m.metric("metrics[" + strconv.Itoa(i) + "].")
		if err != nil {
			return err
		}
		l.Metrics = append(l.Metrics, x)
	}
	for i, p := range req.Params {
		x, err := p.param("params[" + strconv.Itoa(i) + "].")
		if err != nil {
			return err
		}
		l.Params = append(l.Params, x)
	}
	for i, t := range req.Tags {
		x, err := t.param("tags[" + strconv.Itoa(i) + "].")
		if err != nil {
			return err
		}
		l.Tags = append(l.Tags, x)
	}
	if len(l.Metrics)+len(l.Params)+len(l.Tags) == 0 {
		// MLflow accepts an empty batch and logs nothing.
		if _, err := h.Runs.GetRun(r.Context(), ws, run); err != nil {
			return err
		}
		writeEmpty(w)
		return nil
	}
	if err := h.Runs.LogRun(r.Context(), ws, run, &l); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowLogParam(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowLogPair(w, r, ws, func(p tandem.RunParam) *tandem.RunLog { return &tandem.RunLog{Params: []tandem.RunParam{p}} })
}

func (h *Handler) mlflowSetTag(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowLogPair(w, r, ws, func(t tandem.RunParam) *tandem.RunLog { return &tandem.RunLog{Tags: []tandem.RunParam{t}} })
}

// mlflowLogPair logs the one key and value of a log-parameter or set-tag
// request, as the RunLog that as builds.
func (h *Handler) mlflowLogPair(w http.ResponseWriter, r *http.Request, ws string, as func(tandem.RunParam) *tandem.RunLog) error {
	var req struct {
		runRef
		mlflowParam
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	run, err := req.id()
	if err != nil {
		return err
	}
	p, err := req.param("")
	if err != nil {
		return err
	}
	if err := h.Runs.LogRun(r.Context(), ws, run, as(p)); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

// queryRunID reads run_id (or run_uuid) from a GET's query.
func queryRunID(q url.Values) (string, error) {
	return runRef{RunID: q.Get("run_id"), RunUUID: q.Get("run_uuid")}.id()
}

// maxHistoryResults is MLflow's largest page of metrics/get-history.
const maxHistoryResults = 25000

func (h *Handler) mlflowMetricHistory(w http.ResponseWriter, r *http.Request, ws string) error {
	q := r.URL.Query()
	id, err := queryRunID(q)
	if err != nil {
		return err
	}
	key := q.Get("metric_key")
	if key == "" {
		return missing("metric_key")
	}
	limit := maxHistoryResults
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > maxHistoryResults {
			return tandem.Errorf(tandem.EInvalid, "max_results must be an integer from 1 to %d, got %q", maxHistoryResults, v).WithTarget("max_results")
		}
		limit = n
	}
	offset := 0
	if tok := q.Get("page_token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, aerr := strconv.Atoi(string(b))
		if err != nil || aerr != nil || n < 0 {
			return tandem.Errorf(tandem.EInvalid, "invalid page_token %q", tok).WithTarget("page_token")
		}
		offset = n
	}
	list, err := h.Runs.MetricHistory(r.Context(), ws, id, key)
	if err != nil {
		return err
	}
	out := map[string]any{}
	if offset > len(list) {
		offset = len(list)
	}
	page := list[offset:]
	if len(page) > limit {
		page = page[:limit]
		out["next_page_token"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + limit)))
	}
	out["metrics"] = nonNil(page)
	writeJSON(w, http.StatusOK, out)
	return nil
}
