// Package httpapi is Tandem's REST API: the server (thin handlers over the
// services of package tandem) and the Go client that implements the same
// service interfaces, so the CLI talks to an interface either way.
//
// Routes and their JSON shapes are documented in docs/api.md. Every error
// response is {"code", "message", "target"}, with the status taken from the
// one table in errors.go. This package holds no business rules.
//
// The MLflow-compatible API's server side is the subpackage mlflowapi,
// which imports only the root package; Server mounts it through its MLflow
// field, on the same mux. The Go client's MLflow calls (client_mlflow.go)
// are here.
package httpapi
