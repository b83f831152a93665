package mlflowapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
)

// Handler serves the MLflow-compatible API over the services it is given.
// Mount it with Routes on the mux of the REST API's server, so its routes
// share that server's logging, metrics and panic recovery.
type Handler struct {
	Auth        tandem.Authenticator
	Runs        tandem.RunService        // job tracking: logging to a run and reading it back
	Experiments tandem.ExperimentService // MLflow experiments
	MLflowRuns  tandem.MLflowRunService  // MLflow runs outside jobs, status, search
	Artifacts   tandem.ArtifactService   // MLflow's artifact proxy; nil: not served
	Registry    tandem.ModelRegistry     // MLflow's model registry; nil: not served
	Logger      *slog.Logger             // nil: slog.Default()
}

// maxJSONBody bounds request bodies that carry JSON documents, as in
// package httpapi.
const maxJSONBody = 1 << 20

// headerSHA256 carries a downloaded file's digest, as in package httpapi.
const headerSHA256 = "X-Tandem-Sha256"

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", false
	}
	return strings.TrimSpace(secret), true
}

// nonNil makes a nil list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
