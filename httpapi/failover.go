package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

func (s *Server) failoverRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("POST /v1/pairs/{ws}/failover", s.handleFailover)
	v1("GET /v1/pairs/{ws}/history", s.handleHistory)
	v1("GET /v1/pairs/{ws}/divergences", s.handleListDivergences)
	v1("GET /v1/pairs/{ws}/divergences/{id}", s.handleFindDivergence)
	v1("DELETE /v1/pairs/{ws}/divergences/{id}", s.handleDiscardDivergence)
	v1("POST /v1/pairs/{ws}/divergences/{id}/apply", s.handleApplyDivergence)
	v1("POST /v1/replication/workspaces/{id}/reapply", s.peer(s.handleReapply))

	v1("GET /v1/replication/pairs/{id}", s.peer(s.handlePeerPair))
	v1("POST /v1/replication/pairs/{id}/fence", s.peer(s.handleFence))
	v1("POST /v1/replication/pairs/{id}/epoch", s.peer(s.handleNoticeEpoch))
	v1("POST /v1/replication/pairs/{id}/failover", s.peer(s.handleForwardedFailover))
}

func (s *Server) handleFailover(w http.ResponseWriter, r *http.Request) error {
	var opts tandem.FailoverOptions
	if err := decode(r, &opts); err != nil {
		return err
	}
	rec, err := s.Failovers.Failover(r.Context(), r.PathValue("ws"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Failovers.History(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleListDivergences(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Divergences.ListDivergences(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleFindDivergence(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Divergences.FindDivergence(r.Context(), r.PathValue("ws"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) handleDiscardDivergence(w http.ResponseWriter, r *http.Request) error {
	if err := s.Divergences.DiscardDivergence(r.Context(), r.PathValue("ws"), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleFence(w http.ResponseWriter, r *http.Request, from string) error {
	fenced, err := boolParam(r, "fenced")
	if err != nil {
		return err
	}
	res, err := s.FailoverPeer.Fence(r.Context(), from, r.PathValue("id"), fenced)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleNoticeEpoch(w http.ResponseWriter, r *http.Request, from string) error {
	var n tandem.EpochNotice
	if err := decode(r, &n); err != nil {
		return err
	}
	if err := s.FailoverPeer.NoticeEpoch(r.Context(), from, r.PathValue("id"), n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleForwardedFailover(w http.ResponseWriter, r *http.Request, from string) error {
	var opts tandem.FailoverOptions
	if err := decode(r, &opts); err != nil {
		return err
	}
	rec, err := s.FailoverPeer.ForwardedFailover(r.Context(), from, r.PathValue("id"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// --- client ---

var _ tandem.DivergenceService = (*Client)(nil)

func pairPath(ws string, rest ...string) string {
	p := "/v1/pairs/" + url.PathEscape(ws)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func (c *Client) Failover(ctx context.Context, ws string, opts tandem.FailoverOptions) (*tandem.FailoverRecord, error) {
	var rec tandem.FailoverRecord
	return &rec, c.call(ctx, http.MethodPost, pairPath(ws, "failover"), nil, opts, &rec)
}

func (c *Client) History(ctx context.Context, ws string) ([]*tandem.FailoverRecord, error) {
	var out list[*tandem.FailoverRecord]
	return out.Value, c.call(ctx, http.MethodGet, pairPath(ws, "history"), nil, nil, &out)
}

func (c *Client) ListDivergences(ctx context.Context, ws string) ([]*tandem.Divergence, error) {
	var out list[*tandem.Divergence]
	return out.Value, c.call(ctx, http.MethodGet, pairPath(ws, "divergences"), nil, nil, &out)
}

func (c *Client) FindDivergence(ctx context.Context, ws, id string) (*tandem.Divergence, error) {
	var d tandem.Divergence
	return &d, c.call(ctx, http.MethodGet, pairPath(ws, "divergences", id), nil, nil, &d)
}

func (c *Client) DiscardDivergence(ctx context.Context, ws, id string) error {
	return c.call(ctx, http.MethodDelete, pairPath(ws, "divergences", id), nil, nil, nil)
}

func (c *Client) Fence(ctx context.Context, workspaceID string, fenced bool) (*tandem.FenceResult, error) {
	var res tandem.FenceResult
	q := url.Values{}
	if fenced {
		q.Set("fenced", "true")
	}
	return &res, c.call(ctx, http.MethodPost, "/v1/replication/pairs/"+url.PathEscape(workspaceID)+"/fence", q, nil, &res)
}

func (c *Client) NoticeEpoch(ctx context.Context, workspaceID string, n tandem.EpochNotice) error {
	return c.call(ctx, http.MethodPost, "/v1/replication/pairs/"+url.PathEscape(workspaceID)+"/epoch", nil, n, nil)
}

func (c *Client) ForwardFailover(ctx context.Context, workspaceID string, opts tandem.FailoverOptions) (*tandem.FailoverRecord, error) {
	var rec tandem.FailoverRecord
	return &rec, c.call(ctx, http.MethodPost, "/v1/replication/pairs/"+url.PathEscape(workspaceID)+"/failover", nil, opts, &rec)
}

func (s *Server) handleApplyDivergence(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Seqs []int64 `json:"seqs"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := s.Divergences.ApplyDivergence(r.Context(), r.PathValue("ws"), r.PathValue("id"), req.Seqs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) handleReapply(w http.ResponseWriter, r *http.Request, from string) error {
	var req tandem.ReapplyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.FailoverPeer.Reapply(r.Context(), from, r.PathValue("id"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (c *Client) ApplyDivergence(ctx context.Context, ws, id string, seqs []int64) (*tandem.Divergence, error) {
	var d tandem.Divergence
	return &d, c.call(ctx, http.MethodPost, pairPath(ws, "divergences", id, "apply"), nil, map[string]any{"seqs": seqs}, &d)
}

func (c *Client) Reapply(ctx context.Context, workspaceID string, req tandem.ReapplyRequest) error {
	return c.call(ctx, http.MethodPost, "/v1/replication/workspaces/"+url.PathEscape(workspaceID)+"/reapply", nil, req, nil)
}

func (s *Server) handlePeerPair(w http.ResponseWriter, r *http.Request, from string) error {
	p, err := s.FailoverPeer.PeerPair(r.Context(), from, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (c *Client) PeerPair(ctx context.Context, workspaceID string) (*tandem.Pair, error) {
	var p tandem.Pair
	return &p, c.call(ctx, http.MethodGet, "/v1/replication/pairs/"+url.PathEscape(workspaceID), nil, nil, &p)
}
