package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tandemml/tandem"
)

var _ tandem.AssetService = (*Client)(nil)

func assetPath(ws string, kind tandem.Kind, rest ...string) string {
	p := wsPath(ws, "assets", url.PathEscape(string(kind)))
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// StagedBlob reports whether the server already holds bytes with this sha256.
func (c *Client) StagedBlob(ctx context.Context, ws, sha string) (bool, error) {
	resp, err := c.do(ctx, request{method: http.MethodHead, path: wsPath(ws, "staging", url.PathEscape(sha))})
	if tandem.IsCode(err, tandem.ENotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// StageBlob streams bytes whose sha256 (and size, when >= 0) the caller
// already knows; the server refuses them if they differ.
func (c *Client) StageBlob(ctx context.Context, ws string, want tandem.BlobRef, r io.Reader) (tandem.BlobRef, error) {
	resp, err := c.do(ctx, request{
		method: http.MethodPut,
		path:   wsPath(ws, "staging", url.PathEscape(want.SHA256)),
		body:   r,
		size:   want.Size,
		ctype:  "application/octet-stream",
	})
	if err != nil {
		return tandem.BlobRef{}, err
	}
	defer resp.Body.Close()
	var ref tandem.BlobRef
	if err := json.NewDecoder(resp.Body).Decode(&ref); err != nil {
		return ref, tandem.Errorf(tandem.EInternal, "decode staging answer: %v", err)
	}
	return ref, nil
}

func (c *Client) CreateAsset(ctx context.Context, ws string, req *tandem.AssetRequest) (*tandem.Asset, bool, error) {
	var out struct {
		tandem.Asset
		Created bool `json:"created"`
	}
	if err := c.call(ctx, http.MethodPost, assetPath(ws, req.Kind), nil, req, &out); err != nil {
		return nil, false, err
	}
	return &out.Asset, out.Created, nil
}

func (c *Client) FindAsset(ctx context.Context, ws string, kind tandem.Kind, name, version, label string) (*tandem.Asset, error) {
	var a tandem.Asset
	if version == "" {
		q := url.Values{}
		if label != "" {
			q.Set("label", label)
		}
		return &a, c.call(ctx, http.MethodGet, assetPath(ws, kind, name), q, nil, &a)
	}
	return &a, c.call(ctx, http.MethodGet, assetPath(ws, kind, name, "versions", version), nil, nil, &a)
}

func (c *Client) ListAssets(ctx context.Context, ws string, f tandem.AssetFilter) ([]*tandem.Asset, error) {
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.IncludeArchived {
		q.Set("include_archived", "true")
	}
	var out list[*tandem.Asset]
	return out.Value, c.call(ctx, http.MethodGet, assetPath(ws, f.Kind), q, nil, &out)
}

func (c *Client) UpdateAsset(ctx context.Context, ws string, kind tandem.Kind, name, version string, upd tandem.AssetUpdate) (*tandem.Asset, error) {
	var a tandem.Asset
	return &a, c.call(ctx, http.MethodPatch, assetPath(ws, kind, name, "versions", version), nil, upd, &a)
}

func (c *Client) ArchiveAsset(ctx context.Context, ws string, kind tandem.Kind, name, version string, archived bool) error {
	q := url.Values{}
	if version != "" {
		q.Set("version", version)
	}
	if !archived {
		q.Set("restore", "true")
	}
	return c.call(ctx, http.MethodPost, assetPath(ws, kind, name, "archive"), q, nil, nil)
}

// OpenAssetFile returns a reader that verifies the file against the sha256
// and size the server recorded.
func (c *Client) OpenAssetFile(ctx context.Context, ws string, kind tandem.Kind, name, version, p string) (*tandem.AssetFile, io.ReadCloser, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: assetPath(ws, kind, name, "versions", version) + "/files/" + escapePath(p)})
	if err != nil {
		return nil, nil, err
	}
	size, _ := strconv.ParseInt(resp.Header.Get(headerSize), 10, 64)
	f := &tandem.AssetFile{Path: p, SHA256: resp.Header.Get(headerSHA256), Size: size}
	return f, verifiedDownload(resp.Body, f.SHA256, size, p), nil
}
