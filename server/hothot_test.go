package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/faultproxy"
)

// proxied starts a fault-injecting proxy in front of r.
func proxied(t *testing.T, r *running) *faultproxy.Proxy {
	t.Helper()
	p := faultproxy.New(r.Addr())
	if err := p.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func digestOf(t *testing.T, r *running, ws string) string {
	t.Helper()
	d, err := r.admin.DigestWorkspace(context.Background(), ws, tandem.DigestOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	return d.Digest
}

func waitSameDigest(t *testing.T, a, b *running, ws string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		da, db := digestOf(t, a, ws), digestOf(t, b, ws)
		if da == db && strings.HasPrefix(da, "sha256:") {
			return da
		}
		if time.Now().After(deadline) {
			ca, _ := a.admin.DigestWorkspace(context.Background(), ws, tandem.DigestOptions{})
			cb, _ := b.admin.DigestWorkspace(context.Background(), ws, tandem.DigestOptions{})
			var ka, kb any
			if ca != nil {
				ka = ca.Counts
			}
			if cb != nil {
				kb = cb.Counts
			}
			t.Fatalf("digests differ after 30s: %s %s %v, %s %s %v", a.Config.Region, da, ka, b.Config.Region, db, kb)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readNotebook(t *testing.T, r *running, ws, path string) string {
	t.Helper()
	_, rc, err := r.admin.OpenNotebook(context.Background(), ws, path)
	if err != nil {
		t.Fatalf("%s: open %s: %v", r.Config.Region, path, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplicationHotHot writes on both sides of a hot/hot pair, including
// the same notebook on both while the link between the regions is cut:
// after the link comes back both regions hold the same winner, digests
// match, and the losing write is listed as a conflict in both regions with
// its bytes kept.
func TestReplicationHotHot(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	toEast, toWest := proxied(t, east), proxied(t, west)
	if _, err := east.admin.AddRegion(ctx, "westus", "http://"+toWest.Addr(), west.secret); err != nil {
		t.Fatal(err)
	}
	if _, err := west.admin.AddRegion(ctx, "eastus", "http://"+toEast.Addr(), east.secret); err != nil {
		t.Fatal(err)
	}
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "shared"}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "shared", SecondaryRegion: "westus", Tier: tandem.TierHotHot}); err != nil {
		t.Fatal(err)
	}
	waitSameDigest(t, east, west, "shared")

	// Both sides take writes; each reaches the other, none comes back.
	if _, err := east.admin.UploadNotebook(ctx, "shared", "from-east.ipynb", strings.NewReader("e")); err != nil {
		t.Fatal(err)
	}
	if _, err := west.admin.UploadNotebook(ctx, "shared", "from-west.ipynb", strings.NewReader("w")); err != nil {
		t.Fatalf("write to the hot/hot secondary: %v", err)
	}
	waitSameDigest(t, east, west, "shared")
	if readNotebook(t, east, "shared", "from-west.ipynb") != "w" || readNotebook(t, west, "shared", "from-east.ipynb") != "e" {
		t.Fatal("writes did not cross")
	}

	// Cut the link, write the same notebook on both sides, restore.
	toEast.Cut()
	toWest.Cut()
	if _, err := east.admin.UploadNotebook(ctx, "shared", "plan.ipynb", strings.NewReader("east's plan")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // distinct commit times; ties are broken by region name anyway
	if _, err := west.admin.UploadNotebook(ctx, "shared", "plan.ipynb", strings.NewReader("west's plan")); err != nil {
		t.Fatal(err)
	}
	// An immutable version created with other bytes on each side.
	createModel(t, east, "shared", "east weights")
	createModel(t, west, "shared", "west weights, later")
	toEast.Restore()
	toWest.Restore()
	waitSameDigest(t, east, west, "shared")

	for _, r := range []*running{east, west} {
		if got := readNotebook(t, r, "shared", "plan.ipynb"); got != "west's plan" {
			t.Fatalf("%s holds %q, want the later write, west's plan", r.Config.Region, got)
		}
		conflicts, err := r.admin.ListConflicts(ctx, "shared")
		if err != nil || len(conflicts) != 2 {
			t.Fatalf("%s: got %d conflicts, %v; want the losing notebook and model version listed", r.Config.Region, len(conflicts), err)
		}
		var c, m *tandem.Conflict
		for _, x := range conflicts {
			if x.Kind == tandem.KindModel {
				m = x
			} else {
				c = x
			}
		}
		if m == nil || m.Name != "clf" || m.Version != "1" || !strings.HasPrefix(m.Loser, "eastus@") || m.LosingBlobs == "" {
			t.Fatalf("%s: model conflict %+v, want east's clf:1 kept as the loser", r.Config.Region, m)
		}
		// The loser's bytes are kept where they were written, whatever the
		// order in which the two regions saw the conflict.
		if r == east {
			var kept []string
			r.Blobs.List(ctx, m.LosingBlobs, func(b tandem.BlobRef) error { kept = append(kept, b.Key); return nil })
			if len(kept) != 1 {
				t.Fatalf("eastus kept %v under %s, want its losing model file", kept, m.LosingBlobs)
			}
		}
		if c == nil {
			t.Fatalf("%s: no notebook conflict in %+v", r.Config.Region, conflicts)
		}
		if c.Name != "plan.ipynb" || !strings.HasPrefix(c.Loser, "eastus@") || !strings.HasPrefix(c.Winner, "westus@") || len(c.LosingBody) == 0 {
			t.Fatalf("%s: conflict %+v, want east's write as the loser with its body", r.Config.Region, c)
		}
		if c.LosingBlobs == "" {
			t.Fatalf("%s: the loser's bytes were not kept: %+v", r.Config.Region, c)
		}
		if r == east {
			var kept []string
			r.Blobs.List(ctx, c.LosingBlobs, func(b tandem.BlobRef) error { kept = append(kept, b.Key); return nil })
			if len(kept) != 1 {
				t.Fatalf("eastus kept %v under %s, want its losing notebook", kept, c.LosingBlobs)
			}
		}
		_, rc, err := r.admin.OpenAssetFile(ctx, "shared", tandem.KindModel, "clf", "1", "model.pkl")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "west weights, later" {
			t.Fatalf("%s: clf:1 holds %q, %v; want the winner's bytes", r.Config.Region, b, err)
		}
	}
}

func createModel(t *testing.T, r *running, ws, body string) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(body))
	f := tandem.AssetFile{Field: "path", Path: "model.pkl", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
	if _, err := r.admin.StageBlob(ctx, ws, tandem.BlobRef{SHA256: f.SHA256, Size: f.Size}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.admin.CreateAsset(ctx, ws, &tandem.AssetRequest{
		Kind:  tandem.KindModel,
		Spec:  map[string]any{"name": "clf", "version": "1", "type": "custom_model", "path": "model.pkl"},
		Paths: []tandem.AssetPath{{Field: "path", Root: "model.pkl"}},
		Files: []tandem.AssetFile{f},
	})
	if err != nil {
		t.Fatalf("%s: create model: %v", r.Config.Region, err)
	}
}
