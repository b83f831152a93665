package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// secretRoutes adds the routes of the workspace vault. A secret's value
// travels as the raw body of PUT .../secrets/{name} and of
// GET .../secrets/{name}/value, never inside JSON, so that any bytes work
// and no JSON answer ever holds one.
func (s *Server) secretRoutes(v1 func(pattern string, h func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/workspaces/{ws}/secrets", s.handleListSecrets)
	v1("GET /v1/workspaces/{ws}/secrets/{name}", s.handleFindSecret)
	v1("PUT /v1/workspaces/{ws}/secrets/{name}", s.handleSetSecret)
	v1("DELETE /v1/workspaces/{ws}/secrets/{name}", s.handleDeleteSecret)
	v1("GET /v1/workspaces/{ws}/secrets/{name}/value", s.handleGetSecretValue)
	v1("POST /v1/vault/rotate-key", s.handleRotateKey)
}

func (s *Server) secrets() (tandem.SecretService, error) {
	if s.Secrets == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server has no vault; secrets are unavailable")
	}
	return s.Secrets, nil
}

func (s *Server) handleListSecrets(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	list, err := svc.ListSecrets(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleFindSecret(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	sec, err := svc.FindSecret(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

// handleSetSecret reads the value from the raw body: at most
// tandem.MaxSecretValue bytes are accepted (one more is read, so that the
// service can refuse an oversized value with TooLarge).
func (s *Server) handleSetSecret(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	value, err := io.ReadAll(io.LimitReader(r.Body, tandem.MaxSecretValue+1))
	if err != nil {
		return tandem.Errorf(tandem.EInvalid, "read secret value: %v", err)
	}
	defer clear(value)
	sec, err := svc.SetSecret(r.Context(), r.PathValue("ws"), r.PathValue("name"), value)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if sec.Version == 1 {
		status = http.StatusCreated
	}
	writeJSON(w, status, sec)
	return nil
}

func (s *Server) handleDeleteSecret(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	if err := svc.DeleteSecret(r.Context(), r.PathValue("ws"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleGetSecretValue(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	value, err := svc.GetSecretValue(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	defer clear(value)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(value)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(value)
	return nil
}

func (s *Server) handleRotateKey(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.secrets()
	if err != nil {
		return err
	}
	rot, err := svc.RotateKey(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rot)
	return nil
}
