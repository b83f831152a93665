// Package tracking is the MLflow-compatible tracking API of a workspace:
// experiments (resources of kind experiment), runs (jobs; a run an MLflow
// client creates is a job of type mlflow), the metrics, parameters and
// tags a run logs (each record one change), and the searches over them in
// MLflow's filter syntax.
//
// Files: tracking.go (logging and reading a run's records), experiments.go,
// runs.go (the life of MLflow runs), runsearch.go, search.go (filters,
// order_by, pages).
//
// It may import the root package, the kernel and jobs (a run is a job); it
// must not import a backend, httpapi, cli or server.
package tracking
