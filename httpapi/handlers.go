package httpapi

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// createWorkspaceRequest is the body of POST /v1/workspaces.
type createWorkspaceRequest struct {
	Name        string            `json:"name"`
	DisplayName string            `json:"display_name,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// createTokenRequest is the body of POST /v1/tokens.
type createTokenRequest struct {
	Name      string `json:"name"`
	Workspace string `json:"workspace,omitempty"`
}

// createTokenResponse carries the secret, shown this once.
type createTokenResponse struct {
	*tandem.Token
	Secret string `json:"token"`
}

func (s *Server) handleListWorkspaces(w http.ResponseWriter, r *http.Request) error {
	deleted, err := boolParam(r, "deleted")
	if err != nil {
		return err
	}
	list, err := s.Workspaces.ListWorkspaces(r.Context(), tandem.WorkspaceFilter{Deleted: deleted})
	if err != nil {
		return err
	}
	out := make([]*tandem.Workspace, len(list))
	for i, ws := range list {
		out[i] = s.withTrackingURI(ws)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// withTrackingURI returns a copy of ws with its MLflow tracking URI, which
// follows from the server's endpoint and is never stored.
func (s *Server) withTrackingURI(ws *tandem.Workspace) *tandem.Workspace {
	c := *ws
	c.MLflowTrackingURI = tandem.MLflowTrackingURI(s.Endpoint, ws.Name)
	return &c
}

func (s *Server) handleCreateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var req createWorkspaceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ws := &tandem.Workspace{Name: req.Name, DisplayName: req.DisplayName, Description: req.Description, Tags: req.Tags}
	if err := s.Workspaces.CreateWorkspace(r.Context(), ws); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.withTrackingURI(ws))
	return nil
}

func (s *Server) handleFindWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.Workspaces.FindWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withTrackingURI(ws))
	return nil
}

func (s *Server) handleUpdateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var upd tandem.WorkspaceUpdate
	if err := decode(r, &upd); err != nil {
		return err
	}
	ws, err := s.Workspaces.UpdateWorkspace(r.Context(), r.PathValue("ws"), upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withTrackingURI(ws))
	return nil
}

func (s *Server) handleDeleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	var opts tandem.DeleteOptions
	var err error
	if opts.Permanent, err = boolParam(r, "permanently_delete"); err != nil {
		return err
	}
	if opts.PurgeStorage, err = boolParam(r, "purge_storage"); err != nil {
		return err
	}
	ws, err := s.Workspaces.DeleteWorkspace(r.Context(), r.PathValue("ws"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withTrackingURI(ws))
	return nil
}

func (s *Server) handleRecoverWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.Workspaces.RecoverWorkspace(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.withTrackingURI(ws))
	return nil
}

func (s *Server) handlePurgeWorkspace(w http.ResponseWriter, r *http.Request) error {
	var opts tandem.PurgeOptions
	var err error
	if opts.Storage, err = boolParam(r, "purge_storage"); err != nil {
		return err
	}
	if err := s.Workspaces.PurgeWorkspace(r.Context(), r.PathValue("ws"), opts); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListNotebooks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Notebooks.ListNotebooks(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleUploadNotebook(w http.ResponseWriter, r *http.Request) error {
	nb, err := s.Notebooks.UploadNotebook(r.Context(), r.PathValue("ws"), r.PathValue("path"), r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nb)
	return nil
}

// Headers that carry a blob's recorded digest and size on downloads.
const (
	headerSHA256 = "X-Tandem-Sha256"
	headerSize   = "X-Tandem-Size"
)

func (s *Server) handleDownloadNotebook(w http.ResponseWriter, r *http.Request) error {
	nb, rc, err := s.Notebooks.OpenNotebook(r.Context(), r.PathValue("ws"), r.PathValue("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamBlob(w, r, rc, nb.SHA256, nb.Size, nb.Path)
	return nil
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Tokens.ListTokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, secret, err := s.Tokens.CreateToken(r.Context(), req.Name, req.Workspace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createTokenResponse{Token: t, Secret: secret})
	return nil
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.Tokens.RevokeToken(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nonNil turns a nil slice into an empty one so lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
