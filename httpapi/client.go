package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/tandemml/tandem"
)

// Client talks to a Tandem server over HTTP. It implements
// tandem.WorkspaceService, tandem.TokenService and tandem.NotebookService,
// so the CLI works against an interface.
//
// Requests go to the first endpoint that answers: when a connection fails,
// the next endpoint is tried (requests whose body cannot be replayed, such
// as uploads, are not retried).
type Client struct {
	Endpoints []string // base URLs in preference order, e.g. http://127.0.0.1:7070
	Token     string   // bearer secret
	Region    string   // when set, the calling region, sent to peers in X-Tandem-Region
	// OnFallback is called when a request was answered by another endpoint
	// than the first (the first could not be reached); OnFollow when a
	// NotPrimary answer sent it to the primary it named.
	OnFallback func(first, used string)
	OnFollow   func(from, primary string)

	mu         sync.Mutex // guards Endpoints, which a NotPrimary answer reorders
	HTTPClient *http.Client
}

var (
	_ tandem.WorkspaceService = (*Client)(nil)
	_ tandem.TokenService     = (*Client)(nil)
	_ tandem.NotebookService  = (*Client)(nil)
)

// NewClient returns a client for the given endpoints (in preference order).
func NewClient(endpoints []string, token string) *Client {
	return &Client{Endpoints: endpoints, Token: token, HTTPClient: http.DefaultClient}
}

// request describes one API call.
type request struct {
	method string
	path   string // already escaped
	query  url.Values
	body   io.Reader // JSON or raw bytes; replayable when it is also an io.Seeker
	size   int64     // length of a streamed body, when known (> 0)
	ctype  string
	header http.Header // extra request headers

	followed bool // already retried at a primary named by NotPrimary
}

// do sends req and returns the response of the first endpoint that
// answered. Non-2xx answers become *tandem.Error.
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	endpoints := c.endpoints()
	if len(endpoints) == 0 {
		return nil, tandem.Errorf(tandem.EInvalid, "no endpoint configured: pass --endpoint, set TANDEM_ENDPOINT or list endpoints in config.json")
	}
	replay, _ := req.body.(io.ReadSeeker)
	var lastErr error
	for i, base := range endpoints {
		if i > 0 && req.body != nil && replay == nil {
			break
		}
		if replay != nil {
			if _, err := replay.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
		u := strings.TrimRight(base, "/") + req.path
		if len(req.query) > 0 {
			u += "?" + req.query.Encode()
		}
		hr, err := http.NewRequestWithContext(ctx, req.method, u, req.body)
		if err != nil {
			return nil, tandem.Errorf(tandem.EInvalid, "bad endpoint %q: %v", base, err)
		}
		if c.Token != "" {
			hr.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if c.Region != "" {
			hr.Header.Set(headerRegion, c.Region)
		}
		if req.ctype != "" {
			hr.Header.Set("Content-Type", req.ctype)
		}
		for k, v := range req.header {
			hr.Header[k] = v
		}
		if b, ok := req.body.(*bytes.Reader); ok {
			hr.ContentLength = b.Size()
		} else if req.size > 0 {
			hr.ContentLength = req.size
		}
		resp, err := c.httpClient().Do(hr)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = tandem.Errorf(tandem.EUnavailable, "cannot reach %s: %v", base, unwrapURLError(err))
			continue
		}
		if resp.StatusCode >= 300 {
			err := decodeError(resp)
			resp.Body.Close()
			if target, ok := c.follow(err, base, req, replay); ok {
				if replay != nil {
					if _, serr := replay.Seek(0, io.SeekStart); serr != nil {
						return nil, err
					}
				}
				saved := c.endpoints()
				c.preferEndpoint(target)
				resp, ferr := c.do(ctx, followed(req))
				if tandem.IsCode(ferr, tandem.EUnauthorized) {
					// A region-local token (a region admin's) is no good at
					// the primary: report the refusal, not the follow.
					c.mu.Lock()
					c.Endpoints = saved
					c.mu.Unlock()
					return nil, err
				}
				if ferr == nil && c.OnFollow != nil {
					c.OnFollow(base, target)
				}
				return resp, ferr
			}
			return nil, err
		}
		if i > 0 && c.OnFallback != nil {
			c.OnFallback(endpoints[0], base)
		}
		return resp, nil
	}
	return nil, lastErr
}

// follow decides whether a NotPrimary answer from base should be retried
// at the primary it names: once, for requests that can be sent again, and
// only to an endpoint other than base.
func (c *Client) follow(err error, base string, req request, replay io.ReadSeeker) (string, bool) {
	var e *tandem.Error
	if !errors.As(err, &e) || e.Code != tandem.ENotPrimary || e.Target == "" || req.followed {
		return "", false
	}
	if strings.TrimRight(e.Target, "/") == strings.TrimRight(base, "/") || (req.body != nil && replay == nil) {
		return "", false
	}
	return e.Target, true
}

// preferEndpoint puts target first, for this and the next calls.
func (c *Client) preferEndpoint(target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	eps := []string{target}
	for _, ep := range c.Endpoints {
		if strings.TrimRight(ep, "/") != strings.TrimRight(target, "/") {
			eps = append(eps, ep)
		}
	}
	c.Endpoints = eps
}

func followed(req request) request {
	req.followed = true
	return req
}

// endpoints returns the current endpoint order.
func (c *Client) endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.Endpoints...)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError turns an error response into *tandem.Error, falling back on
// the status when the body is not Tandem's JSON.
func decodeError(resp *http.Response) error {
	var e tandem.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(b, &e) == nil && e.Code != "" {
		return &e
	}
	var me mlflowError
	if json.Unmarshal(b, &me) == nil && me.ErrorCode != "" {
		return &tandem.Error{Code: fromMLflowCode(me.ErrorCode, resp.StatusCode), Message: me.Message}
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = resp.Status
	}
	return &tandem.Error{Code: codeOf(resp.StatusCode), Message: fmt.Sprintf("server answered %s: %s", resp.Status, msg)}
}

// call sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	req := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.body, req.ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return tandem.Errorf(tandem.EInternal, "decode %s %s answer: %v", method, path, err)
	}
	return nil
}

// callRaw sends req as it is and decodes a JSON answer into out.
func (c *Client) callRaw(ctx context.Context, req request, out any) error {
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return tandem.Errorf(tandem.EInternal, "decode %s %s answer: %v", req.method, req.path, err)
	}
	return nil
}

// jsonBody returns v as a replayable JSON body.
func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v) // options structs always encode
	return bytes.NewReader(b)
}

func wsPath(name string, rest ...string) string {
	p := "/v1/workspaces/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// escapePath escapes each segment of a slash-separated path. Dot segments
// are escaped too, so that they reach the server (which refuses them with a
// clear error) instead of being resolved away on the way.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			segs[i] = strings.ReplaceAll(s, ".", "%2E")
			continue
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

type list[T any] struct {
	Value []T `json:"value"`
}

// Info returns the region the server belongs to.
func (c *Client) Info(ctx context.Context) (*tandem.RegionInfo, error) {
	var info tandem.RegionInfo
	return &info, c.call(ctx, http.MethodGet, "/v1/info", nil, nil, &info)
}

func (c *Client) FindWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	var ws tandem.Workspace
	return &ws, c.call(ctx, http.MethodGet, wsPath(name), nil, nil, &ws)
}

func (c *Client) ListWorkspaces(ctx context.Context, f tandem.WorkspaceFilter) ([]*tandem.Workspace, error) {
	q := url.Values{}
	if f.Deleted {
		q.Set("deleted", "true")
	}
	var out list[*tandem.Workspace]
	return out.Value, c.call(ctx, http.MethodGet, "/v1/workspaces", q, nil, &out)
}

func (c *Client) CreateWorkspace(ctx context.Context, w *tandem.Workspace) error {
	in := createWorkspaceRequest{Name: w.Name, DisplayName: w.DisplayName, Description: w.Description, Tags: w.Tags}
	return c.call(ctx, http.MethodPost, "/v1/workspaces", nil, in, w)
}

func (c *Client) UpdateWorkspace(ctx context.Context, name string, u tandem.WorkspaceUpdate) (*tandem.Workspace, error) {
	var ws tandem.Workspace
	return &ws, c.call(ctx, http.MethodPatch, wsPath(name), nil, u, &ws)
}

func (c *Client) DeleteWorkspace(ctx context.Context, name string, o tandem.DeleteOptions) (*tandem.Workspace, error) {
	q := url.Values{}
	if o.Permanent {
		q.Set("permanently_delete", "true")
	}
	if o.PurgeStorage {
		q.Set("purge_storage", "true")
	}
	var ws tandem.Workspace
	return &ws, c.call(ctx, http.MethodDelete, wsPath(name), q, nil, &ws)
}

func (c *Client) RecoverWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	var ws tandem.Workspace
	return &ws, c.call(ctx, http.MethodPost, wsPath(name, "recover"), nil, nil, &ws)
}

func (c *Client) PurgeWorkspace(ctx context.Context, name string, o tandem.PurgeOptions) error {
	q := url.Values{}
	if o.Storage {
		q.Set("purge_storage", "true")
	}
	return c.call(ctx, http.MethodPost, wsPath(name, "purge"), q, nil, nil)
}

func (c *Client) CreateToken(ctx context.Context, name, workspace string) (*tandem.Token, string, error) {
	var out createTokenResponse
	out.Token = &tandem.Token{}
	if err := c.call(ctx, http.MethodPost, "/v1/tokens", nil, createTokenRequest{Name: name, Workspace: workspace}, &out); err != nil {
		return nil, "", err
	}
	return out.Token, out.Secret, nil
}

func (c *Client) ListTokens(ctx context.Context) ([]*tandem.Token, error) {
	var out list[*tandem.Token]
	return out.Value, c.call(ctx, http.MethodGet, "/v1/tokens", nil, nil, &out)
}

func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(name), nil, nil, nil)
}

// UploadNotebook streams r to the server and checks that the sha256 the
// server recorded is the one of the bytes sent.
func (c *Client) UploadNotebook(ctx context.Context, ws, path string, r io.Reader) (*tandem.Notebook, error) {
	body, sent := uploadBody(r, fmt.Sprintf("upload of %q", path))
	resp, err := c.do(ctx, request{
		method: http.MethodPut,
		path:   wsPath(ws, "notebooks", escapePath(path)),
		body:   body,
		ctype:  "application/octet-stream",
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var nb tandem.Notebook
	if err := json.NewDecoder(resp.Body).Decode(&nb); err != nil {
		return nil, tandem.Errorf(tandem.EInternal, "decode upload answer: %v", err)
	}
	if sent := sent.Ref().SHA256; nb.SHA256 != sent {
		return nil, tandem.Errorf(tandem.ECorrupt, "upload of %q: server recorded sha256 %s, sent %s", path, nb.SHA256, sent)
	}
	return &nb, nil
}

func (c *Client) ListNotebooks(ctx context.Context, ws string) ([]*tandem.Notebook, error) {
	var out list[*tandem.Notebook]
	return out.Value, c.call(ctx, http.MethodGet, wsPath(ws, "notebooks"), nil, nil, &out)
}

// OpenNotebook returns a reader that verifies the bytes against the sha256
// and size the server recorded: its final Read returns an ECorrupt error
// instead of io.EOF on a mismatch.
func (c *Client) OpenNotebook(ctx context.Context, ws, path string) (*tandem.Notebook, io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: wsPath(ws, "notebooks", escapePath(path))})
	if err != nil {
		return nil, nil, err
	}
	size, _ := strconv.ParseInt(resp.Header.Get(headerSize), 10, 64)
	nb := &tandem.Notebook{Path: path, SHA256: resp.Header.Get(headerSHA256), Size: size}
	return nb, verifiedDownload(resp.Body, nb.SHA256, size, path), nil
}

// verifiedDownload returns body verified against sha and size
// (tandem.VerifyReader): its final Read fails with ECorrupt unless the bytes
// match, and a body cut short fails with EUnavailable.
func verifiedDownload(body io.ReadCloser, sha string, size int64, path string) io.ReadCloser {
	want := tandem.BlobRef{SHA256: sha, Size: size}
	return tandem.VerifyReadCloser(body, want, fmt.Sprintf("download of %q", path)).InterruptedAs(tandem.EUnavailable)
}

// uploadBody returns the body that sends r and the reader that hashes what
// was sent (tandem.HashReader). A seekable r gives a seekable body, which
// can be sent again (to a primary a NotPrimary names) and is hashed over.
func uploadBody(r io.Reader, what string) (io.Reader, *tandem.VerifyingReader) {
	sent := tandem.HashReader(r, what)
	if rs, ok := sent.ReadSeeker(); ok {
		return rs, sent
	}
	return sent, sent
}
