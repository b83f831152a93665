package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

var _ tandem.SecretService = (*Client)(nil)

func secretPath(ws, name string, rest ...string) string {
	return wsPath(ws, append([]string{"secrets", url.PathEscape(name)}, rest...)...)
}

// SetSecret sends the value as the raw body of the request.
func (c *Client) SetSecret(ctx context.Context, ws, name string, value []byte) (*tandem.Secret, error) {
	resp, err := c.do(ctx, request{
		method: http.MethodPut,
		path:   secretPath(ws, name),
		body:   bytes.NewReader(value),
		ctype:  "application/octet-stream",
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var sec tandem.Secret
	if err := json.NewDecoder(resp.Body).Decode(&sec); err != nil {
		return nil, tandem.Errorf(tandem.EInternal, "decode set secret answer: %v", err)
	}
	return &sec, nil
}

func (c *Client) ListSecrets(ctx context.Context, ws string) ([]*tandem.Secret, error) {
	var out list[*tandem.Secret]
	return out.Value, c.call(ctx, http.MethodGet, wsPath(ws, "secrets"), nil, nil, &out)
}

func (c *Client) FindSecret(ctx context.Context, ws, name string) (*tandem.Secret, error) {
	var sec tandem.Secret
	return &sec, c.call(ctx, http.MethodGet, secretPath(ws, name), nil, nil, &sec)
}

// GetSecretValue returns the raw value the server sent.
func (c *Client) GetSecretValue(ctx context.Context, ws, name string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: secretPath(ws, name, "value")})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	value, err := io.ReadAll(io.LimitReader(resp.Body, tandem.MaxSecretValue+1))
	if err != nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "read secret %q: %v", name, err)
	}
	if len(value) > tandem.MaxSecretValue {
		return nil, tandem.Errorf(tandem.ECorrupt, "secret %q: the server sent more than %d bytes", name, tandem.MaxSecretValue)
	}
	return value, nil
}

func (c *Client) DeleteSecret(ctx context.Context, ws, name string) error {
	return c.call(ctx, http.MethodDelete, secretPath(ws, name), nil, nil, nil)
}

func (c *Client) RotateKey(ctx context.Context) (*tandem.KeyRotation, error) {
	var rot tandem.KeyRotation
	return &rot, c.call(ctx, http.MethodPost, "/v1/vault/rotate-key", nil, nil, &rot)
}
