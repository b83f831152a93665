package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

// The Go client's side of the MLflow-compatible API: experiments and the
// life of runs, called through the workspace's tracking URI.

var (
	_ tandem.ExperimentService = (*Client)(nil)
	_ tandem.MLflowRunService  = (*Client)(nil)
)

// mlflowError is MLflow's error body (served by package mlflowapi).
type mlflowError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// fromMLflowCode maps MLflow's error codes back to Tandem's.
func fromMLflowCode(code string, status int) string {
	switch code {
	case "RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND":
		return tandem.ENotFound
	case "RESOURCE_ALREADY_EXISTS":
		return tandem.EConflict
	case "INVALID_PARAMETER_VALUE", "BAD_REQUEST":
		return tandem.EInvalid
	case "UNAUTHENTICATED":
		return tandem.EUnauthorized
	case "PERMISSION_DENIED":
		return tandem.EForbidden
	case "TEMPORARILY_UNAVAILABLE":
		return tandem.EUnavailable
	}
	return codeOf(status)
}

func mlflowPath(ws, endpoint string) string {
	return "/mlflow/workspaces/" + url.PathEscape(ws) + "/api/2.0/mlflow/" + endpoint
}

func (c *Client) mlflowCall(ctx context.Context, method, ws, endpoint string, query url.Values, in, out any) error {
	return c.call(ctx, method, mlflowPath(ws, endpoint), query, in, out)
}

// CreateExperiment creates an MLflow experiment.
func (c *Client) CreateExperiment(ctx context.Context, ws, name string, tags []tandem.RunParam) (*tandem.Experiment, error) {
	var out struct {
		ID string `json:"experiment_id"`
	}
	if err := c.mlflowCall(ctx, http.MethodPost, ws, "experiments/create", nil, map[string]any{"name": name, "tags": tags}, &out); err != nil {
		return nil, err
	}
	return c.GetExperiment(ctx, ws, out.ID)
}

// GetExperiment finds an experiment by id.
func (c *Client) GetExperiment(ctx context.Context, ws, id string) (*tandem.Experiment, error) {
	var out struct {
		Experiment *tandem.Experiment `json:"experiment"`
	}
	return out.Experiment, c.mlflowCall(ctx, http.MethodGet, ws, "experiments/get", url.Values{"experiment_id": {id}}, nil, &out)
}

// GetExperimentByName finds an experiment by name.
func (c *Client) GetExperimentByName(ctx context.Context, ws, name string) (*tandem.Experiment, error) {
	var out struct {
		Experiment *tandem.Experiment `json:"experiment"`
	}
	return out.Experiment, c.mlflowCall(ctx, http.MethodGet, ws, "experiments/get-by-name", url.Values{"experiment_name": {name}}, nil, &out)
}

// SearchExperiments returns a page of experiments.
func (c *Client) SearchExperiments(ctx context.Context, ws string, q *tandem.ExperimentSearch) (*tandem.ExperimentPage, error) {
	in := map[string]any{"filter": q.Filter, "order_by": q.OrderBy, "page_token": q.PageToken, "view_type": q.ViewType}
	if q.MaxResults > 0 {
		in["max_results"] = q.MaxResults
	}
	var out tandem.ExperimentPage
	if err := c.mlflowCall(ctx, http.MethodPost, ws, "experiments/search", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RenameExperiment renames an experiment.
func (c *Client) RenameExperiment(ctx context.Context, ws, id, name string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "experiments/update", nil, map[string]string{"experiment_id": id, "new_name": name}, nil)
}

// DeleteExperiment marks an experiment deleted.
func (c *Client) DeleteExperiment(ctx context.Context, ws, id string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "experiments/delete", nil, map[string]string{"experiment_id": id}, nil)
}

// RestoreExperiment makes a deleted experiment active again.
func (c *Client) RestoreExperiment(ctx context.Context, ws, id string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "experiments/restore", nil, map[string]string{"experiment_id": id}, nil)
}

// SetExperimentTag sets a tag of an experiment.
func (c *Client) SetExperimentTag(ctx context.Context, ws, id, key, value string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "experiments/set-experiment-tag", nil, map[string]string{"experiment_id": id, "key": key, "value": value}, nil)
}

// wireRun is MLflow's Run as the server writes it.
type wireRun struct {
	Info *tandem.RunInfo `json:"info"`
	Data tandem.RunData  `json:"data"`
}

func (w *wireRun) run() *tandem.Run { return &tandem.Run{Info: w.Info, Data: w.Data} }

// CreateRun creates a run outside any job. The answer's Job is nil: the
// job is found with FindJob(run.Info.RunID).
func (c *Client) CreateRun(ctx context.Context, ws string, req *tandem.RunCreate) (*tandem.Run, error) {
	var out struct {
		Run wireRun `json:"run"`
	}
	if err := c.mlflowCall(ctx, http.MethodPost, ws, "runs/create", nil, req, &out); err != nil {
		return nil, err
	}
	return out.Run.run(), nil
}

// UpdateRun changes a run's status, end time or name.
func (c *Client) UpdateRun(ctx context.Context, ws, run string, u *tandem.RunUpdate) (*tandem.Run, error) {
	in := map[string]any{"run_id": run, "status": u.Status, "run_name": u.RunName}
	if u.EndTime > 0 {
		in["end_time"] = u.EndTime
	}
	if err := c.mlflowCall(ctx, http.MethodPost, ws, "runs/update", nil, in, nil); err != nil {
		return nil, err
	}
	return c.GetRun(ctx, ws, run)
}

// DeleteRun marks a run deleted.
func (c *Client) DeleteRun(ctx context.Context, ws, run string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "runs/delete", nil, map[string]string{"run_id": run}, nil)
}

// RestoreRun makes a deleted run active again.
func (c *Client) RestoreRun(ctx context.Context, ws, run string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "runs/restore", nil, map[string]string{"run_id": run}, nil)
}

// DeleteRunTag removes a tag from a run.
func (c *Client) DeleteRunTag(ctx context.Context, ws, run, key string) error {
	return c.mlflowCall(ctx, http.MethodPost, ws, "runs/delete-tag", nil, map[string]string{"run_id": run, "key": key}, nil)
}

// SearchRuns returns a page of runs. Their Job is nil.
func (c *Client) SearchRuns(ctx context.Context, ws string, q *tandem.RunSearch) (*tandem.RunPage, error) {
	in := map[string]any{"experiment_ids": q.ExperimentIDs, "filter": q.Filter, "order_by": q.OrderBy, "page_token": q.PageToken, "run_view_type": q.ViewType}
	if q.MaxResults > 0 {
		in["max_results"] = q.MaxResults
	}
	var out struct {
		Runs          []wireRun `json:"runs"`
		NextPageToken string    `json:"next_page_token"`
	}
	if err := c.mlflowCall(ctx, http.MethodPost, ws, "runs/search", nil, in, &out); err != nil {
		return nil, err
	}
	p := &tandem.RunPage{Runs: []*tandem.Run{}, NextPageToken: out.NextPageToken}
	for i := range out.Runs {
		p.Runs = append(p.Runs, out.Runs[i].run())
	}
	return p, nil
}
