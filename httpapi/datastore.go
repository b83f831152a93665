package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

func (s *Server) datastoreRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/workspaces/{ws}/datastores", s.handleListDatastores)
	v1("POST /v1/workspaces/{ws}/datastores", s.handleCreateDatastore)
	v1("GET /v1/workspaces/{ws}/datastores/{name}", s.handleFindDatastore)
	v1("DELETE /v1/workspaces/{ws}/datastores/{name}", s.handleDeleteDatastore)
}

func (s *Server) handleListDatastores(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Datastores.ListDatastores(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreateDatastore(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Spec map[string]any `json:"spec"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ds, err := s.Datastores.CreateDatastore(r.Context(), r.PathValue("ws"), req.Spec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ds)
	return nil
}

func (s *Server) handleFindDatastore(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.Datastores.FindDatastore(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleDeleteDatastore(w http.ResponseWriter, r *http.Request) error {
	if err := s.Datastores.DeleteDatastore(r.Context(), r.PathValue("ws"), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var _ tandem.DatastoreService = (*Client)(nil)

func (c *Client) CreateDatastore(ctx context.Context, ws string, spec map[string]any) (*tandem.Datastore, error) {
	var ds tandem.Datastore
	return &ds, c.call(ctx, http.MethodPost, wsPath(ws, "datastores"), nil, map[string]any{"spec": spec}, &ds)
}

func (c *Client) FindDatastore(ctx context.Context, ws, name string) (*tandem.Datastore, error) {
	var ds tandem.Datastore
	return &ds, c.call(ctx, http.MethodGet, wsPath(ws, "datastores", url.PathEscape(name)), nil, nil, &ds)
}

func (c *Client) ListDatastores(ctx context.Context, ws string) ([]*tandem.Datastore, error) {
	var out list[*tandem.Datastore]
	return out.Value, c.call(ctx, http.MethodGet, wsPath(ws, "datastores"), nil, nil, &out)
}

func (c *Client) DeleteDatastore(ctx context.Context, ws, name string) error {
	return c.call(ctx, http.MethodDelete, wsPath(ws, "datastores", url.PathEscape(name)), nil, nil, nil)
}
