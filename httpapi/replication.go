package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tandemml/tandem"
)

// headerRegion names the calling region on peer-to-peer requests.
const headerRegion = "X-Tandem-Region"

// maxLongPoll bounds how long a changes request may wait.
const maxLongPoll = 30 * time.Second

func (s *Server) pairRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/regions", s.handleListRegions)
	v1("POST /v1/regions", s.handleAddRegion)
	v1("GET /v1/pairs", s.handleListPairs)
	v1("POST /v1/pairs", s.handleCreatePair)
	v1("GET /v1/pairs/{ws}", s.handlePairStatus)
	v1("DELETE /v1/pairs/{ws}", s.handleDeletePair)
	v1("GET /v1/pairs/{ws}/conflicts", s.handleListConflicts)

	// Peer-facing: only for regions this one knows (the caller's admin
	// token of this region, and its name in X-Tandem-Region).
	v1("POST /v1/replication/pairs", s.peer(s.handleAcceptPair))
	v1("DELETE /v1/replication/pairs/{id}", s.peer(s.handleDropPair))
	v1("GET /v1/replication/workspaces/{id}/changes", s.peer(s.handleChanges))
	v1("GET /v1/replication/workspaces/{id}/blobs/{key...}", s.peer(s.handleReplicaBlob))
}

// peer admits a request only from a known region holding an admin token.
func (s *Server) peer(h func(http.ResponseWriter, *http.Request, string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		from := r.Header.Get(headerRegion)
		if p := tandem.PrincipalFromContext(r.Context()); p == nil || !p.Admin() {
			return tandem.Errorf(tandem.EForbidden, "replication requests need a region admin token")
		}
		if err := s.Peers.KnownPeer(r.Context(), from); err != nil {
			return err
		}
		return h(w, r, from)
	}
}

type addRegionRequest struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	Token    string `json:"token"`
}

func (s *Server) handleListRegions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Pairs.ListRegions(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleAddRegion(w http.ResponseWriter, r *http.Request) error {
	var req addRegionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.Pairs.AddRegion(r.Context(), req.Name, req.Endpoint, req.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) handleListPairs(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Pairs.ListPairs(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleCreatePair(w http.ResponseWriter, r *http.Request) error {
	var req tandem.PairRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.Pairs.CreatePair(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) handlePairStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Pairs.PairStatus(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) handleDeletePair(w http.ResponseWriter, r *http.Request) error {
	if err := s.Pairs.DeletePair(r.Context(), r.PathValue("ws")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleListConflicts(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Pairs.ListConflicts(r.Context(), r.PathValue("ws"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	return nil
}

func (s *Server) handleAcceptPair(w http.ResponseWriter, r *http.Request, from string) error {
	var p tandem.Pair
	if err := decode(r, &p); err != nil {
		return err
	}
	if err := s.Peers.AcceptPair(r.Context(), from, &p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) handleDropPair(w http.ResponseWriter, r *http.Request, from string) error {
	if err := s.Peers.DropPair(r.Context(), from, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleChanges(w http.ResponseWriter, r *http.Request, from string) error {
	q := r.URL.Query()
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	if err != nil && q.Get("after") != "" {
		return tandem.Errorf(tandem.EInvalid, "after=%q is not a sequence number", q.Get("after"))
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	wait, err := time.ParseDuration(q.Get("wait"))
	if err != nil {
		wait = 0
	}
	var inline tandem.InlineLimits
	for name, v := range map[string]*int64{"inline_max": &inline.MaxBlob, "inline_total": &inline.MaxTotal} {
		if q.Has(name) {
			if *v, err = strconv.ParseInt(q.Get(name), 10, 64); err != nil || *v < 0 {
				return tandem.Errorf(tandem.EInvalid, "%s=%q is not a byte count", name, q.Get(name))
			}
		}
	}
	batch, err := s.Replication.Changes(r.Context(), from, r.PathValue("id"), after, limit, min(wait, maxLongPoll))
	if err != nil {
		return err
	}
	if batch.Changes == nil {
		batch.Changes = []*tandem.Change{}
	}
	if batch.Blobs, err = s.Replication.InlineBlobs(r.Context(), from, r.PathValue("id"), batch.Changes, inline); err != nil {
		return err
	}
	// Compact, not indented: entry bodies must reach the peer byte for
	// byte as they are stored here.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return json.NewEncoder(w).Encode(batch)
}

func (s *Server) handleReplicaBlob(w http.ResponseWriter, r *http.Request, from string) error {
	sha := r.URL.Query().Get("sha256")
	rc, err := s.Replication.OpenReplicaBlob(r.Context(), from, r.PathValue("id"), r.PathValue("key"), sha)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerSHA256, sha)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.Logger.Error("replica blob stream failed", "key", r.PathValue("key"), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// --- the client side ---

var _ tandem.PairService = (*Client)(nil)

func (c *Client) AddRegion(ctx context.Context, name, endpoint, token string) (*tandem.Peer, error) {
	var p tandem.Peer
	return &p, c.call(ctx, http.MethodPost, "/v1/regions", nil, addRegionRequest{name, endpoint, token}, &p)
}

func (c *Client) ListRegions(ctx context.Context) ([]*tandem.Peer, error) {
	var out list[*tandem.Peer]
	return out.Value, c.call(ctx, http.MethodGet, "/v1/regions", nil, nil, &out)
}

func (c *Client) CreatePair(ctx context.Context, req tandem.PairRequest) (*tandem.Pair, error) {
	var p tandem.Pair
	return &p, c.call(ctx, http.MethodPost, "/v1/pairs", nil, req, &p)
}

func (c *Client) ListPairs(ctx context.Context) ([]*tandem.Pair, error) {
	var out list[*tandem.Pair]
	return out.Value, c.call(ctx, http.MethodGet, "/v1/pairs", nil, nil, &out)
}

func (c *Client) PairStatus(ctx context.Context, ws string) (*tandem.PairStatus, error) {
	var st tandem.PairStatus
	return &st, c.call(ctx, http.MethodGet, "/v1/pairs/"+url.PathEscape(ws), nil, nil, &st)
}

func (c *Client) DeletePair(ctx context.Context, ws string) error {
	return c.call(ctx, http.MethodDelete, "/v1/pairs/"+url.PathEscape(ws), nil, nil, nil)
}

func (c *Client) ListConflicts(ctx context.Context, ws string) ([]*tandem.Conflict, error) {
	var out list[*tandem.Conflict]
	return out.Value, c.call(ctx, http.MethodGet, "/v1/pairs/"+url.PathEscape(ws)+"/conflicts", nil, nil, &out)
}

// PeerClient returns a client for calling region peer as region from.
func PeerClient(from string, peer *tandem.Peer, token string) tandem.PeerClient {
	c := NewClient([]string{peer.Endpoint}, token)
	c.Region = from
	return c
}

var _ tandem.PeerDialer = PeerClient

func (c *Client) AcceptPair(ctx context.Context, p *tandem.Pair) error {
	return c.call(ctx, http.MethodPost, "/v1/replication/pairs", nil, p, nil)
}

func (c *Client) DropPair(ctx context.Context, workspaceID string) error {
	return c.call(ctx, http.MethodDelete, "/v1/replication/pairs/"+url.PathEscape(workspaceID), nil, nil, nil)
}

func (c *Client) Changes(ctx context.Context, workspaceID string, after int64, limit int, wait time.Duration) (*tandem.ChangeBatch, error) {
	return c.ChangesInline(ctx, workspaceID, after, limit, wait, tandem.InlineLimits{})
}

func (c *Client) ChangesInline(ctx context.Context, workspaceID string, after int64, limit int, wait time.Duration, inline tandem.InlineLimits) (*tandem.ChangeBatch, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(limit)}, "wait": {wait.String()}}
	if inline.MaxBlob > 0 && inline.MaxTotal > 0 {
		q.Set("inline_max", strconv.FormatInt(inline.MaxBlob, 10))
		q.Set("inline_total", strconv.FormatInt(inline.MaxTotal, 10))
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/replication/workspaces/" + url.PathEscape(workspaceID) + "/changes", query: q})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var b tandem.ChangeBatch
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "read changes: %v", err)
	}
	return &b, nil
}

func (c *Client) OpenBlob(ctx context.Context, workspaceID, key, sha string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{
		method: http.MethodGet,
		path:   "/v1/replication/workspaces/" + url.PathEscape(workspaceID) + "/blobs/" + escapePath(key),
		query:  url.Values{"sha256": {sha}},
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
