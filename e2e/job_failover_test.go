package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/faultproxy"
	"github.com/tandemml/tandem/httpapi"
)

// pairOpts configures startPair.
type pairOpts struct {
	extra []string // more `tandem server` arguments for both regions
	// proxied puts a fault proxy on each direction of the peer traffic:
	// eastus reaches westus through toWest, westus reaches eastus through
	// toEast. Clients reach both directly.
	proxied bool
}

type pairRun struct {
	east, west     *Region
	toEast, toWest *faultproxy.Proxy
}

// startPair starts eastus and westus as processes and pairs workspace
// "soak" hot/warm, eastus the primary.
func startPair(t *testing.T, o pairOpts) *pairRun {
	bin := Build(t)
	key := filepath.Join(t.TempDir(), "vault.key")
	args := append([]string{"--key-file", key}, o.extra...)
	pr := &pairRun{
		east: StartRegion(t, bin, RegionOptions{Name: "eastus", ExtraArgs: args}),
		west: StartRegion(t, bin, RegionOptions{Name: "westus", ExtraArgs: args}),
	}
	eastURL, westURL := pr.east.Endpoint, pr.west.Endpoint
	if o.proxied {
		proxy := func(target string) *faultproxy.Proxy {
			p := faultproxy.New(target)
			if err := p.Open(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return p
		}
		pr.toEast, pr.toWest = proxy(pr.east.Addr), proxy(pr.west.Addr)
		eastURL, westURL = "http://"+pr.toEast.Addr(), "http://"+pr.toWest.Addr()
	}
	pr.east.MustCLI(t, "region", "add", "--name", "westus", "--endpoint", westURL, "--token-file", pr.west.TokenPath)
	pr.west.MustCLI(t, "region", "add", "--name", "eastus", "--endpoint", eastURL, "--token-file", pr.east.TokenPath)
	pr.east.MustCLI(t, "workspace", "create", "--name", "soak")
	pr.east.MustCLI(t, "pair", "create", "--workspace", "soak", "--secondary-region", "westus", "--tier", "hot-warm")
	return pr
}

func showJob(t *testing.T, r *Region, name string) (*tandem.Job, error) {
	out, stderr, code := r.CLI(t, "job", "show", "--workspace", "soak", "--name", name, "-o", "json")
	if code != 0 {
		return nil, fmt.Errorf("job show %s on %s: exit %d: %s", name, r.Name, code, stderr)
	}
	var j tandem.Job
	return &j, json.Unmarshal([]byte(out), &j)
}

func waitJob(t *testing.T, r *Region, name, what string, ok func(*tandem.Job) bool) *tandem.Job {
	t.Helper()
	var j *tandem.Job
	WaitFor(t, 90*time.Second, fmt.Sprintf("job %s on %s: %s", name, r.Name, what), func() (bool, error) {
		var err error
		if j, err = showJob(t, r, name); err != nil {
			return false, err
		}
		return ok(j), fmt.Errorf("status %s, %d outputs uploaded, error %q", j.Status, len(j.Outputs), j.Error)
	})
	return j
}

// TestForcedFailoverResubmitsJob: a command job with resubmit_on_failover
// checkpoints a counter into its output directory; the primary is killed
// with SIGKILL after at least one upload of that output reached the
// secondary; an operator forces the failover. The new primary marks the
// job Interrupted, resubmits it, and the resubmission resumes from the
// checkpoint and completes. The old primary, restarted, demotes itself and
// does not claim the job failed.
func TestForcedFailoverResubmitsJob(t *testing.T) {
	pr := startPair(t, pairOpts{extra: []string{"--job-output-sync", "300ms"}})
	east, west := pr.east, pr.west
	dir := t.TempDir()
	job := filepath.Join(dir, "train.yml")
	writeFile(t, job, `$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
name: train
display_name: counts to 30, resuming from its checkpoint
command: |
  s=0
  if [ -f ${{outputs.ckpt}}/step ]; then s=$(cat ${{outputs.ckpt}}/step); fi
  echo "start at $s"
  while [ $s -lt 30 ]; do
    s=$((s+1))
    echo $s > ${{outputs.ckpt}}/step.tmp && mv ${{outputs.ckpt}}/step.tmp ${{outputs.ckpt}}/step
    sleep 0.3
  done
  echo "done at $s"
environment: azureml:AzureML-sklearn-1.5@latest
outputs:
  ckpt:
    type: uri_folder
resubmit_on_failover: true
`)
	east.MustCLI(t, "job", "create", "--workspace", "soak", "-f", job)
	// A checkpoint past step 0 has been uploaded and replicated.
	waitJob(t, west, "train", "Running with a replicated checkpoint", func(j *tandem.Job) bool {
		for _, f := range j.Outputs {
			if f.Path == "ckpt/step" {
				return j.Status == tandem.JobRunning
			}
		}
		return false
	})

	east.Kill()
	west.MustCLI(t, "pair", "failover", "--workspace", "soak", "--force", "--yes")

	orig := waitJob(t, west, "train", "Interrupted", func(j *tandem.Job) bool { return j.Status == tandem.JobInterrupted })
	if orig.ResubmittedAs != "train_resubmit2" || orig.InterruptedEpoch != 2 || !strings.Contains(orig.Error, "epoch 2") {
		t.Fatalf("interrupted job: resubmitted_as %q, epoch %d, error %q; want train_resubmit2 at epoch 2", orig.ResubmittedAs, orig.InterruptedEpoch, orig.Error)
	}
	table := west.MustCLI(t, "job", "show", "--workspace", "soak", "--name", "train")
	if !regexp.MustCompile(`Status:\s+Interrupted`).MatchString(table) || !regexp.MustCompile(`Resubmitted as:\s+train_resubmit2`).MatchString(table) {
		t.Fatalf("job show table does not show the interruption and the link:\n%s", table)
	}
	again := waitJob(t, west, "train_resubmit2", "ended", func(j *tandem.Job) bool { return tandem.JobDone(j.Status) })
	if again.Status != tandem.JobCompleted || again.ResubmittedFrom != "train" {
		t.Fatalf("resubmission: status %s (%s), resubmitted_from %q; want Completed from train", again.Status, again.Error, again.ResubmittedFrom)
	}
	log, stderr, code := west.CLI(t, "job", "stream", "--workspace", "soak", "--name", "train_resubmit2")
	if code != 0 {
		t.Fatalf("job stream: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`start at (\d+)`).FindStringSubmatch(log)
	if m == nil || m[1] == "0" || !strings.Contains(log, "done at 30") {
		t.Fatalf("the resubmission did not resume from the checkpoint:\n%s", log)
	}
	t.Logf("resubmission resumed at step %s", m[1])
	// The original's log, as uploaded while it ran, is readable in the new
	// primary.
	if log, _, _ := west.CLI(t, "job", "stream", "--workspace", "soak", "--name", "train"); !strings.Contains(log, "start at 0") {
		t.Fatalf("the interrupted job's uploaded log is missing in the new primary: %q", log)
	}

	// The old primary comes back: it demotes itself before it serves and
	// leaves the job to the new primary (no "server restarted" failure).
	east.Restart(t)
	waitJob(t, east, "train", "Interrupted, replicated from the new primary", func(j *tandem.Job) bool {
		return j.Status == tandem.JobInterrupted && j.ResubmittedAs == "train_resubmit2"
	})
	waitJob(t, east, "train_resubmit2", "Completed, replicated", func(j *tandem.Job) bool { return j.Status == tandem.JobCompleted })
}

// TestStalePrimaryCutOff: the primary is cut off from its secondary (both
// directions of peer traffic go through fault proxies) and keeps taking
// writes from its clients; the secondary is force-promoted and takes
// writes too. Once the link heals the old primary learns the higher epoch
// and refuses writes with NotPrimary; the writes it took after the cut are
// set aside in a divergence. Every acknowledged write is in the new
// primary or in the divergence, and no epoch has writes accepted by both
// regions.
func TestStalePrimaryCutOff(t *testing.T) {
	pr := startPair(t, pairOpts{proxied: true})
	east, west := pr.east, pr.west
	ctx := context.Background()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(east.MustCLI(t, "token", "create", "--name", "writer", "--workspace", "soak", "-o", "json")), &tok); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 20*time.Second, "the token to reach westus", func() (bool, error) {
		_, err := httpapi.NewClient([]string{west.Endpoint}, tok.Token).FindWorkspace(ctx, "soak")
		return err == nil, err
	})

	// One writer per region, each knowing only its region (the stale
	// primary's clients cannot see the failover).
	type ack struct {
		path  string
		after bool // begun after the link was cut
	}
	var (
		mu      sync.Mutex
		acked   = map[string][]ack{}
		refused = map[string]error{}
		cut     bool
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for _, r := range []*Region{east, west} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := httpapi.NewClient([]string{r.Endpoint}, tok.Token)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				after := cut
				mu.Unlock()
				p := fmt.Sprintf("%s/%05d.ipynb", r.Name, i)
				// A body that cannot be replayed: the client does not follow
				// a NotPrimary answer to the primary it names.
				_, err := c.UploadNotebook(ctx, "soak", p, io.MultiReader(strings.NewReader(p)))
				mu.Lock()
				if err != nil {
					refused[r.Name] = err
				} else {
					acked[r.Name] = append(acked[r.Name], ack{p, after})
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	pr.toEast.Cut()
	pr.toWest.Cut()
	mu.Lock()
	cut = true // writes begun from now on cannot replicate
	mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	west.MustCLI(t, "pair", "failover", "--workspace", "soak", "--force", "--yes")
	mu.Lock()
	eastBefore := len(acked["eastus"])
	mu.Unlock()
	time.Sleep(700 * time.Millisecond) // both take writes: east at epoch 1, west at epoch 2
	mu.Lock()
	eastDuring, westDuring := len(acked["eastus"])-eastBefore, len(acked["westus"])
	mu.Unlock()
	if eastDuring == 0 || westDuring == 0 {
		t.Fatalf("while cut off: %d writes acknowledged by the stale primary after the failover, %d by the new one; want both > 0", eastDuring, westDuring)
	}

	pr.toEast.Restore()
	pr.toWest.Restore()
	WaitFor(t, 30*time.Second, "the old primary to learn the higher epoch", func() (bool, error) {
		out, _, code := east.CLI(t, "pair", "status", "--workspace", "soak", "-o", "json")
		var st tandem.PairStatus
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			return false, fmt.Errorf("pair status: exit %d", code)
		}
		return st.Role == tandem.RoleSecondary && st.Epoch == 2, fmt.Errorf("role %s epoch %d", st.Role, st.Epoch)
	})
	_, err := httpapi.NewClient([]string{east.Endpoint}, tok.Token).UploadNotebook(ctx, "soak", "late.ipynb", io.MultiReader(strings.NewReader("late")))
	if tandem.ErrorCode(err) != tandem.ENotPrimary || !strings.Contains(err.Error(), "westus") {
		t.Fatalf("a write to the demoted primary: %v; want NotPrimary naming westus", err)
	}
	close(stop)
	wg.Wait()

	ws, err := httpapi.NewClient([]string{west.Endpoint}, west.Token).FindWorkspace(ctx, "soak")
	if err != nil {
		t.Fatal(err)
	}
	// The new primary's whole log, read from the replication feed.
	feed := httpapi.PeerClient("eastus", &tandem.Peer{Name: "westus", Endpoint: west.Endpoint}, west.Token)
	var westLog []*tandem.Change
	for after := int64(0); ; {
		b, err := feed.Changes(ctx, ws.ID, after, 1000, 0)
		if err != nil {
			t.Fatal(err)
		}
		westLog = append(westLog, b.Changes...)
		if b.ScannedTo >= b.LastSeq || len(b.Changes) == 0 {
			break
		}
		after = b.ScannedTo
	}
	divs, err := httpapi.NewClient([]string{east.Endpoint}, east.Token).ListDivergences(ctx, "soak")
	if err != nil {
		t.Fatal(err)
	}
	if len(divs) != 1 {
		t.Fatalf("%d divergences on the old primary; want 1", len(divs))
	}
	// Which regions accepted writes at each epoch: exactly one.
	origins := map[int64]map[string]bool{}
	note := func(c *tandem.Change) {
		if origins[c.Epoch] == nil {
			origins[c.Epoch] = map[string]bool{}
		}
		origins[c.Epoch][c.Origin] = true
	}
	inWest, setAside := map[string]int64{}, map[string]int64{}
	for _, c := range westLog {
		note(c)
		inWest[c.Name] = c.Epoch
	}
	for _, c := range divs[0].Changes {
		note(c)
		setAside[c.Name] = c.Epoch
		if c.Origin != "eastus" || c.Epoch != 1 {
			t.Fatalf("divergence entry %d (%s) from %s at epoch %d; want eastus at epoch 1", c.Seq, c.Name, c.Origin, c.Epoch)
		}
	}
	for epoch, regions := range origins {
		if len(regions) != 1 {
			t.Fatalf("epoch %d has writes accepted by %v; want one region", epoch, regions)
		}
	}
	if !origins[2]["westus"] {
		t.Fatalf("no writes of westus at epoch 2: %v", origins)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acked["eastus"] {
		_, w := inWest[a.path]
		_, d := setAside[a.path]
		switch {
		case !w && !d:
			t.Fatalf("write %s acknowledged by the stale primary is neither in the new primary nor set aside", a.path)
		case w && d:
			t.Fatalf("write %s is both in the new primary and set aside", a.path)
		case a.after && !d:
			t.Fatalf("write %s, made on the stale primary after the cut, is not in the divergence", a.path)
		}
	}
	for _, a := range acked["westus"] {
		if e, ok := inWest[a.path]; !ok || e != 2 {
			t.Fatalf("write %s acknowledged by the new primary: in its log %v at epoch %d; want epoch 2", a.path, ok, e)
		}
	}
	if tandem.ErrorCode(refused["westus"]) != tandem.ENotPrimary {
		t.Fatalf("the new primary's writer was never refused before the failover (last refusal %v); want NotPrimary", refused["westus"])
	}
	t.Logf("stale primary: %d acknowledged (%d set aside), new primary: %d acknowledged; %d entries in the new primary's log",
		len(acked["eastus"]), len(setAside), len(acked["westus"]), len(westLog))
}
