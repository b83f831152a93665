package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

var _ tandem.DigestService = (*Client)(nil)

func (s *Server) digestRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/workspaces/{ws}/digest", s.handleDigestWorkspace)
}

func (s *Server) handleDigestWorkspace(w http.ResponseWriter, r *http.Request) error {
	if s.Digests == nil {
		return tandem.Errorf(tandem.EUnavailable, "this server does not compute workspace digests")
	}
	var opts tandem.DigestOptions
	var err error
	if opts.VerifyBlobs, err = boolParam(r, "verify_blobs"); err != nil {
		return err
	}
	if opts.Content, err = boolParam(r, "content"); err != nil {
		return err
	}
	d, err := s.Digests.DigestWorkspace(r.Context(), r.PathValue("ws"), opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// DigestWorkspace asks the server for the digest of a workspace.
func (c *Client) DigestWorkspace(ctx context.Context, name string, opts tandem.DigestOptions) (*tandem.WorkspaceDigest, error) {
	q := url.Values{}
	if opts.VerifyBlobs {
		q.Set("verify_blobs", "true")
	}
	if opts.Content {
		q.Set("content", "true")
	}
	var d tandem.WorkspaceDigest
	if err := c.call(ctx, http.MethodGet, wsPath(name, "digest"), q, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
