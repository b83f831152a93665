package tandem

import (
	"context"
	"time"
)

// Token is an API credential. Only a hash of its secret is stored. A token
// with a WorkspaceID acts only on that workspace; without one it is a
// region admin token.
type Token struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	WorkspaceID string    `json:"workspace_id,omitempty"`
	Workspace   string    `json:"workspace,omitempty"` // the workspace's name, for display
	Hash        string    `json:"-"`                   // sha256 of the secret, hex
	CreatedAt   time.Time `json:"created_at"`
}

// Admin reports whether t is a region admin token.
func (t *Token) Admin() bool { return t.WorkspaceID == "" }

// TokenFilter selects tokens in a list.
type TokenFilter struct {
	WorkspaceID string // only tokens of this workspace, when set
	Name        string // only the token with this name, when set
}

// TokenService manages API tokens.
//
// Errors: EInvalid for a bad name; EConflict for a duplicate name;
// ENotFound for unknown tokens or workspaces; EForbidden unless the caller
// is a region admin (workspace tokens may list their workspace's tokens).
type TokenService interface {
	// CreateToken creates a token named name, scoped to the workspace named
	// workspace ("" for a region admin token), and returns it with its
	// secret. The secret is shown once and never stored.
	CreateToken(ctx context.Context, name, workspace string) (*Token, string, error)
	// ListTokens returns the tokens the caller may see, ordered by name.
	ListTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken deletes the token named name; it stops working at once.
	RevokeToken(ctx context.Context, name string) error
}

// Authenticator turns a bearer secret into the caller's identity. It is
// server-side only. EUnauthorized for unknown or revoked secrets.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*Token, error)
}

type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying the authenticated token.
func NewContextWithPrincipal(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, principalKey{}, t)
}

// PrincipalFromContext returns the authenticated token in ctx, or nil.
// Code running inside the server with no principal (background purges,
// tests of the service layer) acts as the region itself.
func PrincipalFromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(principalKey{}).(*Token)
	return t
}
