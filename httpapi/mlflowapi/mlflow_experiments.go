package mlflowapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// MLflow's experiment endpoints.
func (h *Handler) mlflowExperimentHandlers() map[string]mlflowHandler {
	return map[string]mlflowHandler{
		"POST experiments/create":             h.mlflowCreateExperiment,
		"GET experiments/get":                 h.mlflowGetExperiment,
		"GET experiments/get-by-name":         h.mlflowGetExperimentByName,
		"POST experiments/search":             h.mlflowSearchExperiments,
		"GET experiments/search":              h.mlflowSearchExperiments,
		"GET experiments/list":                h.mlflowSearchExperiments, // MLflow 1.x
		"POST experiments/update":             h.mlflowUpdateExperiment,
		"POST experiments/delete":             h.mlflowDeleteExperiment,
		"POST experiments/restore":            h.mlflowRestoreExperiment,
		"POST experiments/set-experiment-tag": h.mlflowSetExperimentTag,
	}
}

type experimentRef struct {
	ExperimentID string `json:"experiment_id"`
}

func (e experimentRef) id() (string, error) {
	if e.ExperimentID == "" {
		return "", missing("experiment_id")
	}
	return e.ExperimentID, nil
}

func (h *Handler) mlflowCreateExperiment(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		Name             string        `json:"name"`
		ArtifactLocation string        `json:"artifact_location"`
		Tags             []mlflowParam `json:"tags"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return missing("name")
	}
	if req.ArtifactLocation != "" {
		return tandem.Errorf(tandem.EInvalid, "artifact_location is chosen by Tandem (mlflow-artifacts:/<experiment_id>); leave it out").WithTarget("artifact_location")
	}
	var tags []tandem.RunParam
	for i, t := range req.Tags {
		x, err := t.param("tags[" + strconv.Itoa(i) + "].")
		if err != nil {
			return err
		}
		tags = append(tags, x)
	}
	e, err := h.Experiments.CreateExperiment(r.Context(), ws, req.Name, tags)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"experiment_id": e.ID})
	return nil
}

func (h *Handler) mlflowGetExperiment(w http.ResponseWriter, r *http.Request, ws string) error {
	id := r.URL.Query().Get("experiment_id")
	if id == "" {
		return missing("experiment_id")
	}
	e, err := h.Experiments.GetExperiment(r.Context(), ws, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiment": e})
	return nil
}

func (h *Handler) mlflowGetExperimentByName(w http.ResponseWriter, r *http.Request, ws string) error {
	name := r.URL.Query().Get("experiment_name")
	if name == "" {
		return missing("experiment_name")
	}
	e, err := h.Experiments.GetExperimentByName(r.Context(), ws, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"experiment": e})
	return nil
}

// viewTypes maps the numbers of MLflow's ViewType enum to its names.
var viewTypes = map[string]string{"1": tandem.ViewActiveOnly, "2": tandem.ViewDeletedOnly, "3": tandem.ViewAll}

// searchRequest is the body (POST) or query (GET) of a search.
type searchRequest struct {
	MaxResults *flexInt `json:"max_results"`
	PageToken  string   `json:"page_token"`
	Filter     string   `json:"filter"`
	OrderBy    []string `json:"order_by"`
	ViewType   flexEnum `json:"view_type"`
	RunViewTyp flexEnum `json:"run_view_type"`
	IDs        []string `json:"experiment_ids"`
}

// flexEnum is an enum MLflow clients send by name or by number.
type flexEnum string

func (f *flexEnum) UnmarshalJSON(b []byte) error {
	v := strings.Trim(string(b), `"`)
	if n, ok := viewTypes[v]; ok {
		v = n
	}
	*f = flexEnum(v)
	return nil
}

// readSearch reads a search from a POST's body or a GET's query.
func readSearch(r *http.Request) (*searchRequest, error) {
	var req searchRequest
	if r.Method == http.MethodPost {
		if err := decodeMLflow(r, &req); err != nil {
			return nil, err
		}
		return &req, nil
	}
	q := r.URL.Query()
	req.PageToken, req.Filter, req.OrderBy, req.IDs = q.Get("page_token"), q.Get("filter"), q["order_by"], q["experiment_ids"]
	for _, v := range []struct {
		name string
		to   *flexEnum
	}{{"view_type", &req.ViewType}, {"run_view_type", &req.RunViewTyp}} {
		if err := v.to.UnmarshalJSON([]byte(q.Get(v.name))); err != nil {
			return nil, err
		}
	}
	if v := q.Get("max_results"); v != "" {
		var n flexInt
		if err := n.UnmarshalJSON([]byte(v)); err != nil {
			return nil, err
		}
		req.MaxResults = &n
	}
	return &req, nil
}

func (req *searchRequest) maxResults() (int, error) {
	if req.MaxResults == nil {
		return 0, nil
	}
	if *req.MaxResults <= 0 {
		return 0, tandem.Errorf(tandem.EInvalid, "invalid value %d for parameter 'max_results' supplied: it must be positive", *req.MaxResults).WithTarget("max_results")
	}
	return int(*req.MaxResults), nil
}

func (h *Handler) mlflowSearchExperiments(w http.ResponseWriter, r *http.Request, ws string) error {
	req, err := readSearch(r)
	if err != nil {
		return err
	}
	n, err := req.maxResults()
	if err != nil {
		return err
	}
	p, err := h.Experiments.SearchExperiments(r.Context(), ws, &tandem.ExperimentSearch{
		Filter: req.Filter, OrderBy: req.OrderBy, ViewType: string(req.ViewType), MaxResults: n, PageToken: req.PageToken})
	if err != nil {
		return err
	}
	out := map[string]any{"experiments": nonNil(p.Experiments)}
	if p.NextPageToken != "" {
		out["next_page_token"] = p.NextPageToken
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) mlflowUpdateExperiment(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		experimentRef
		NewName string `json:"new_name"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if req.NewName == "" {
		return missing("new_name")
	}
	if err := h.Experiments.RenameExperiment(r.Context(), ws, id, req.NewName); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowDeleteExperiment(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowExperimentCall(w, r, ws, h.Experiments.DeleteExperiment)
}

func (h *Handler) mlflowRestoreExperiment(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowExperimentCall(w, r, ws, h.Experiments.RestoreExperiment)
}

// mlflowExperimentCall serves a call whose body names an experiment and
// nothing else.
func (h *Handler) mlflowExperimentCall(w http.ResponseWriter, r *http.Request, ws string, fn func(ctx context.Context, ws, id string) error) error {
	var req experimentRef
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if err := fn(r.Context(), ws, id); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowSetExperimentTag(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		experimentRef
		mlflowParam
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	p, err := req.param("")
	if err != nil {
		return err
	}
	if err := h.Experiments.SetExperimentTag(r.Context(), ws, id, p.Key, p.Value); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}
