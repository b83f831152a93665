package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tandemml/tandem"
)

var _ tandem.RunService = (*Client)(nil)

// LogRun stores one record of metrics, params and tags on a job's run.
func (c *Client) LogRun(ctx context.Context, ws, job string, l *tandem.RunLog) error {
	return c.call(ctx, http.MethodPost, jobPath(ws, job, "run", "log"), nil, l, nil)
}

// GetRun returns a job with its latest metrics, params and tags.
func (c *Client) GetRun(ctx context.Context, ws, job string) (*tandem.Run, error) {
	var run tandem.Run
	return &run, c.call(ctx, http.MethodGet, jobPath(ws, job, "run"), nil, nil, &run)
}

// MetricHistory returns the points of one metric, or of all when key is "".
func (c *Client) MetricHistory(ctx context.Context, ws, job, key string) ([]tandem.Metric, error) {
	var q url.Values
	if key != "" {
		q = url.Values{"metric": {key}}
	}
	var out list[tandem.Metric]
	return out.Value, c.call(ctx, http.MethodGet, jobPath(ws, job, "metrics"), q, nil, &out)
}

// ListJobFiles returns a job's stored files.
func (c *Client) ListJobFiles(ctx context.Context, ws, job string) ([]tandem.JobFile, error) {
	var out list[tandem.JobFile]
	return out.Value, c.call(ctx, http.MethodGet, jobPath(ws, job, "files"), nil, nil, &out)
}

// OpenJobFile returns a reader over one stored file of a job that fails
// with Corrupt unless the bytes match the digest the server sends.
func (c *Client) OpenJobFile(ctx context.Context, ws, job, p string) (*tandem.JobFile, io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: jobPath(ws, job, "files") + "/" + escapePath(p)})
	if err != nil {
		return nil, nil, err
	}
	size, _ := strconv.ParseInt(resp.Header.Get(headerSize), 10, 64)
	f := &tandem.JobFile{Path: p, SHA256: resp.Header.Get(headerSHA256), Size: size}
	return f, verifiedDownload(resp.Body, f.SHA256, size, p), nil
}
