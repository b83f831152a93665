package server_test

import (
	"context"
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

// startColdRegion starts a region whose hot/cold secondaries poll every
// 50 ms; snapshotEvery is its server-wide snapshot interval.
func startColdRegion(t *testing.T, name, keyFile string, snapshotEvery time.Duration) *running {
	t.Helper()
	cfg := server.Config{Region: name, DataDir: t.TempDir(), Listen: "127.0.0.1:0", KeyFile: keyFile, LogOutput: io.Discard,
		SnapshotInterval: snapshotEvery, ColdPoll: 50 * time.Millisecond}
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

// secondaryLog returns the ops of a workspace's local log.
func secondaryLog(t *testing.T, r *running, wsID string) []*tandem.Change {
	t.Helper()
	var log []*tandem.Change
	err := r.Store.View(context.Background(), func(tx tandem.Tx) (err error) {
		log, err = tx.ListChanges(context.Background(), wsID, 0, 100000)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestReplicationHotCold runs a hot/cold pair with a 300 ms snapshot
// interval: writes, updates and deletes on the primary all reach the
// secondary through snapshots, which ends with the primary's digest; the
// secondary's log records one entry per applied snapshot; the secondary
// refuses writes; pair status shows the last snapshot's time.
func TestReplicationHotCold(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startColdRegion(t, "eastus", keyFile, 0), startColdRegion(t, "westus", keyFile, 0)
	link(t, east, west)

	ws := &tandem.Workspace{Name: "vision", Tags: map[string]string{"team": "cv"}}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "a.ipynb", strings.NewReader("v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.SetSecret(ctx, "vision", "db-password", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	_, userToken, err := east.admin.CreateToken(ctx, "ci", "vision")
	if err != nil {
		t.Fatal(err)
	}
	ds := map[string]any{"name": "lake", "type": "azure_blob", "account_name": "acct", "container_name": "data",
		"credentials": map[string]any{"account_key": "k3y"}}
	if _, err := east.admin.CreateDatastore(ctx, "vision", ds); err != nil {
		t.Fatal(err)
	}
	createModel(t, east, "vision", "weights")
	pair, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotCold, SnapshotInterval: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if pair.Tier != tandem.TierHotCold || pair.SnapshotInterval != 300*time.Millisecond {
		t.Fatalf("pair %+v", pair)
	}
	waitSameDigest(t, east, west, "vision")

	// Writes while it runs.
	for i := 0; i < 5; i++ {
		if _, err := east.admin.UploadNotebook(ctx, "vision", "nb/"+string(rune('a'+i))+".ipynb", strings.NewReader(strings.Repeat("x", i*100+1))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "a.ipynb", strings.NewReader("v2 replaces v1")); err != nil {
		t.Fatal(err)
	}
	desc := "cold copy"
	if _, err := east.admin.UpdateWorkspace(ctx, "vision", tandem.WorkspaceUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	waitSameDigest(t, east, west, "vision")
	if got := readNotebook(t, west, "vision", "a.ipynb"); got != "v2 replaces v1" {
		t.Fatalf("notebook on the secondary: %q", got)
	}
	if got, err := west.admin.FindWorkspace(ctx, "vision"); err != nil || got.Region != "westus" || got.Description != desc || got.ID != ws.ID {
		t.Fatalf("secondary workspace: %+v, %v", got, err)
	}
	if v, err := west.admin.GetSecretValue(ctx, "vision", "db-password"); err != nil || string(v) != "hunter2" {
		t.Fatalf("secret on the secondary: %q, %v", v, err)
	}
	userWest := httpapi.NewClient([]string{west.Endpoint()}, userToken)
	if _, err := userWest.FindWorkspace(ctx, "vision"); err != nil {
		t.Fatalf("workspace token on the secondary: %v", err)
	}

	// The secondary is read-only and names its primary.
	_, err = west.admin.UploadNotebook(ctx, "vision", "b.ipynb", strings.NewReader("x"))
	if tandem.ErrorCode(err) != tandem.ENotPrimary || !strings.Contains(err.Error(), east.Endpoint()) {
		t.Fatalf("write to the secondary: got %v, want NotPrimary naming %s", err, east.Endpoint())
	}

	// Deletes on the primary disappear on the secondary.
	if err := east.admin.DeleteDatastore(ctx, "vision", "lake"); err != nil {
		t.Fatal(err)
	}
	if err := east.admin.RevokeToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	waitSameDigest(t, east, west, "vision")
	if _, err := west.admin.FindDatastore(ctx, "vision", "lake"); tandem.ErrorCode(err) != tandem.ENotFound {
		t.Fatalf("deleted datastore on the secondary: %v", err)
	}
	if _, err := userWest.FindWorkspace(ctx, "vision"); tandem.ErrorCode(err) != tandem.EUnauthorized {
		t.Fatalf("revoked token on the secondary: got %v, want Unauthorized", err)
	}

	// The secondary's log is its own: one entry per applied snapshot.
	log := secondaryLog(t, west, ws.ID)
	if len(log) < 2 {
		t.Fatalf("secondary log has %d entries, want one per applied snapshot (several)", len(log))
	}
	for _, c := range log {
		if c.Op != tandem.OpSnapshot || c.Kind != tandem.KindWorkspace || c.Origin != "westus" {
			t.Fatalf("secondary log entry %d: %s %s from %s, want only snapshot entries", c.Seq, c.Op, c.Kind, c.Origin)
		}
	}

	// Figures: caught up, with the snapshot's time.
	var st *tandem.PairStatus
	waitFor(t, "pair status caught up", func() bool {
		st, err = west.admin.PairStatus(ctx, "vision")
		return err == nil && st.Replication.State == "replicating" && st.Replication.EntriesBehind == 0
	})
	r := st.Replication
	if st.Role != tandem.RoleSecondary || st.Tier != tandem.TierHotCold || r.LastSnapshotAt == nil || r.LastAppliedAt == nil ||
		r.AppliedSeq != r.PrimarySeq || r.LagSeconds != 0 || r.BlobsCopied == 0 {
		t.Fatalf("pair status on the secondary: %+v", st)
	}
	if time.Since(*r.LastSnapshotAt) > time.Minute || r.LastSnapshotAt.After(*r.LastAppliedAt) {
		t.Fatalf("last snapshot at %s, applied at %s", r.LastSnapshotAt, r.LastAppliedAt)
	}
}

// TestReplicationHotColdOnlyBySnapshot shows that a hot/cold secondary
// changes only when a snapshot is written: with a long interval, a write
// on the primary stays away from it until the next snapshot; a snapshot
// corrupted at rest on the primary is detected and not applied.
func TestReplicationHotColdOnlyBySnapshot(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	// No server-wide snapshots: only the pair's, every hour.
	east, west := startColdRegion(t, "eastus", keyFile, -1), startColdRegion(t, "westus", keyFile, -1)
	link(t, east, west)
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "a.ipynb", strings.NewReader("v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus", Tier: tandem.TierHotCold, SnapshotInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// The first snapshot is written at once (there is none yet).
	first := waitSameDigest(t, east, west, "vision")

	if _, err := east.admin.UploadNotebook(ctx, "vision", "b.ipynb", strings.NewReader("after the snapshot")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // ten polls
	if _, _, err := west.admin.OpenNotebook(ctx, "vision", "b.ipynb"); tandem.ErrorCode(err) != tandem.ENotFound {
		t.Fatalf("a write reached the secondary without a snapshot: %v", err)
	}
	if d := digestOf(t, west, "vision"); d != first {
		t.Fatalf("secondary changed without a snapshot: %s, was %s", d, first)
	}
	st, err := west.admin.PairStatus(ctx, "vision")
	if err != nil || st.Replication.EntriesBehind != 1 || st.Replication.LagSeconds <= 0 {
		t.Fatalf("pair status while a write waits for a snapshot: %+v, %v", st, err)
	}

	// A snapshot whose metadata was corrupted at rest on the primary is
	// refused, and reported.
	info, err := east.App.Backup.WriteSnapshot(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := filepath.Join(east.Config.DataDir, "storage", filepath.FromSlash(info.Prefix), tandem.SnapshotMetadataFile)
	good, err := os.ReadFile(onDisk)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"b.ipynb"`, `"c.ipynb"`, 1) // same size, other bytes
	if bad == string(good) {
		t.Fatal("the snapshot holds no notebook b.ipynb")
	}
	if err := os.WriteFile(onDisk, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "corrupt snapshot reported", func() bool {
		st, err := west.admin.PairStatus(ctx, "vision")
		return err == nil && st.Replication.State == "stopped" && strings.Contains(st.Replication.Reason, tandem.SnapshotMetadataFile) &&
			strings.Contains(st.Replication.Reason, "Corrupt")
	})
	if d := digestOf(t, west, "vision"); d != first {
		t.Fatal("a corrupt snapshot was applied")
	}

	// The next snapshot brings the write.
	if _, err := east.App.Backup.WriteSnapshot(ctx, ws.ID); err != nil {
		t.Fatal(err)
	}
	waitSameDigest(t, east, west, "vision")
	if got := readNotebook(t, west, "vision", "b.ipynb"); got != "after the snapshot" {
		t.Fatalf("notebook on the secondary: %q", got)
	}

	// A restarted secondary knows what it applied: it applies nothing
	// again and shows the same snapshot.
	applied := len(secondaryLog(t, west, ws.ID))
	before, err := west.admin.PairStatus(ctx, "vision")
	if err != nil || before.Replication.LastSnapshotAt == nil {
		t.Fatalf("pair status before the restart: %+v, %v", before, err)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := west.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	again := server.New(west.Config)
	if err := again.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close(context.Background()) })
	west = &running{Server: again, secret: west.secret, admin: httpapi.NewClient([]string{again.Endpoint()}, west.secret)}
	var after *tandem.PairStatus
	waitFor(t, "restarted secondary replicating", func() bool {
		after, err = west.admin.PairStatus(ctx, "vision")
		return err == nil && after.Replication.State == "replicating"
	})
	if !after.Replication.LastSnapshotAt.Equal(*before.Replication.LastSnapshotAt) || after.Replication.AppliedSeq != before.Replication.AppliedSeq {
		t.Fatalf("after a restart: %+v, before: %+v", after.Replication, before.Replication)
	}
	if n := len(secondaryLog(t, west, ws.ID)); n != applied {
		t.Fatalf("the restarted secondary applied %d snapshots again", n-applied)
	}
}
