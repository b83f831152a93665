// Package tracking is the MLflow-compatible tracking API of a workspace:
// the metrics, parameters and tags a run (a job) logs, each record one
// change, and the run and metric history read back.
//
// It may import the root package, the kernel and jobs (a run is a job); it
// must not import a backend, httpapi, cli or server.
package tracking
