package httpapi

import (
	"context"
	"errors"
	"io"

	"github.com/tandemml/tandem"
)

var errTODO = errors.New("not implemented yet")

// Client talks to a Tandem server over HTTP. It implements
// tandem.WorkspaceService, tandem.TokenService and tandem.NotebookService.
type Client struct {
	Endpoints []string
	Token     string
}

// NewClient returns a client for the given endpoints (in preference order).
func NewClient(endpoints []string, token string) *Client {
	return &Client{Endpoints: endpoints, Token: token}
}

var (
	_ tandem.WorkspaceService = (*Client)(nil)
	_ tandem.TokenService     = (*Client)(nil)
	_ tandem.NotebookService  = (*Client)(nil)
)

// Info returns the region the server belongs to. It needs no token.
func (c *Client) Info(ctx context.Context) (*tandem.RegionInfo, error) { return nil, errTODO }

func (c *Client) FindWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	return nil, errTODO
}
func (c *Client) ListWorkspaces(ctx context.Context, f tandem.WorkspaceFilter) ([]*tandem.Workspace, error) {
	return nil, errTODO
}
func (c *Client) CreateWorkspace(ctx context.Context, w *tandem.Workspace) error { return errTODO }
func (c *Client) UpdateWorkspace(ctx context.Context, name string, u tandem.WorkspaceUpdate) (*tandem.Workspace, error) {
	return nil, errTODO
}
func (c *Client) DeleteWorkspace(ctx context.Context, name string, o tandem.DeleteOptions) (*tandem.Workspace, error) {
	return nil, errTODO
}
func (c *Client) RecoverWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	return nil, errTODO
}
func (c *Client) PurgeWorkspace(ctx context.Context, name string, o tandem.PurgeOptions) error {
	return errTODO
}
func (c *Client) CreateToken(ctx context.Context, name, workspace string) (*tandem.Token, string, error) {
	return nil, "", errTODO
}
func (c *Client) ListTokens(ctx context.Context) ([]*tandem.Token, error) { return nil, errTODO }
func (c *Client) RevokeToken(ctx context.Context, name string) error      { return errTODO }
func (c *Client) UploadNotebook(ctx context.Context, ws, path string, r io.Reader) (*tandem.Notebook, error) {
	return nil, errTODO
}
func (c *Client) ListNotebooks(ctx context.Context, ws string) ([]*tandem.Notebook, error) {
	return nil, errTODO
}
func (c *Client) OpenNotebook(ctx context.Context, ws, path string) (*tandem.Notebook, io.ReadCloser, error) {
	return nil, nil, errTODO
}
