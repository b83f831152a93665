package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tandemml/tandem"
)

// maxJSONBody bounds request bodies that carry JSON documents.
const maxJSONBody = 1 << 20

// Server serves the REST API over the services it is given.
type Server struct {
	Workspaces tandem.WorkspaceService
	Tokens     tandem.TokenService
	Notebooks  tandem.NotebookService
	Secrets    tandem.SecretService
	Assets     tandem.AssetService
	Jobs       tandem.JobService
	Runs       tandem.RunService // job tracking and files
	// Endpoint is the URL the server advertises (a workspace's MLflow
	// tracking URI is computed from it); "" if unknown.
	Endpoint string
	// MLflow serves the MLflow-compatible API (package mlflowapi) on the
	// server's mux, behind its logging, metrics and panic recovery; nil:
	// not served.
	MLflow      interface{ Routes(*http.ServeMux) }
	Datastores  tandem.DatastoreService
	Computes    tandem.ComputeService
	Agents      tandem.AgentService
	Pairs       tandem.PairService
	Failovers   tandem.FailoverService
	Divergences tandem.DivergenceService
	Peers       tandem.PeerService
	Replication tandem.ReplicationSource
	// Snapshots serves hot/cold secondaries; nil: not served.
	Snapshots    tandem.SnapshotSource
	FailoverPeer tandem.FailoverPeer
	Digests      tandem.DigestService
	Archives     tandem.ArchiveService
	Auth         tandem.Authenticator
	Info         func(ctx context.Context) (*tandem.RegionInfo, error)
	// Ready reports whether the region's dependencies are reachable.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Gatherer serves /metrics; Registerer receives the API's own metrics.
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer

	mux      *http.ServeMux
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Handler returns the API's root handler. Call it once, after setting the
// fields.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tandem_http_requests_total",
		Help: "API requests by route, method and status code.",
	}, []string{"route", "method", "status"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tandem_http_request_duration_seconds",
		Help:    "API request latency by route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	if s.Registerer != nil {
		s.Registerer.MustRegister(s.requests, s.duration)
	}

	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", s.handleReady)
	if s.Gatherer != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	}
	v1 := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		m.Handle(pattern, s.authenticated(h))
	}
	v1("GET /v1/info", s.handleInfo)
	v1("GET /v1/workspaces", s.handleListWorkspaces)
	v1("POST /v1/workspaces", s.handleCreateWorkspace)
	v1("GET /v1/workspaces/{ws}", s.handleFindWorkspace)
	v1("PATCH /v1/workspaces/{ws}", s.handleUpdateWorkspace)
	v1("DELETE /v1/workspaces/{ws}", s.handleDeleteWorkspace)
	v1("POST /v1/workspaces/{ws}/recover", s.handleRecoverWorkspace)
	v1("POST /v1/workspaces/{ws}/purge", s.handlePurgeWorkspace)
	v1("GET /v1/workspaces/{ws}/notebooks", s.handleListNotebooks)
	v1("GET /v1/workspaces/{ws}/notebooks/{path...}", s.handleDownloadNotebook)
	v1("PUT /v1/workspaces/{ws}/notebooks/{path...}", s.handleUploadNotebook)
	v1("GET /v1/tokens", s.handleListTokens)
	v1("POST /v1/tokens", s.handleCreateToken)
	v1("DELETE /v1/tokens/{name}", s.handleRevokeToken)
	s.assetRoutes(v1)
	s.jobRoutes(v1)
	s.runRoutes(v1)
	if s.MLflow != nil {
		s.MLflow.Routes(m)
	}
	s.datastoreRoutes(v1)
	s.computeRoutes(v1)
	s.agentRoutes(v1)
	s.pairRoutes(v1)
	s.failoverRoutes(v1)
	s.snapshotRoutes(v1)
	s.secretRoutes(v1)
	s.digestRoutes(v1)
	s.archiveRoutes(v1)
	s.mux = m
	return http.HandlerFunc(s.serveHTTP)
}

// serveHTTP adds logging, metrics, panic recovery and JSON errors for
// unknown routes around the mux.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	_, route := s.mux.Handler(r)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.Error("panic in handler", "route", route, "panic", v)
			if !rec.wrote {
				writeError(rec, r, s.Logger, fmt.Errorf("panic: %v", v))
			}
		}
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.Logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	}()
	if route == "" {
		writeError(rec, r, s.Logger, s.unmatched(r))
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// unmatched explains why no route matched: the path is unknown, or it is
// known for other methods.
func (s *Server) unmatched(r *http.Request) error {
	var allowed []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		return tandem.Errorf(tandem.EMethod, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	return tandem.Errorf(tandem.ENotFound, "no API route %s %s", r.Method, r.URL.Path)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// authenticated requires a valid bearer token and puts its principal into
// the request's context.
func (s *Server) authenticated(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := bearer(r)
		if !ok {
			writeError(w, r, s.Logger, tandem.Errorf(tandem.EUnauthorized,
				"missing bearer token: send the header \"Authorization: Bearer <token>\""))
			return
		}
		t, err := s.Auth.Authenticate(r.Context(), secret)
		if err != nil {
			writeError(w, r, s.Logger, err)
			return
		}
		r = r.WithContext(tandem.NewContextWithPrincipal(r.Context(), t))
		if err := h(w, r); err != nil {
			writeError(w, r, s.Logger, err)
		}
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", false
	}
	return strings.TrimSpace(secret), true
}

// decode reads a JSON body into v, refusing unknown fields and oversized
// bodies with errors that say what is wrong.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return tandem.Errorf(tandem.EInvalid, "request body is empty; send a JSON object")
		}
		return tandem.Errorf(tandem.EInvalid, "request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return tandem.Errorf(tandem.EInvalid, "request body holds more than one JSON value")
	}
	return nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, tandem.Errorf(tandem.EInvalid, "query parameter %s=%q is not a boolean", name, v).WithTarget(name)
	}
	return b, nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, &tandem.Error{Code: tandem.EUnavailable, Message: tandem.ErrorMessage(err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) error {
	info, err := s.Info(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}
