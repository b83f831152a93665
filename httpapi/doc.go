// Package httpapi is Tandem's REST API: the server (thin handlers over the
// services of package tandem) and the Go client that implements the same
// service interfaces, so the CLI talks to an interface either way.
//
// Routes and their JSON shapes are documented in docs/api.md. Every error
// response is {"code", "message", "target"}, with the status taken from the
// one table in errors.go. This package holds no business rules.
package httpapi
