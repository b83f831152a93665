package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/tandemml/tandem"
)

// snapshotRoutes serves a workspace's metadata snapshots to the secondary
// of its hot/cold pair. Peer-facing, authenticated like the other
// /v1/replication routes.
func (s *Server) snapshotRoutes(v1 func(string, func(http.ResponseWriter, *http.Request) error)) {
	v1("GET /v1/replication/workspaces/{id}/snapshots/latest", s.peer(s.handleLatestSnapshot))
	v1("GET /v1/replication/workspaces/{id}/snapshots/{name}/files/{file}", s.peer(s.handleSnapshotFile))
}

// snapshots returns the region's snapshot source.
func (s *Server) snapshots() (tandem.SnapshotSource, error) {
	if s.Snapshots != nil {
		return s.Snapshots, nil
	}
	return nil, tandem.Errorf(tandem.EUnavailable, "this server does not serve snapshots")
}

func (s *Server) handleLatestSnapshot(w http.ResponseWriter, r *http.Request, from string) error {
	src, err := s.snapshots()
	if err != nil {
		return err
	}
	man, err := src.LatestReplicaSnapshot(r.Context(), from, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, man)
	return nil
}

func (s *Server) handleSnapshotFile(w http.ResponseWriter, r *http.Request, from string) error {
	src, err := s.snapshots()
	if err != nil {
		return err
	}
	rc, err := src.OpenReplicaSnapshotFile(r.Context(), from, r.PathValue("id"), r.PathValue("name"), r.PathValue("file"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// Headers are out: break the connection so that the peer sees a
		// failed transfer, never a clean end of a short or corrupt file.
		s.Logger.Error("snapshot file stream failed", "id", r.PathValue("id"), "snapshot", r.PathValue("name"), "file", r.PathValue("file"), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// --- the client side ---

var _ tandem.SnapshotPeer = (*Client)(nil)

func snapshotsPath(workspaceID string) string {
	return "/v1/replication/workspaces/" + url.PathEscape(workspaceID) + "/snapshots/"
}

// LatestSnapshot returns the manifest of the peer's newest snapshot of a
// workspace paired with the calling region.
func (c *Client) LatestSnapshot(ctx context.Context, workspaceID string) (*tandem.SnapshotManifest, error) {
	var man tandem.SnapshotManifest
	if err := c.call(ctx, http.MethodGet, snapshotsPath(workspaceID)+"latest", nil, nil, &man); err != nil {
		return nil, err
	}
	return &man, nil
}

// OpenSnapshotFile streams one file of a peer's snapshot. The caller
// verifies it against the manifest's sha256.
func (c *Client) OpenSnapshotFile(ctx context.Context, workspaceID, snapshot, file string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, request{
		method: http.MethodGet,
		path:   snapshotsPath(workspaceID) + url.PathEscape(snapshot) + "/files/" + url.PathEscape(file),
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
