package mlflowapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// MLflow's run endpoints beyond logging (mlflow.go has the logging ones).
func (h *Handler) mlflowRunHandlers() map[string]mlflowHandler {
	return map[string]mlflowHandler{
		"POST runs/create":     h.mlflowCreateRun,
		"GET runs/get":         h.mlflowGetRun,
		"POST runs/update":     h.mlflowUpdateRun,
		"POST runs/delete":     h.mlflowDeleteRun,
		"POST runs/restore":    h.mlflowRestoreRun,
		"POST runs/search":     h.mlflowSearchRuns,
		"POST runs/delete-tag": h.mlflowDeleteTag,
		"POST runs/log-inputs": h.mlflowLogInputs,
	}
}

// mlflowRun is MLflow's Run.
func mlflowRun(run *tandem.Run) map[string]any {
	d := run.Data
	inputs := map[string]any{}
	if len(d.Inputs) > 0 {
		inputs["dataset_inputs"] = d.Inputs
	}
	return map[string]any{"info": run.Info, "data": map[string]any{"metrics": d.Metrics, "params": d.Params, "tags": d.Tags}, "inputs": inputs}
}

func (h *Handler) mlflowCreateRun(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		ExperimentID string        `json:"experiment_id"`
		RunName      string        `json:"run_name"`
		UserID       string        `json:"user_id"`
		StartTime    *flexInt      `json:"start_time"`
		Tags         []mlflowParam `json:"tags"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	c := &tandem.RunCreate{ExperimentID: req.ExperimentID, RunName: req.RunName, UserID: req.UserID}
	if req.StartTime != nil {
		c.StartTime = int64(*req.StartTime)
	}
	for i, t := range req.Tags {
		x, err := t.param("tags[" + strconv.Itoa(i) + "].")
		if err != nil {
			return err
		}
		if x.Key == "mlflow.runName" && c.RunName == "" {
			c.RunName = x.Value
		}
		c.Tags = append(c.Tags, x)
	}
	run, err := h.MLflowRuns.CreateRun(r.Context(), ws, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": mlflowRun(run)})
	return nil
}

func (h *Handler) mlflowGetRun(w http.ResponseWriter, r *http.Request, ws string) error {
	id, err := queryRunID(r.URL.Query())
	if err != nil {
		return err
	}
	run, err := h.Runs.GetRun(r.Context(), ws, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": mlflowRun(run)})
	return nil
}

// mlflowUpdateRun answers runs/update, which mlflow.start_run and
// mlflow.end_run send: a run created by MLflow takes the status, end time
// and name; a job's own run is the job's and keeps its status.
func (h *Handler) mlflowUpdateRun(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		runRef
		Status  string   `json:"status"`
		EndTime *flexInt `json:"end_time"`
		RunName string   `json:"run_name"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	u := &tandem.RunUpdate{Status: req.Status, RunName: req.RunName}
	if req.EndTime != nil {
		u.EndTime = int64(*req.EndTime)
	}
	run, err := h.MLflowRuns.UpdateRun(r.Context(), ws, id, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"run_info": run.Info})
	return nil
}

func (h *Handler) mlflowDeleteRun(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowRunCall(w, r, ws, h.MLflowRuns.DeleteRun)
}

func (h *Handler) mlflowRestoreRun(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowRunCall(w, r, ws, h.MLflowRuns.RestoreRun)
}

// mlflowRunCall serves a call whose body names a run and nothing else.
func (h *Handler) mlflowRunCall(w http.ResponseWriter, r *http.Request, ws string, fn func(ctx context.Context, ws, run string) error) error {
	var req runRef
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

func (h *Handler) mlflowDeleteTag(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		runRef
		Key string `json:"key"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if req.Key == "" {
		return missing("key")
	}
	if err := h.MLflowRuns.DeleteRunTag(r.Context(), ws, id, req.Key); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

// mlflowLogInputs records MLflow's dataset inputs of a run, each as sent.
func (h *Handler) mlflowLogInputs(w http.ResponseWriter, r *http.Request, ws string) error {
	var req struct {
		runRef
		Datasets []json.RawMessage `json:"datasets"`
	}
	if err := decodeMLflow(r, &req); err != nil {
		return err
	}
	id, err := req.id()
	if err != nil {
		return err
	}
	if len(req.Datasets) == 0 {
		if _, err := h.Runs.GetRun(r.Context(), ws, id); err != nil {
			return err
		}
		writeEmpty(w)
		return nil
	}
	for i, d := range req.Datasets {
		var in struct {
			Dataset map[string]any `json:"dataset"`
		}
		if json.Unmarshal(d, &in) != nil || in.Dataset == nil {
			return missing("datasets[" + strconv.Itoa(i) + "].dataset")
		}
	}
	if err := h.Runs.LogRun(r.Context(), ws, id, &tandem.RunLog{Inputs: req.Datasets}); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowSearchRuns(w http.ResponseWriter, r *http.Request, ws string) error {
	req, err := readSearch(r)
	if err != nil {
		return err
	}
	n, err := req.maxResults()
	if err != nil {
		return err
	}
	view := req.RunViewTyp
	p, err := h.MLflowRuns.SearchRuns(r.Context(), ws, &tandem.RunSearch{ExperimentIDs: req.IDs, Filter: req.Filter,
		OrderBy: req.OrderBy, ViewType: string(view), MaxResults: n, PageToken: req.PageToken})
	if err != nil {
		return err
	}
	runs := make([]map[string]any, len(p.Runs))
	for i, run := range p.Runs {
		runs[i] = mlflowRun(run)
	}
	out := map[string]any{"runs": runs}
	if p.NextPageToken != "" {
		out["next_page_token"] = p.NextPageToken
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
