package region

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Settings keys of region-level records.
const (
	peerKeyPrefix = "peer/" // peer/<region> → peerRecord
)

var regionNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidateRegionName checks a region name: lower-case letters, digits and
// '-', as cloud region names are.
func ValidateRegionName(name string) error {
	if !regionNameRE.MatchString(name) {
		return tandem.Errorf(tandem.EInvalid, "invalid region name %q: use 1 to 63 lower-case letters, digits and '-'", name).WithTarget("name")
	}
	return nil
}

// peerRecord is a peer region as stored: its token sealed by the vault.
type peerRecord struct {
	tandem.Peer
	Token tandem.Sealed `json:"token"`
}

func peerAAD(name string) []byte { return []byte("region-peer/" + name) }

// AddRegion registers a peer region after checking that its endpoint
// answers, with the token given, as the region named.
func (r *Region) AddRegion(ctx context.Context, name, endpoint, token string) (*tandem.Peer, error) {
	if err := RequireAdmin(ctx, "adding a region"); err != nil {
		return nil, err
	}
	if err := ValidateRegionName(name); err != nil {
		return nil, err
	}
	if name == r.Name {
		return nil, tandem.Errorf(tandem.EInvalid, "region %q is this region; add the other region of the pair", name)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tandem.Errorf(tandem.EInvalid, "endpoint %q is not an http(s) URL", endpoint).WithTarget("endpoint")
	}
	if strings.TrimSpace(token) == "" {
		return nil, tandem.Errorf(tandem.EInvalid, "the peer's token is empty").WithTarget("token")
	}
	v, err := r.RequireVault()
	if err != nil {
		return nil, err
	}
	peer := &tandem.Peer{Name: name, Endpoint: strings.TrimRight(endpoint, "/"), CreatedAt: r.Timestamp()}
	if r.Dial == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server cannot call peer regions")
	}
	info, err := r.Dial(r.Name, peer, token).Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("check region %q at %s: %w", name, endpoint, err)
	}
	if info.Region != name {
		return nil, tandem.Errorf(tandem.EInvalid, "%s answers as region %q, not %q", endpoint, info.Region, name).WithTarget("name")
	}
	sealed, err := v.Seal([]byte(token), peerAAD(name))
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(peerRecord{Peer: *peer, Token: sealed})
	if err != nil {
		return nil, err
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		return tx.PutSetting(ctx, peerKeyPrefix+name, body)
	})
	if err != nil {
		return nil, err
	}
	r.Logger.Info("peer region added", "region", name, "endpoint", peer.Endpoint)
	return peer, nil
}

// ListRegions returns the peer regions, by name.
func (r *Region) ListRegions(ctx context.Context) ([]*tandem.Peer, error) {
	var out []*tandem.Peer
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListSettings(ctx, peerKeyPrefix)
		for _, s := range list {
			var rec peerRecord
			if err := json.Unmarshal(s.Value, &rec); err != nil {
				return fmt.Errorf("decode %s: %w", s.Key, err)
			}
			p := rec.Peer
			out = append(out, &p)
		}
		return err
	})
	return out, err
}

// Peer returns a peer region and its token.
func (r *Region) Peer(ctx context.Context, name string) (*tandem.Peer, string, error) {
	var rec peerRecord
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		b, err := tx.GetSetting(ctx, peerKeyPrefix+name)
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "region %q is not known here; add it with `tandem region add --name %s --endpoint URL --token-file FILE`", name, name).WithTarget(name)
		} else if err != nil {
			return err
		}
		return json.Unmarshal(b, &rec)
	})
	if err != nil {
		return nil, "", err
	}
	v, err := r.RequireVault()
	if err != nil {
		return nil, "", err
	}
	token, err := v.Open(rec.Token, peerAAD(name))
	if err != nil {
		return nil, "", fmt.Errorf("unseal the token of region %q: %w", name, err)
	}
	return &rec.Peer, string(token), nil
}

// KnownPeer returns EForbidden unless name is a region added here.
func (r *Region) KnownPeer(ctx context.Context, name string) error {
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		_, err := tx.GetSetting(ctx, peerKeyPrefix+name)
		return err
	})
	if tandem.IsCode(err, tandem.ENotFound) || name == "" {
		return tandem.Errorf(tandem.EForbidden, "region %q is not known to region %q; add it there with `tandem region add`", name, r.Name)
	}
	return err
}

func (r *Region) DialPeer(ctx context.Context, name string) (tandem.PeerClient, *tandem.Peer, error) {
	peer, token, err := r.Peer(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return r.Dial(r.Name, peer, token), peer, nil
}

// Shutdown makes waiting long polls answer at once, so that a stopping
// server does not wait for them.
func (r *Region) Shutdown() {
	r.closeOnce.Do(func() { close(r.closingCh()) })
}

func (r *Region) Closing() <-chan struct{} { return r.closingCh() }

func (r *Region) closingCh() chan struct{} {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closeCh == nil {
		r.closeCh = make(chan struct{})
	}
	return r.closeCh
}

// CheckWritable refuses, before any byte is stored, a write to a workspace
// that is a read-only secondary. logChange checks again inside the write's
// transaction; this early check keeps refused writes from touching storage.
func (r *Region) CheckWritable(ctx context.Context, wsID string) error {
	return r.Store.View(ctx, func(tx tandem.Tx) error {
		p, err := tandem.FindPair(ctx, tx, wsID)
		if err == nil && p != nil && !p.Writable() {
			return NotPrimary(p)
		}
		return err
	})
}

// NotPrimary is the error of a write refused by a read-only secondary.
func NotPrimary(p *tandem.Pair) error {
	return tandem.Errorf(tandem.ENotPrimary,
		"workspace %q is a read-only secondary in region %q; write to its primary in region %q at %s",
		p.Workspace, p.Region, p.PrimaryRegion, p.PrimaryEndpoint).WithTarget(p.PrimaryEndpoint)
}

// CreatePair pairs a workspace of this region (the primary) with a peer
// region (the secondary), which records its side and starts pulling.
func (r *Region) CreatePair(ctx context.Context, req tandem.PairRequest) (*tandem.Pair, error) {
	if err := RequireAdmin(ctx, "pairing a workspace"); err != nil {
		return nil, err
	}
	if req.Tier == "" {
		req.Tier = tandem.TierHotWarm
	}
	if !tandem.ValidTier(req.Tier) {
		return nil, tandem.Errorf(tandem.EInvalid, "unknown tier %q: use hot-warm, hot-hot or hot-cold", req.Tier).WithTarget("tier")
	}
	ws, err := r.FindWorkspace(ctx, req.Workspace)
	if err != nil {
		return nil, err
	}
	if req.SecondaryWorkspace == "" {
		req.SecondaryWorkspace = ws.Name
	}
	if err := tandem.ValidateWorkspaceName(req.SecondaryWorkspace); err != nil {
		return nil, err
	}
	if req.Tier == tandem.TierHotCold && req.SnapshotInterval <= 0 {
		req.SnapshotInterval = 15 * time.Minute
	}
	client, peer, err := r.DialPeer(ctx, req.SecondaryRegion)
	if err != nil {
		return nil, err
	}
	var existing *tandem.Pair
	if err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		existing, err = tandem.FindPair(ctx, tx, ws.ID)
		return err
	}); err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, tandem.Errorf(tandem.EConflict, "workspace %q is already paired with region %q", ws.Name, existing.PeerRegion).WithTarget(ws.Name)
	}
	now := r.Timestamp()
	local := &tandem.Pair{
		WorkspaceID: ws.ID, Workspace: ws.Name, PeerWorkspace: req.SecondaryWorkspace,
		Region: r.Name, PeerRegion: peer.Name, Role: tandem.RolePrimary, Tier: req.Tier, Epoch: 1,
		PrimaryRegion: r.Name, PrimaryEndpoint: r.Endpoint, SnapshotInterval: req.SnapshotInterval, CreatedAt: now,
		OriginalPrimary: r.Name,
	}
	remote := *local
	remote.Workspace, remote.PeerWorkspace = local.PeerWorkspace, local.Workspace
	remote.Region, remote.PeerRegion = peer.Name, r.Name
	remote.Role = tandem.RoleSecondary
	if err := client.AcceptPair(ctx, &remote); err != nil {
		return nil, fmt.Errorf("region %q refused the pair: %w", peer.Name, err)
	}
	if err := r.Store.Update(ctx, func(tx tandem.Tx) error { return tandem.PutPair(ctx, tx, local) }); err != nil {
		_ = client.DropPair(context.WithoutCancel(ctx), ws.ID)
		return nil, err
	}
	r.Logger.Info("workspace paired", "workspace", ws.Name, "secondary_region", peer.Name, "tier", req.Tier)
	return local, nil
}

// AcceptPair records this region's side of a pair a peer created.
func (r *Region) AcceptPair(ctx context.Context, from string, p *tandem.Pair) error {
	if p.PeerRegion != from || p.Region != r.Name {
		return tandem.Errorf(tandem.EInvalid, "pair for region %q from %q, but this is %q called by %q", p.Region, p.PeerRegion, r.Name, from)
	}
	if err := tandem.ValidateWorkspaceName(p.Workspace); err != nil {
		return err
	}
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		if cur, err := tandem.FindPair(ctx, tx, p.WorkspaceID); err != nil {
			return err
		} else if cur != nil {
			return tandem.Errorf(tandem.EConflict, "workspace %q is already paired here with region %q", cur.Workspace, cur.PeerRegion)
		}
		if ws, err := tx.FindWorkspaceByName(ctx, p.Workspace); err == nil && ws.ID != p.WorkspaceID {
			return tandem.Errorf(tandem.EConflict, "region %q already has a workspace named %q; choose another with --secondary-workspace", r.Name, p.Workspace).WithTarget(p.Workspace)
		} else if err != nil && !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		return tandem.PutPair(ctx, tx, p)
	})
}

// ListPairs returns the pairs of this region's workspaces.
func (r *Region) ListPairs(ctx context.Context) ([]*tandem.Pair, error) {
	var out []*tandem.Pair
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		out, err = tandem.ListPairs(ctx, tx)
		return err
	})
	return out, err
}

// FindPair returns the pair of the workspace named workspace. A secondary
// whose first entries have not arrived yet is found by its pair's name.
func (r *Region) FindPair(ctx context.Context, workspace string) (*tandem.Pair, error) {
	pairs, err := r.ListPairs(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		if p.Workspace == workspace {
			return p, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENotFound, "workspace %q is not paired in region %q", workspace, r.Name).WithTarget(workspace)
}

// PairStatus returns a pair with its replication figures.
func (r *Region) PairStatus(ctx context.Context, workspace string) (*tandem.PairStatus, error) {
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return nil, err
	}
	st := &tandem.PairStatus{Pair: *p}
	if p.Role == tandem.RoleSecondary && r.ReplicationStatus != nil {
		st.Replication = r.ReplicationStatus(p.WorkspaceID)
	} else {
		st.Replication.State = "primary"
		err = r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			st.Replication.AppliedSeq, err = tx.LastChangeSeq(ctx, p.WorkspaceID)
			st.Replication.PrimarySeq = st.Replication.AppliedSeq
			return err
		})
	}
	return st, err
}

// DeletePair unpairs a workspace; both workspaces stay, each writable.
func (r *Region) DeletePair(ctx context.Context, workspace string) error {
	if err := RequireAdmin(ctx, "unpairing a workspace"); err != nil {
		return err
	}
	p, err := r.FindPair(ctx, workspace)
	if err != nil {
		return err
	}
	if client, _, err := r.DialPeer(ctx, p.PeerRegion); err == nil {
		if err := client.DropPair(ctx, p.WorkspaceID); err != nil {
			r.Logger.Warn("peer did not drop its side of the pair", "workspace", workspace, "peer", p.PeerRegion, "err", err)
		}
	}
	return r.Store.Update(ctx, func(tx tandem.Tx) error { return tandem.DeletePair(ctx, tx, p.WorkspaceID) })
}

// DropPair forgets this region's side of a pair, at the peer's request.
func (r *Region) DropPair(ctx context.Context, from, workspaceID string) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		p, err := tandem.FindPair(ctx, tx, workspaceID)
		if err != nil || p == nil {
			return err
		}
		if p.PeerRegion != from {
			return tandem.Errorf(tandem.EForbidden, "workspace %s is paired with %q, not %q", workspaceID, p.PeerRegion, from)
		}
		return tandem.DeletePair(ctx, tx, workspaceID)
	})
}

// ReplicaPair checks that a peer asking for a workspace's log is its pair.
func (r *Region) ReplicaPair(ctx context.Context, from, workspaceID string) (*tandem.Pair, error) {
	var p *tandem.Pair
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		p, err = tandem.FindPair(ctx, tx, workspaceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if p == nil || p.PeerRegion != from {
		return nil, tandem.Errorf(tandem.EForbidden, "workspace %s is not paired with region %q", workspaceID, from)
	}
	return p, nil
}
