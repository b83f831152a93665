package region

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/tandemml/tandem"
)

var tokenNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// tokenPrefix marks Tandem secrets so that secret scanners can find them.
const tokenPrefix = "tdm_"

// HashToken returns the stored form of a token secret.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenRecord is a workspace token as the change log records it: with its
// hash, so that a replica can authenticate the same secret.
type TokenRecord struct {
	*tandem.Token
	Hash string `json:"hash"`
}

// CreateToken creates a token and returns its secret, shown once.
func (r *Region) CreateToken(ctx context.Context, name, workspace string) (*tandem.Token, string, error) {
	if err := RequireAdmin(ctx, "creating a token"); err != nil {
		return nil, "", err
	}
	if !tokenNameRE.MatchString(name) {
		return nil, "", tandem.Errorf(tandem.EInvalid,
			"invalid token name %q: use 1 to 64 characters, letters, digits, '.', '-' and '_', starting with a letter or digit", name).WithTarget("name")
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	t := &tandem.Token{ID: uuid.NewString(), Name: name, Hash: HashToken(secret), CreatedAt: r.Timestamp()}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		if workspace != "" {
			ws, err := r.LiveWorkspace(ctx, tx, workspace)
			if err != nil {
				return err
			}
			t.WorkspaceID, t.Workspace = ws.ID, ws.Name
		}
		if err := tx.CreateToken(ctx, t); err != nil {
			if tandem.IsCode(err, tandem.EConflict) {
				return tandem.Errorf(tandem.EConflict, "token %q already exists", name).WithTarget(name)
			}
			return err
		}
		if t.WorkspaceID == "" {
			return nil // region admin tokens are region-local and log nothing
		}
		return r.LogChange(ctx, tx, t.WorkspaceID, tandem.KindToken, t.Name, "", tandem.OpCreate, TokenRecord{t, t.Hash})
	})
	if err != nil {
		return nil, "", err
	}
	r.Logger.Info("token created", "token", t.Name, "workspace", t.Workspace)
	return t, secret, nil
}

// ListTokens returns the tokens the caller may see: all of them for a
// region admin, its workspace's for a workspace token.
func (r *Region) ListTokens(ctx context.Context) ([]*tandem.Token, error) {
	var filter tandem.TokenFilter
	if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" {
		return nil, tandem.Errorf(tandem.EForbidden, "token %q belongs to job %q and may only track that job's run", p.Name, p.Job())
	} else if p != nil && !p.Admin() {
		filter.WorkspaceID = p.WorkspaceID
	}
	var tokens []*tandem.Token
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if tokens, err = tx.ListTokens(ctx, filter); err != nil {
			return err
		}
		names := map[string]string{}
		for _, t := range tokens {
			if t.WorkspaceID == "" {
				continue
			}
			if _, ok := names[t.WorkspaceID]; !ok {
				if ws, err := tx.FindWorkspaceByID(ctx, t.WorkspaceID); err == nil {
					names[t.WorkspaceID] = ws.Name
				}
			}
			t.Workspace = names[t.WorkspaceID]
		}
		return nil
	})
	return tokens, err
}

// RevokeToken deletes a token; it stops working at once.
func (r *Region) RevokeToken(ctx context.Context, name string) error {
	if err := RequireAdmin(ctx, "revoking a token"); err != nil {
		return err
	}
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		found, err := tx.ListTokens(ctx, tandem.TokenFilter{Name: name})
		if err != nil {
			return err
		} else if len(found) == 0 {
			return tandem.Errorf(tandem.ENotFound, "token %q not found", name).WithTarget(name)
		}
		t := found[0]
		if err := tx.DeleteToken(ctx, t.ID); err != nil {
			return err
		}
		r.Logger.Info("token revoked", "token", t.Name)
		if t.WorkspaceID == "" {
			return nil
		}
		return r.LogChange(ctx, tx, t.WorkspaceID, tandem.KindToken, t.Name, "", tandem.OpDelete, nil)
	})
}

// Authenticate returns the token whose secret is given.
func (r *Region) Authenticate(ctx context.Context, secret string) (*tandem.Token, error) {
	var t *tandem.Token
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		t, err = tx.FindTokenByHash(ctx, HashToken(secret))
		return err
	})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.EUnauthorized, "invalid or revoked token")
	}
	return t, err
}

// EnsureAdminToken makes sure the region has an admin token whose secret is
// in the file at path. On first start it creates one and writes the file
// with mode 0600; it reports whether it did. A file left from an earlier
// database (for example after switching --db) is registered again.
func (r *Region) EnsureAdminToken(ctx context.Context, path string) (created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return false, fmt.Errorf("admin token file %s is empty; remove it to create a new token", path)
		}
		_, aerr := r.Authenticate(ctx, secret)
		if aerr == nil {
			return false, nil
		} else if !tandem.IsCode(aerr, tandem.EUnauthorized) {
			return false, aerr
		}
		return false, r.registerAdmin(ctx, secret)
	case !os.IsNotExist(err):
		return false, fmt.Errorf("read admin token: %w", err)
	}

	secret, err := NewSecret()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	// Write the file before recording the hash: a crash in between leaves a
	// file that the next start registers, never a token nobody holds.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("write admin token: %w", err)
	}
	return true, r.registerAdmin(ctx, secret)
}

// registerAdmin records an admin token for secret under the first free name
// of admin, admin-2, admin-3, ...
func (r *Region) registerAdmin(ctx context.Context, secret string) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		// Pick the name before inserting: on PostgreSQL a failed insert
		// aborts the whole transaction.
		taken := map[string]bool{}
		all, err := tx.ListTokens(ctx, tandem.TokenFilter{})
		if err != nil {
			return err
		}
		for _, t := range all {
			taken[t.Name] = true
		}
		name := "admin"
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("admin-%d", i)
		}
		return tx.CreateToken(ctx, &tandem.Token{ID: uuid.NewString(), Name: name, Hash: HashToken(secret), CreatedAt: r.Timestamp()})
	})
}
