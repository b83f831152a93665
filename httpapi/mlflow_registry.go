package httpapi

import (
	"net/http"
	"strings"
)

// mlflowRegistryRoutes serves MLflow's model registry under each MLflow
// prefix, and the artifact proxy.
func (s *Server) mlflowRegistryRoutes(m *http.ServeMux) {
	for _, prefix := range mlflowPrefixes {
		for e, h := range s.mlflowRegistryHandlers() {
			method, rest, _ := strings.Cut(e, " ")
			m.Handle(method+" "+prefix+rest, s.mlflow(h))
		}
	}
	s.mlflowArtifactRoutes(m)
}

// mlflowRegistryHandlers are the model registry's MLflow endpoints,
// relative to an MLflow prefix.
func (s *Server) mlflowRegistryHandlers() map[string]func(w http.ResponseWriter, r *http.Request, ws string) error {
	return map[string]func(w http.ResponseWriter, r *http.Request, ws string) error{}
}
