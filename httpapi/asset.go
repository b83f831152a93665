package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// assetResponse is the answer to a create: the version and whether this
// request created it (false: an identical version existed).
type assetResponse struct {
	*tandem.Asset
	Created bool `json:"created"`
}

func (s *Server) assetRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("HEAD /v1/workspaces/{ws}/staging/{sha256}", s.handleStagedBlob)
	v1("PUT /v1/workspaces/{ws}/staging/{sha256}", s.handleStageBlob)
	v1("GET /v1/workspaces/{ws}/assets/{kind}", s.handleListAssets)
	v1("POST /v1/workspaces/{ws}/assets/{kind}", s.handleCreateAsset)
	v1("GET /v1/workspaces/{ws}/assets/{kind}/{name}", s.handleFindAssetLabel)
	v1("POST /v1/workspaces/{ws}/assets/{kind}/{name}/archive", s.handleArchiveAsset)
	v1("GET /v1/workspaces/{ws}/assets/{kind}/{name}/versions/{version}", s.handleFindAsset)
	v1("PATCH /v1/workspaces/{ws}/assets/{kind}/{name}/versions/{version}", s.handleUpdateAsset)
	v1("GET /v1/workspaces/{ws}/assets/{kind}/{name}/versions/{version}/files/{path...}", s.handleAssetFile)
}

func assetKind(r *http.Request) (tandem.Kind, error) {
	k := tandem.Kind(r.PathValue("kind"))
	if !tandem.IsAssetKind(k) {
		return "", tandem.Errorf(tandem.ENotFound, "unknown asset kind %q; use data, model, environment or component", k)
	}
	return k, nil
}

func (s *Server) handleStagedBlob(w http.ResponseWriter, r *http.Request) error {
	ok, err := s.Assets.StagedBlob(r.Context(), r.PathValue("ws"), r.PathValue("sha256"))
	if err != nil {
		return err
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleStageBlob(w http.ResponseWriter, r *http.Request) error {
	want := tandem.BlobRef{SHA256: r.PathValue("sha256"), Size: -1}
	if r.ContentLength >= 0 {
		want.Size = r.ContentLength
	}
	ref, err := s.Assets.StageBlob(r.Context(), r.PathValue("ws"), want, r.Body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ref)
	return nil
}

func (s *Server) handleListAssets(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	archived, err := boolParam(r, "include_archived")
	if err != nil {
		return err
	}
	list, err := s.Assets.ListAssets(r.Context(), r.PathValue("ws"), tandem.AssetFilter{Kind: kind, Name: r.URL.Query().Get("name"), IncludeArchived: archived})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreateAsset(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	var req tandem.AssetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Kind == "" {
		req.Kind = kind
	} else if req.Kind != kind {
		return tandem.Errorf(tandem.EInvalid, "request kind %q does not match the route's %q", req.Kind, kind)
	}
	a, created, err := s.Assets.CreateAsset(r.Context(), r.PathValue("ws"), &req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, assetResponse{Asset: a, Created: created})
	return nil
}

func (s *Server) handleFindAssetLabel(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	a, err := s.Assets.FindAsset(r.Context(), r.PathValue("ws"), kind, r.PathValue("name"), "", r.URL.Query().Get("label"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleFindAsset(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	a, err := s.Assets.FindAsset(r.Context(), r.PathValue("ws"), kind, r.PathValue("name"), r.PathValue("version"), "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleUpdateAsset(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	var upd tandem.AssetUpdate
	if err := decode(r, &upd); err != nil {
		return err
	}
	a, err := s.Assets.UpdateAsset(r.Context(), r.PathValue("ws"), kind, r.PathValue("name"), r.PathValue("version"), upd)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) handleArchiveAsset(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	restore, err := boolParam(r, "restore")
	if err != nil {
		return err
	}
	if err := s.Assets.ArchiveAsset(r.Context(), r.PathValue("ws"), kind, r.PathValue("name"), r.URL.Query().Get("version"), !restore); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAssetFile(w http.ResponseWriter, r *http.Request) error {
	kind, err := assetKind(r)
	if err != nil {
		return err
	}
	f, rc, err := s.Assets.OpenAssetFile(r.Context(), r.PathValue("ws"), kind, r.PathValue("name"), r.PathValue("version"), r.PathValue("path"))
	if err != nil {
		return err
	}
	defer rc.Close()
	s.streamBlob(w, r, rc, f.SHA256, f.Size, f.Path)
	return nil
}

// streamBlob sends verified bytes with their digest headers; a failure
// after the status is sent cuts the connection so the client never takes
// a short or corrupt body as whole.
func (s *Server) streamBlob(w http.ResponseWriter, r *http.Request, rc io.Reader, sha string, size int64, what string) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set(headerSHA256, sha)
	w.Header().Set(headerSize, strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error("download failed", "path", r.URL.Path, "file", what, "err", err)
		panic(http.ErrAbortHandler)
	}
}
