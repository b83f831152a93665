package server_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// ackLog records the writes a client saw acknowledged.
type ackLog struct {
	mu    sync.Mutex
	paths []string
}

func (a *ackLog) add(p string) { a.mu.Lock(); a.paths = append(a.paths, p); a.mu.Unlock() }
func (a *ackLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.paths...)
}

// writeLoop uploads notebooks through c until stop closes, retrying on
// refusals (a fenced primary) and recording every acknowledged write.
func writeLoop(c *httpapi.Client, prefix string, acks *ackLog, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		p := fmt.Sprintf("%s/%04d.ipynb", prefix, i)
		if _, err := c.UploadNotebook(context.Background(), "vision", p, strings.NewReader(p)); err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		acks.add(p)
	}
}

func notebookSet(t *testing.T, r *running) map[string]bool {
	t.Helper()
	list, err := r.admin.ListNotebooks(context.Background(), "vision")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, nb := range list {
		out[nb.Path] = true
	}
	return out
}

// TestPlannedFailoverAndFailback fails over under continuous writes from
// several clients that know both endpoints: every acknowledged write is in
// the new primary, clients follow it, and after failback the digests match.
func TestPlannedFailoverAndFailback(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	_, token, err := east.admin.CreateToken(ctx, "user", "vision")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		// A user's token and both endpoints, as config.json gives them.
		go writeLoop(httpapi.NewClient([]string{east.Endpoint(), west.Endpoint()}, token), fmt.Sprintf("c%d", i), acks, stop, &wg)
	}
	time.Sleep(300 * time.Millisecond)

	rec, err := west.admin.Failover(ctx, "vision", tandem.FailoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != tandem.FailoverPlanned || rec.ToRegion != "westus" || rec.NewEpoch != 2 || rec.AppliedSeq != rec.PrimarySeq || rec.RTOSeconds <= 0 {
		t.Fatalf("failover record %+v, want a planned move to westus at epoch 2 with nothing behind", rec)
	}
	time.Sleep(300 * time.Millisecond) // writes go on, now to westus
	close(stop)
	wg.Wait()

	have := notebookSet(t, west)
	for _, p := range acks.all() {
		if !have[p] {
			t.Fatalf("acknowledged write %s is not in the new primary", p)
		}
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "x.ipynb", unrewindable("x")); tandem.ErrorCode(err) != tandem.ENotPrimary || !strings.Contains(err.Error(), west.Endpoint()) {
		t.Fatalf("write to the old primary: %v, want NotPrimary naming %s", err, west.Endpoint())
	}
	st, err := east.admin.PairStatus(ctx, "vision")
	if err != nil || st.Role != tandem.RoleSecondary || st.Epoch != 2 {
		t.Fatalf("old primary's pair: %+v, %v; want secondary at epoch 2", st, err)
	}

	// Failback, once eastus has caught up.
	waitSameDigest(t, east, west, "vision")
	back, err := west.admin.Failover(ctx, "vision", tandem.FailoverOptions{Failback: true}) // forwarded to eastus
	if err != nil || back.Kind != tandem.FailoverFailback || back.ToRegion != "eastus" || back.NewEpoch != 3 {
		t.Fatalf("failback: %+v, %v", back, err)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "after-failback.ipynb", strings.NewReader("y")); err != nil {
		t.Fatalf("write after failback: %v", err)
	}
	waitSameDigest(t, east, west, "vision")
	hist, err := east.admin.History(ctx, "vision")
	if err != nil || len(hist) != 1 || hist[0].Kind != tandem.FailoverFailback {
		t.Fatalf("eastus history: %+v, %v; want the failback it ran", hist, err)
	}
	if hist, _ := west.admin.History(ctx, "vision"); len(hist) != 1 || hist[0].Kind != tandem.FailoverPlanned {
		t.Fatalf("westus history: %+v; want the planned failover it ran", hist)
	}
	if _, err := east.admin.Failover(ctx, "vision", tandem.FailoverOptions{Failback: true}); tandem.ErrorCode(err) != tandem.EConflict {
		t.Fatalf("failback to the current primary: %v, want Conflict", err)
	}
}

// TestForcedFailoverDivergence cuts the primary off, keeps writing to it,
// forces the secondary's promotion and writes there; when the link comes
// back the old primary learns the higher epoch, refuses writes, and sets
// its unreplicated writes aside: every acknowledged write is in the new
// primary or in the divergence.
func TestForcedFailoverDivergence(t *testing.T) {
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
	if err := east.admin.CreateWorkspace(ctx, &tandem.Workspace{Name: "vision"}); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		east.admin.UploadNotebook(ctx, "vision", fmt.Sprintf("before/%d.ipynb", i), strings.NewReader("b"))
	}
	waitSameDigest(t, east, west, "vision")

	toEast.Cut()
	toWest.Cut()
	// Write only once the secondary has noticed it is cut off.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := west.admin.PairStatus(ctx, "vision")
		if err == nil && st.Replication.State == "stopped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the secondary did not notice the cut: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var stale []string // acknowledged by the cut-off primary
	for i := 0; i < 5; i++ {
		p := fmt.Sprintf("stale/%d.ipynb", i)
		if _, err := east.admin.UploadNotebook(ctx, "vision", p, strings.NewReader("s")); err != nil {
			t.Fatal(err)
		}
		stale = append(stale, p)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "before/0.ipynb", strings.NewReader("changed while cut off")); err != nil {
		t.Fatal(err)
	}
	rec, err := west.admin.Failover(ctx, "vision", tandem.FailoverOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != tandem.FailoverForced || rec.NewEpoch != 2 {
		t.Fatalf("forced failover: %+v", rec)
	}
	if _, err := west.admin.UploadNotebook(ctx, "vision", "after/0.ipynb", strings.NewReader("a")); err != nil {
		t.Fatalf("write to the promoted secondary: %v", err)
	}
	toEast.Restore()
	toWest.Restore()

	deadline = time.Now().Add(20 * time.Second)
	for {
		st, err := east.admin.PairStatus(ctx, "vision")
		if err == nil && st.Role == tandem.RoleSecondary && st.Epoch == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old primary did not demote itself: %+v, %v", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "late.ipynb", unrewindable("l")); tandem.ErrorCode(err) != tandem.ENotPrimary {
		t.Fatalf("write to the demoted primary: %v, want NotPrimary", err)
	}
	waitSameDigest(t, east, west, "vision")

	divs, err := east.admin.ListDivergences(ctx, "vision")
	if err != nil || len(divs) != 1 {
		t.Fatalf("divergences on the old primary: %d, %v; want one", len(divs), err)
	}
	d := divs[0]
	inDivergence := map[string]bool{}
	for _, c := range d.Changes {
		inDivergence[c.Name] = true
	}
	onWest := notebookSet(t, west)
	for _, p := range stale {
		if !inDivergence[p] || onWest[p] {
			t.Fatalf("acknowledged stale write %s: in divergence %v, on the new primary %v; want set aside", p, inDivergence[p], onWest[p])
		}
	}
	if !inDivergence["before/0.ipynb"] || readNotebook(t, east, "vision", "before/0.ipynb") != "b" {
		t.Fatal("the overwrite made while cut off was not set aside and reverted")
	}
	var kept []string
	east.Blobs.List(ctx, d.BlobsFolder, func(b tandem.BlobRef) error { kept = append(kept, b.Key); return nil })
	if len(kept) != 6 {
		t.Fatalf("kept %d blobs of the divergence, want 6: %v", len(kept), kept)
	}
	// Re-apply the set-aside writes in the new primary, then discard.
	applied, err := east.admin.ApplyDivergence(ctx, "vision", d.ID, nil)
	if err != nil || len(applied.Applied) != len(d.Changes) {
		t.Fatalf("apply divergence: %+v, %v", applied, err)
	}
	onWest = notebookSet(t, west)
	for _, p := range stale {
		if !onWest[p] {
			t.Fatalf("re-applied write %s is not in the new primary", p)
		}
	}
	if got := readNotebook(t, west, "vision", "before/0.ipynb"); got != "changed while cut off" {
		t.Fatalf("re-applied overwrite: westus holds %q", got)
	}
	waitSameDigest(t, east, west, "vision")
	if err := east.admin.DiscardDivergence(ctx, "vision", d.ID); err != nil {
		t.Fatal(err)
	}
	if divs, _ := east.admin.ListDivergences(ctx, "vision"); len(divs) != 0 {
		t.Fatalf("divergence still listed after discard: %d", len(divs))
	}
}

// unrewindable is a body the client cannot send twice, so a NotPrimary
// answer comes back to the caller instead of being followed.
func unrewindable(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }
