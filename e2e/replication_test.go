package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/faultproxy"
	"github.com/tandemml/tandem/httpapi"
)

// pairedRegions starts eastus and westus as real processes sharing a
// vault key file, registers each with the other (westus reaches eastus
// through via, when given) and pairs workspace "soak" hot/warm.
func pairedRegions(t *testing.T, stack string, via func(east *Region) string) (east, west *Region) {
	bin := Build(t)
	key := filepath.Join(t.TempDir(), "vault.key")
	eastDB, eastStorage := StackURLs(t, stack)
	westDB, westStorage := StackURLs(t, stack)
	east = StartRegion(t, bin, RegionOptions{Name: "eastus", DB: eastDB, Storage: eastStorage, ExtraArgs: []string{"--key-file", key}})
	west = StartRegion(t, bin, RegionOptions{Name: "westus", DB: westDB, Storage: westStorage, ExtraArgs: []string{"--key-file", key}})
	eastURL := east.Endpoint
	if via != nil {
		eastURL = via(east)
	}
	east.MustCLI(t, "region", "add", "--name", "westus", "--endpoint", west.Endpoint, "--token-file", west.TokenPath)
	west.MustCLI(t, "region", "add", "--name", "eastus", "--endpoint", eastURL, "--token-file", east.TokenPath)
	east.MustCLI(t, "workspace", "create", "--name", "soak")
	east.MustCLI(t, "pair", "create", "--workspace", "soak", "--secondary-region", "westus", "--tier", "hot-warm")
	return east, west
}

// writer writes a mix of resource kinds with blobs to the primary until
// stopped, retrying through the primary's outages, and counts the writes
// the primary acknowledged.
type writer struct {
	acked  atomic.Int64
	stop   chan struct{}
	done   chan struct{}
	errors atomic.Int64
}

func startWriter(t *testing.T, east *Region) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	c := httpapi.NewClient([]string{east.Endpoint}, east.Token)
	go func() {
		defer close(w.done)
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			var err error
			switch i % 5 {
			case 0, 1: // new notebooks, and overwrites of older ones
				path := fmt.Sprintf("nb/%03d.ipynb", i%37)
				_, err = c.UploadNotebook(ctx, "soak", path, strings.NewReader(strings.Repeat(fmt.Sprintf("cell %d\n", i), 50+i%200)))
			case 2:
				_, err = c.SetSecret(ctx, "soak", fmt.Sprintf("s-%d", i%7), []byte(fmt.Sprintf("value-%d", i)))
			case 3:
				desc := fmt.Sprintf("write %d", i)
				_, err = c.UpdateWorkspace(ctx, "soak", tandem.WorkspaceUpdate{Description: &desc})
			case 4:
				_, _, err = c.CreateToken(ctx, fmt.Sprintf("tok-%d", i), "soak")
			}
			if err != nil {
				w.errors.Add(1)
				time.Sleep(20 * time.Millisecond) // the primary is down: try again
				continue
			}
			w.acked.Add(1)
		}
	}()
	t.Cleanup(func() { w.halt() })
	return w
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

type digestOut struct {
	Digest string         `json:"digest"`
	Counts map[string]int `json:"counts"`
}

func digest(t *testing.T, r *Region) (digestOut, error) {
	out, stderr, code := r.CLI(t, "workspace", "digest", "--name", "soak", "-o", "json")
	var d digestOut
	if code != 0 {
		return d, fmt.Errorf("digest on %s: exit %d: %s", r.Name, code, stderr)
	}
	return d, json.Unmarshal([]byte(out), &d)
}

type pairStatus struct {
	Replication tandem.ReplicationStatus `json:"replication"`
}

// waitConverged waits until both regions print the same digest and the
// secondary has applied exactly the primary's last entry.
func waitConverged(t *testing.T, east, west *Region) digestOut {
	var last string
	var d digestOut
	WaitFor(t, 60*time.Second, "the pair to converge", func() (bool, error) {
		a, err := digest(t, east)
		if err != nil {
			return false, err
		}
		b, err := digest(t, west)
		if err != nil {
			return false, err
		}
		out, _, code := west.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
		var st pairStatus
		if code == 0 {
			json.Unmarshal([]byte(out), &st)
		}
		last = fmt.Sprintf("east %s west %s, applied %d of %d (%s %s)", a.Digest, b.Digest,
			st.Replication.AppliedSeq, st.Replication.PrimarySeq, st.Replication.State, st.Replication.Reason)
		d = a
		if a.Digest != b.Digest || st.Replication.AppliedSeq != st.Replication.PrimarySeq {
			return false, fmt.Errorf("%s", last)
		}
		return true, nil
	})
	t.Logf("converged: %s", last)
	return d
}

// TestKillSecondaryAndPrimary writes continuously to the primary while the
// secondary, then the primary, are killed with SIGKILL at random moments
// and restarted. The pair must converge to the same digest with the
// secondary's mirrored log exactly at the primary's last entry: nothing
// lost, nothing applied twice, no gap.
func TestKillSecondaryAndPrimary(t *testing.T) {
	for _, stack := range Stacks() {
		t.Run(stack, func(t *testing.T) { testKillSecondaryAndPrimary(t, stack) })
	}
}

func testKillSecondaryAndPrimary(t *testing.T, stack string) {
	east, west := pairedRegions(t, stack, nil)
	w := startWriter(t, east)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	pause := func() { time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond) }
	for i := 0; i < 4; i++ {
		pause()
		west.Kill()
		pause()
		west.Restart(t)
	}
	for i := 0; i < 2; i++ {
		pause()
		east.Kill()
		pause()
		east.Restart(t)
	}
	pause()
	w.halt()
	d := waitConverged(t, east, west)
	// Every acknowledged write is there, once: the log holds the workspace's
	// create, each acknowledged write, and at most the writes whose answer
	// a kill cut off after they committed.
	out, _, _ := west.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
	var st pairStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if applied, acked := st.Replication.AppliedSeq, w.acked.Load(); applied < acked+1 || applied > acked+1+w.errors.Load() {
		t.Fatalf("secondary applied %d entries; want %d acknowledged writes plus the create, plus at most %d unacknowledged", applied, acked, w.errors.Load())
	}
	if w.acked.Load() < 20 || d.Counts["notebook"] == 0 || d.Counts["secret"] == 0 || d.Counts["token"] == 0 {
		t.Fatalf("too little was written to prove anything: %d acknowledged writes, counts %v", w.acked.Load(), d.Counts)
	}
	t.Logf("%d writes acknowledged, %d refused while the primary was down", w.acked.Load(), w.errors.Load())
}

// TestFaultyLink replicates through a proxy that delays, drops, resets
// and cuts the link between the regions while writes go on; replication
// pauses and resumes with nothing lost.
func TestFaultyLink(t *testing.T) {
	var proxy *faultproxy.Proxy
	east, west := pairedRegions(t, StackSQLiteFile, func(east *Region) string {
		proxy = faultproxy.New(east.Addr)
		if err := proxy.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Close() })
		return "http://" + proxy.Addr()
	})
	w := startWriter(t, east)
	time.Sleep(300 * time.Millisecond)
	proxy.SetDelay(30 * time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	proxy.SetDropRate(0.5)
	time.Sleep(300 * time.Millisecond)
	proxy.SetDropRate(0)
	proxy.ResetAll()
	time.Sleep(200 * time.Millisecond)
	proxy.Cut()
	time.Sleep(500 * time.Millisecond)
	// While cut, the secondary says it is stopped and why.
	out, _, _ := west.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
	var st pairStatus
	json.Unmarshal([]byte(out), &st)
	proxy.Restore()
	proxy.SetDelay(0)
	time.Sleep(200 * time.Millisecond)
	w.halt()
	waitConverged(t, east, west)
	if s := proxy.Stats(); s.Resets == 0 || s.Refused == 0 {
		t.Fatalf("the proxy injected no faults: %+v", s)
	}
	if st.Replication.State != "stopped" || st.Replication.Reason == "" {
		t.Fatalf("while the link was cut the secondary reported %+v, want stopped with a reason", st.Replication)
	}
}
