package httpapi

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// runRoutes serve a job's tracking data and stored files under /v1 (the
// CLI's `job show`, `job metrics` and `job download`). The MLflow-shaped
// API is in mlflow.go.
func (s *Server) runRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/workspaces/{ws}/jobs/{name}/run", s.handleGetRun)
	v1("POST /v1/workspaces/{ws}/jobs/{name}/run/log", s.handleLogRun)
	v1("GET /v1/workspaces/{ws}/jobs/{name}/metrics", s.handleMetricHistory)
	v1("GET /v1/workspaces/{ws}/jobs/{name}/files", s.handleListJobFiles)
	v1("GET /v1/workspaces/{ws}/jobs/{name}/files/{path...}", s.handleJobFile)
}

func (s *Server) runService() (tandem.RunService, error) {
	if s.Runs == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server does not track runs")
	}
	return s.Runs, nil
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.runService()
	if err != nil {
		return err
	}
	run, err := svc.GetRun(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleLogRun(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.runService()
	if err != nil {
		return err
	}
	var l tandem.RunLog
	if err := decode(r, &l); err != nil {
		return err
	}
	if err := svc.LogRun(r.Context(), r.PathValue("ws"), r.PathValue("name"), &l); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMetricHistory(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.runService()
	if err != nil {
		return err
	}
	list, err := svc.MetricHistory(r.Context(), r.PathValue("ws"), r.PathValue("name"), r.URL.Query().Get("metric"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleListJobFiles(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	list, err := svc.ListJobFiles(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleJobFile(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	f, rc, err := svc.OpenJobFile(r.Context(), r.PathValue("ws"), r.PathValue("name"), r.PathValue("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamBlob(w, r, rc, f.SHA256, f.Size, f.Path)
	return nil
}
