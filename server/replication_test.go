package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
)

// startRegion starts a named region server sharing keyFile with its peers.
func startRegion(t *testing.T, name, keyFile string) *running {
	t.Helper()
	var logs io.Writer = io.Discard
	if os.Getenv("TANDEM_TEST_LOGS") != "" {
		logs = os.Stderr
	}
	cfg := server.Config{Region: name, DataDir: t.TempDir(), Listen: "127.0.0.1:0", KeyFile: keyFile, LogOutput: logs}
	s := server.New(cfg)
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	b, err := os.ReadFile(s.AdminTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(b))
	return &running{Server: s, secret: secret, admin: httpapi.NewClient([]string{s.Endpoint()}, secret)}
}

// link registers each region with the other.
func link(t *testing.T, a, b *running) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.admin.AddRegion(ctx, b.Config.Region, b.Endpoint(), b.secret); err != nil {
		t.Fatal(err)
	}
	if _, err := b.admin.AddRegion(ctx, a.Config.Region, a.Endpoint(), a.secret); err != nil {
		t.Fatal(err)
	}
}

// snapshot is a workspace's replicated state as a comparable text: its log
// and its resources.
func snapshot(t *testing.T, r *running, wsID string) string {
	t.Helper()
	var out bytes.Buffer
	err := r.Store.View(context.Background(), func(tx tandem.Tx) error {
		log, err := tx.ListChanges(context.Background(), wsID, 0, 100000)
		if err != nil {
			return err
		}
		for _, c := range log {
			body := c.Body
			if c.Kind == tandem.KindWorkspace {
				body = nil // names and regions differ by design
			}
			fmt.Fprintf(&out, "change %d %s %s %s %s %s %d %s\n", c.Seq, c.Kind, c.Name, c.Version, c.Op, c.Origin, c.Epoch, body)
		}
		res, err := tx.ListResources(context.Background(), tandem.ResourceFilter{WorkspaceID: wsID})
		for _, x := range res {
			b, _ := json.Marshal(x.Blobs)
			fmt.Fprintf(&out, "resource %s %s %s %s %s\n", x.Kind, x.Name, x.Version, x.Spec, b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func waitConverged(t *testing.T, a, b *running, wsID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var sa, sb string
	for time.Now().Before(deadline) {
		if sa, sb = snapshot(t, a, wsID), snapshot(t, b, wsID); sa == sb {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("regions did not converge in 30s:\n--- %s\n%s\n--- %s\n%s", a.Config.Region, sa, b.Config.Region, sb)
}

func TestReplicationHotWarm(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)

	ws := &tandem.Workspace{Name: "vision", Tags: map[string]string{"team": "cv"}}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	// Some history before the pair exists: it replicates too.
	if _, err := east.admin.UploadNotebook(ctx, "vision", "a.ipynb", strings.NewReader("v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "a.ipynb", strings.NewReader("v2 replaces v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.SetSecret(ctx, "vision", "db-password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	_, userToken, err := east.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotWarm}); err != nil {
		t.Fatal(err)
	}
	// And writes while replication runs.
	for i := 0; i < 20; i++ {
		if _, err := east.admin.UploadNotebook(ctx, "vision", fmt.Sprintf("nb/%02d.ipynb", i), strings.NewReader(strings.Repeat("x", i*100))); err != nil {
			t.Fatal(err)
		}
	}
	desc := "replicated"
	if _, err := east.admin.UpdateWorkspace(ctx, "vision", tandem.WorkspaceUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, east, west, ws.ID)

	// The secondary serves reads, with its own name and region.
	got, err := west.admin.FindWorkspace(ctx, "vision")
	if err != nil || got.Region != "westus" || got.Description != desc || got.ID != ws.ID {
		t.Fatalf("secondary workspace: got %+v, %v", got, err)
	}
	_, rc, err := west.admin.OpenNotebook(ctx, "vision", "a.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(body) != "v2 replaces v1" {
		t.Fatalf("notebook on the secondary: got %q, %v", body, err)
	}
	if v, err := west.admin.GetSecretValue(ctx, "vision", "db-password"); err != nil || string(v) != "hunter2" {
		t.Fatalf("secret on the secondary: got %q, %v", v, err)
	}
	// A user's workspace token works in both regions.
	if _, err := httpapi.NewClient([]string{west.Endpoint()}, userToken).FindWorkspace(ctx, "vision"); err != nil {
		t.Fatalf("workspace token on the secondary: %v", err)
	}

	// The secondary refuses writes, naming the primary.
	_, err = west.admin.UploadNotebook(ctx, "vision", "b.ipynb", unrewindable("x"))
	if tandem.ErrorCode(err) != tandem.ENotPrimary || !strings.Contains(err.Error(), east.Endpoint()) {
		t.Fatalf("write to the secondary: got %v, want NotPrimary naming %s", err, east.Endpoint())
	}

	st, err := west.admin.PairStatus(ctx, "vision")
	if err != nil || st.Role != tandem.RoleSecondary || st.Replication.EntriesBehind != 0 || st.Replication.AppliedSeq != st.Replication.PrimarySeq {
		t.Fatalf("pair status on the secondary: got %+v, %v", st, err)
	}
}

func TestReplicationRefusesUnknownRegion(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	// Only east knows west: west refuses east's pair request.
	if _, err := east.admin.AddRegion(ctx, "westus", west.Endpoint(), west.secret); err != nil {
		t.Fatal(err)
	}
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"})
	if tandem.ErrorCode(err) != tandem.EForbidden || !strings.Contains(err.Error(), "eastus") {
		t.Fatalf("pair with a region that does not know us: got %v, want Forbidden naming eastus", err)
	}
	_, err = east.admin.AddRegion(ctx, "centralus", west.Endpoint(), west.secret)
	if tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("adding a region under the wrong name: got %v, want Invalid", err)
	}
}

// TestReplicationCorruptBlob corrupts a blob at rest in the primary's
// storage: the secondary detects it by sha256, reports it in the pair's
// status, applies nothing past it, and resumes once the bytes are right.
func TestReplicationCorruptBlob(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	good := strings.Repeat("weights ", 1000)
	if _, err := east.admin.UploadNotebook(ctx, "vision", "model.bin", strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	// Same size, other bytes: only the sha256 can tell.
	onDisk := filepath.Join(east.Config.DataDir, "storage", "workspaces", ws.ID, "notebooks", "model.bin")
	if err := os.WriteFile(onDisk, []byte(strings.Repeat("WEIGHTS ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := west.admin.PairStatus(ctx, "vision")
		if err == nil && st.Replication.State == "stopped" && strings.Contains(st.Replication.Reason, "model.bin") {
			if st.Replication.AppliedSeq >= 2 {
				t.Fatalf("the entry with the corrupt blob was applied: %+v", st.Replication)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corruption not reported in 20s: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := west.admin.OpenNotebook(ctx, "vision", "model.bin"); err == nil {
		t.Fatal("the secondary serves the corrupt notebook")
	}
	// Repaired at the source, replication resumes and converges.
	if err := os.WriteFile(onDisk, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, east, west, ws.ID)
}
