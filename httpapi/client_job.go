package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

var _ tandem.JobService = (*Client)(nil)

func jobPath(ws string, rest ...string) string {
	p := wsPath(ws, "jobs")
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

func (c *Client) CreateJob(ctx context.Context, ws string, req *tandem.JobRequest) (*tandem.Job, error) {
	var j tandem.Job
	return &j, c.call(ctx, http.MethodPost, jobPath(ws), nil, req, &j)
}

func (c *Client) FindJob(ctx context.Context, ws, name string) (*tandem.Job, error) {
	var j tandem.Job
	return &j, c.call(ctx, http.MethodGet, jobPath(ws, name), nil, nil, &j)
}

func (c *Client) ListJobs(ctx context.Context, ws string) ([]*tandem.Job, error) {
	var out list[*tandem.Job]
	return out.Value, c.call(ctx, http.MethodGet, jobPath(ws), nil, nil, &out)
}

func (c *Client) CancelJob(ctx context.Context, ws, name string) (*tandem.Job, error) {
	var j tandem.Job
	return &j, c.call(ctx, http.MethodPost, jobPath(ws, name, "cancel"), nil, nil, &j)
}

// OpenJobLog returns the job's log so far.
func (c *Client) OpenJobLog(ctx context.Context, ws, name string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: jobPath(ws, name, "logs")})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
