// Package mlflowapi is the server side of the MLflow-compatible subset of
// Tandem's REST API: what MLflow's clients call to manage experiments and
// runs, log to a run and read it back, proxy artifacts and use the model
// registry, so that training code that logs with MLflow works unchanged,
// inside a Tandem job or outside. A job is a run: its run_id is the job's
// name.
//
// Two ways to choose the workspace:
//   - a tracking URI per workspace, <endpoint>/mlflow/workspaces/<ws>: the
//     MLflow paths below it (<uri>/api/2.0/mlflow/..., the preview and the
//     ajax-api paths) act on <ws>, which the token must be allowed to use;
//   - the bare paths (<endpoint>/api/2.0/mlflow/...): the token chooses
//     (a job's own MLFLOW_TRACKING_TOKEN, or any workspace token); a region
//     admin token names the workspace in the X-Tandem-Workspace header.
//
// The token is sent as "Authorization: Bearer <token>" (MLflow's
// MLFLOW_TRACKING_TOKEN) or as the password of Basic auth with any user
// name (MLFLOW_TRACKING_USERNAME/PASSWORD). Requests and responses use
// MLflow's field names, and errors MLflow's shape:
// {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "..."}, with the
// one table of MLflow codes and statuses in mlflow.go.
//
// [Handler] holds the services it serves; [Handler.Routes] registers every
// route on a mux. Package httpapi mounts it (httpapi.Server.MLflow), so the
// MLflow routes share the REST API's logging, metrics and panic recovery;
// the Go client's MLflow calls stay in httpapi. This package imports only
// the root package tandem and the standard library — never httpapi, which
// would make a cycle — and holds no business rules: the few helpers it
// shares with httpapi (writeJSON, bearer, nonNil) are small copies.
package mlflowapi
