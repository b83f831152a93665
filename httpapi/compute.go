package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

func (s *Server) computeRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/quota", s.handleRegionQuota)
	v1("GET /v1/workspaces/{ws}/computes", s.handleListComputes)
	v1("POST /v1/workspaces/{ws}/computes", s.handleCreateCompute)
	v1("GET /v1/workspaces/{ws}/computes/{name}", s.handleFindCompute)
	v1("DELETE /v1/workspaces/{ws}/computes/{name}", s.handleDeleteCompute)
	v1("PATCH /v1/workspaces/{ws}/computes/{name}", s.handleUpdateCompute)
}

func (s *Server) handleRegionQuota(w http.ResponseWriter, r *http.Request) error {
	q, err := s.Computes.RegionQuota(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, q)
	return nil
}

func (s *Server) handleListComputes(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Computes.ListComputes(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreateCompute(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Spec map[string]any `json:"spec"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	c, err := s.Computes.CreateCompute(r.Context(), r.PathValue("ws"), req.Spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) handleFindCompute(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Computes.FindCompute(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleDeleteCompute(w http.ResponseWriter, r *http.Request) error {
	if err := s.Computes.DeleteCompute(r.Context(), r.PathValue("ws"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleUpdateCompute(w http.ResponseWriter, r *http.Request) error {
	var u tandem.ComputeUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	c, err := s.Computes.UpdateCompute(r.Context(), r.PathValue("ws"), r.PathValue("name"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

var _ tandem.ComputeService = (*Client)(nil)

func (c *Client) UpdateCompute(ctx context.Context, ws, name string, u tandem.ComputeUpdate) (*tandem.Compute, error) {
	var out tandem.Compute
	return &out, c.call(ctx, http.MethodPatch, wsPath(ws, "computes", url.PathEscape(name)), nil, u, &out)
}

func (c *Client) CreateCompute(ctx context.Context, ws string, spec map[string]any) (*tandem.Compute, error) {
	var out tandem.Compute
	return &out, c.call(ctx, http.MethodPost, wsPath(ws, "computes"), nil, map[string]any{"spec": spec}, &out)
}

func (c *Client) FindCompute(ctx context.Context, ws, name string) (*tandem.Compute, error) {
	var out tandem.Compute
	return &out, c.call(ctx, http.MethodGet, wsPath(ws, "computes", url.PathEscape(name)), nil, nil, &out)
}

func (c *Client) ListComputes(ctx context.Context, ws string) ([]*tandem.Compute, error) {
	var out list[*tandem.Compute]
	return out.Value, c.call(ctx, http.MethodGet, wsPath(ws, "computes"), nil, nil, &out)
}

func (c *Client) DeleteCompute(ctx context.Context, ws, name string) error {
	return c.call(ctx, http.MethodDelete, wsPath(ws, "computes", url.PathEscape(name)), nil, nil, nil)
}

func (c *Client) RegionQuota(ctx context.Context) (*tandem.Quota, error) {
	var out tandem.Quota
	return &out, c.call(ctx, http.MethodGet, "/v1/quota", nil, nil, &out)
}
