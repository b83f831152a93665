package httpapi

import (
	"io"
	"net/http"

	"github.com/tandemml/tandem"
)

func (s *Server) jobRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/workspaces/{ws}/jobs", s.handleListJobs)
	v1("POST /v1/workspaces/{ws}/jobs", s.handleCreateJob)
	v1("GET /v1/workspaces/{ws}/jobs/{name}", s.handleFindJob)
	v1("POST /v1/workspaces/{ws}/jobs/{name}/cancel", s.handleCancelJob)
	v1("GET /v1/workspaces/{ws}/jobs/{name}/logs", s.handleJobLog)
}

func (s *Server) jobService() (tandem.JobService, error) {
	if s.Jobs == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server does not run jobs")
	}
	return s.Jobs, nil
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	list, err := svc.ListJobs(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreateJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	var req tandem.JobRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	j, err := svc.CreateJob(r.Context(), r.PathValue("ws"), &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (s *Server) handleFindJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	j, err := svc.FindJob(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	j, err := svc.CancelJob(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) handleJobLog(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.jobService()
	if err != nil {
		return err
	}
	rc, err := svc.OpenJobLog(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error("job log download failed", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}
