// Command failover measures Tandem's failover of a hot/warm pair with real
// `tandem server` processes on loopback, as issue 6 asks and
// docs/benchmarks.md ("Failover") records:
//
//   - planned: under a steady load of notebook uploads (default 200/s,
//     open loop, from a client that knows both endpoints and holds a
//     workspace token, as a user with config.json does), `Failover` is
//     sent to the secondary. RTO is from the call's start to the first
//     write the new primary acknowledged; the server's own rto_seconds is
//     reported beside it. Every acknowledged write must be in the new
//     primary.
//   - forced: under the same load the primary is killed with SIGKILL and a
//     forced `Failover` is sent to the secondary at once. RTO is from the
//     kill to the first write the new primary acknowledged; RPO is the
//     record's entries_at_risk and seconds_at_risk and the acknowledged
//     writes the new primary lacks. The old primary is then restarted;
//     once it has demoted itself, every acknowledged write must be in the
//     new primary or in its divergence.
//
// Every trial starts two fresh processes on fresh data dirs, pairs the
// workspace and runs one failover: trials are independent, and no trial
// measures a failback. Nothing in the server is instrumented: the program
// uses the HTTP API and the CLI only. Run it from the module root:
//
//	go run ./bench/failover [flags]
//
// It builds ./cmd/tandem without -race (or uses -bin), keeps everything in
// a temp dir under -tmp, removes it at the end (unless -keep), and prints
// its results as markdown, also written to -out. It exits with status 1 if
// an acknowledged write was lost or a restarted old primary did not demote
// itself within -demote-timeout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/e2e"
	"github.com/tandemml/tandem/httpapi"
)

type config struct {
	bin, tmp, out string
	keep          bool
	trials        int
	planned       bool
	forced        bool
	rate          int
	size          int
	warmup        time.Duration
	jitter        time.Duration
	after         time.Duration
	demoteTimeout time.Duration
	writeRestart  bool
	quietWait     time.Duration
	quietCPU      float64
}

const workspace = "soak"

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "", "tandem binary to run (default: go build ./cmd/tandem, without -race, into the temp dir)")
	flag.StringVar(&cfg.tmp, "tmp", os.TempDir(), "where the temp dir holding the regions' data goes")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown results to this file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (data and server logs) at the end")
	flag.IntVar(&cfg.trials, "trials", 10, "trials of each kind of failover")
	flag.BoolVar(&cfg.planned, "planned", true, "measure planned failovers")
	flag.BoolVar(&cfg.forced, "forced", true, "measure forced failovers")
	flag.IntVar(&cfg.rate, "rate", 200, "offered write rate (notebook uploads/s, open loop)")
	flag.IntVar(&cfg.size, "size", 512, "bytes of each notebook")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the failover (plus a random part up to -jitter)")
	flag.DurationVar(&cfg.jitter, "jitter", time.Second, "random extra load before the failover, so that it falls at random points of the replication cycle")
	flag.DurationVar(&cfg.after, "after", 1500*time.Millisecond, "load after the failover (for forced failovers: before the old primary restarts)")
	flag.DurationVar(&cfg.demoteTimeout, "demote-timeout", 30*time.Second, "how long the restarted old primary has to demote itself before the trial counts it as a failure")
	flag.BoolVar(&cfg.writeRestart, "write-during-restart", true, "keep writing while the old primary restarts and demotes itself (a client with config.json tries it first); false stops the load before the restart")
	flag.DurationVar(&cfg.quietWait, "quiet-wait", 2*time.Minute, "before each trial, wait up to this long for other processes to leave the CPUs alone (0: do not wait)")
	flag.Float64Var(&cfg.quietCPU, "quiet-cpu", 0.3, "CPUs other processes may keep busy for the machine to count as quiet")
	flag.Parse()
	if cfg.trials <= 0 || cfg.rate <= 0 {
		log.Fatal("-trials and -rate must be positive")
	}

	root, err := os.MkdirTemp(cfg.tmp, "tandem-bench-failover-")
	if err != nil {
		log.Fatal(err)
	}
	t := newRunner(root, nil)
	if !cfg.keep {
		t.Cleanup(func() { os.RemoveAll(root) })
	} else {
		t.Cleanup(func() { log.Printf("kept %s", root) })
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		t.Fatalf("interrupted (%v)", s)
	}()
	if cfg.bin == "" {
		cfg.bin = filepath.Join(root, "tandem")
		cmd := exec.Command("go", "build", "-o", cfg.bin, "./cmd/tandem") // without -race
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/tandem (run from the module root): %v\n%s", err, out)
		}
	}
	log.Printf("tandem binary %s; data under %s", cfg.bin, root)

	var report strings.Builder
	fmt.Fprintf(&report, "%d trials of each kind, fresh processes per trial; load: %d notebook uploads/s of %d bytes, open loop, client with both endpoints and a workspace token.\n\n",
		cfg.trials, cfg.rate, cfg.size)
	var planned []plannedResult
	var forced []forcedResult
	if cfg.planned {
		for i := range cfg.trials {
			planned = append(planned, plannedTrial(t, cfg, root, i))
		}
		report.WriteString(plannedTable(planned))
	}
	if cfg.forced {
		for i := range cfg.trials {
			forced = append(forced, forcedTrial(t, cfg, root, i))
		}
		report.WriteString(forcedTable(forced))
	}
	fmt.Println()
	fmt.Print(report.String())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report.String()), 0o644); err != nil {
			log.Printf("write %s: %v", cfg.out, err)
		}
	}
	for _, r := range planned {
		if r.lost > 0 {
			t.Errorf("planned trial %d lost %d acknowledged writes", r.trial, r.lost)
		}
	}
	for _, r := range forced {
		if !r.demoted {
			t.Errorf("forced trial %d: the restarted old primary did not demote itself within %v", r.trial, cfg.demoteTimeout)
		}
		if r.neither > 0 {
			t.Errorf("forced trial %d: %d acknowledged writes neither in the new primary nor set aside", r.trial, r.neither)
		}
	}
	t.Finish()
	if t.Failed() {
		os.Exit(1)
	}
}

// pair is eastus (primary) and westus (secondary) with workspace "soak"
// paired hot/warm, and a workspace token that works in both.
type pair struct {
	east, west *e2e.Region
	token      string
}

// startPair starts eastus and westus as real processes sharing a vault key
// file in dir, registers each with the other and pairs the workspace
// hot/warm, as e2e's pairedRegions does; then creates a workspace token on
// eastus and waits until it works in westus.
func startPair(t *runner, bin, dir string) *pair {
	key := filepath.Join(dir, "vault.key")
	p := &pair{}
	p.east = e2e.StartRegion(t, bin, e2e.RegionOptions{Name: "eastus", DataDir: filepath.Join(dir, "eastus"), ExtraArgs: []string{"--key-file", key}})
	p.west = e2e.StartRegion(t, bin, e2e.RegionOptions{Name: "westus", DataDir: filepath.Join(dir, "westus"), ExtraArgs: []string{"--key-file", key}})
	p.east.MustCLI(t, "region", "add", "--name", "westus", "--endpoint", p.west.Endpoint, "--token-file", p.west.TokenPath)
	p.west.MustCLI(t, "region", "add", "--name", "eastus", "--endpoint", p.east.Endpoint, "--token-file", p.east.TokenPath)
	p.east.MustCLI(t, "workspace", "create", "--name", workspace)
	p.east.MustCLI(t, "pair", "create", "--workspace", workspace, "--secondary-region", "westus", "--tier", "hot-warm")
	var tok struct {
		Token string `json:"token"`
	}
	out := p.east.MustCLI(t, "token", "create", "--name", "writer", "--workspace", workspace, "-o", "json")
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("token create: %v: %s", err, out)
	}
	p.token = tok.Token
	e2e.WaitFor(t, 30*time.Second, "the token to reach westus", func() (bool, error) {
		_, err := httpapi.NewClient([]string{p.west.Endpoint}, p.token).FindWorkspace(context.Background(), workspace)
		return err == nil, err
	})
	return p
}

func (p *pair) load(cfg config, prefix string) *load {
	return startLoad([]string{p.east.Endpoint, p.west.Endpoint}, p.token, workspace, prefix, cfg.rate, cfg.size)
}

// notebooks returns the paths of the workspace's notebooks in r.
func notebooks(t *runner, r *e2e.Region, token string) map[string]bool {
	list, err := httpapi.NewClient([]string{r.Endpoint}, token).ListNotebooks(context.Background(), workspace)
	if err != nil {
		t.Fatalf("list notebooks in %s: %v", r.Name, err)
	}
	m := make(map[string]bool, len(list))
	for _, nb := range list {
		m[nb.Path] = true
	}
	return m
}

// trialRunner returns a runner for one trial, with its own data dir,
// which its finish stops and removes.
func trialRunner(t *runner, cfg config, root, name string) (*runner, string) {
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	tr := newRunner(dir, t)
	if !cfg.keep {
		tr.Cleanup(func() { os.RemoveAll(dir) })
	}
	return tr, dir
}

func pause(cfg config) time.Duration {
	d := cfg.warmup
	if cfg.jitter > 0 {
		d += rand.N(cfg.jitter)
	}
	return d
}

type plannedResult struct {
	trial      int
	rto        time.Duration // call start to first write acknowledged by westus
	call       time.Duration // the Failover call, as the client saw it
	serverRTO  float64       // the record's rto_seconds
	acked      int
	refused    map[string]int
	lost       int // acknowledged, not in the new primary
	lat99      time.Duration
	othersCPUs float64
}

func plannedTrial(t *runner, cfg config, root string, i int) plannedResult {
	tr, dir := trialRunner(t, cfg, root, fmt.Sprintf("planned-%02d", i))
	defer tr.Finish()
	waitQuiet(fmt.Sprintf("planned trial %d", i), cfg.quietCPU, cfg.quietWait)
	p := startPair(tr, cfg.bin, dir)
	admin := httpapi.NewClient([]string{p.west.Endpoint}, p.west.Token)
	l := p.load(cfg, fmt.Sprintf("p%02d", i))
	time.Sleep(pause(cfg))

	cpu0 := takeCPU(p.east.PID(), p.west.PID())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	rec, err := admin.Failover(ctx, workspace, tandem.FailoverOptions{})
	callEnd := time.Now()
	if err != nil {
		l.halt()
		tr.Fatalf("planned trial %d: failover: %v", i, err)
	}
	time.Sleep(cfg.after)
	others := takeCPU(p.east.PID(), p.west.PID()).othersSince(cpu0)
	l.halt()

	writes := l.snapshot()
	res := plannedResult{trial: i, call: callEnd.Sub(start), serverRTO: rec.RTOSeconds, refused: errorCodes(writes), othersCPUs: others}
	first, ok := firstAck(writes, p.west.Addr, start)
	if !ok {
		tr.Fatalf("planned trial %d: westus acknowledged no write in %v after the failover", i, cfg.after)
	}
	res.rto = first.Sub(start)
	onWest := notebooks(tr, p.west, p.token)
	for _, w := range writes {
		if w.err != nil {
			continue
		}
		res.acked++
		if !onWest[w.path] {
			res.lost++
			log.Printf("planned trial %d: LOST: %s acknowledged by %s at %s is not in the new primary", i, w.path, w.acker, w.end.Format(time.RFC3339Nano))
		}
	}
	lat50, lat99 := latencies(writes, start)
	res.lat99 = lat99
	log.Printf("planned trial %d: write latency before the failover p50 %v p99 %v", i, lat50.Round(time.Millisecond), lat99.Round(time.Millisecond))
	log.Printf("planned trial %d: RTO %v (call %v, server rto_seconds %.3f), %d acknowledged, refused %v, lost %d, other processes %.2f CPUs",
		i, res.rto.Round(time.Millisecond), res.call.Round(time.Millisecond), res.serverRTO, res.acked, res.refused, res.lost, others)
	return res
}

type forcedResult struct {
	trial      int
	rto        time.Duration // kill to first write acknowledged by westus
	call       time.Duration // the Failover call
	serverRTO  float64
	entries    int64   // record's entries_at_risk
	seconds    float64 // record's seconds_at_risk
	acked      int
	ackedPre   int           // acknowledged by eastus before the kill
	lostPre    int           // of those, missing from the new primary
	lostAge    time.Duration // age at the kill of the oldest of them
	staleAcks  int           // acknowledged by eastus after its restart (before it demoted itself)
	setAside   int           // acknowledged and in eastus's divergence
	demoted    bool          // eastus demoted itself within -demote-timeout
	heldByOld  int           // if not: acknowledged, only in eastus's rows
	neither    int           // acknowledged, in neither
	both       int           // in the new primary and set aside
	demote     time.Duration // restart to demoted
	lat99      time.Duration
	othersCPUs float64
}

func forcedTrial(t *runner, cfg config, root string, i int) forcedResult {
	tr, dir := trialRunner(t, cfg, root, fmt.Sprintf("forced-%02d", i))
	defer tr.Finish()
	waitQuiet(fmt.Sprintf("forced trial %d", i), cfg.quietCPU, cfg.quietWait)
	p := startPair(tr, cfg.bin, dir)
	admin := httpapi.NewClient([]string{p.west.Endpoint}, p.west.Token)
	eastAdmin := httpapi.NewClient([]string{p.east.Endpoint}, p.east.Token)
	l := p.load(cfg, fmt.Sprintf("f%02d", i))
	time.Sleep(pause(cfg))

	// eastus is left out: its ticks go with it when it is killed.
	cpu0 := takeCPU(p.west.PID())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kill := time.Now()
	p.east.Kill()
	start := time.Now()
	rec, err := admin.Failover(ctx, workspace, tandem.FailoverOptions{Force: true})
	callEnd := time.Now()
	if err != nil {
		l.halt()
		tr.Fatalf("forced trial %d: failover: %v", i, err)
	}
	time.Sleep(cfg.after)
	others := takeCPU(p.west.PID()).othersSince(cpu0)
	if !cfg.writeRestart {
		l.halt()
	}
	restart := time.Now()
	p.east.Restart(tr)
	demotedOK, why := waitDemoted(ctx, eastAdmin, rec.NewEpoch, cfg.demoteTimeout)
	demoted := time.Now()
	if !demotedOK {
		saved := filepath.Join(cfg.tmp, fmt.Sprintf("bench-failover-%s-forced-%02d-eastus.log", time.Now().Format("150405"), i))
		if err := os.WriteFile(saved, []byte(p.east.Logs()), 0o644); err != nil {
			saved = err.Error()
		}
		log.Printf("forced trial %d: FAILED: the restarted old primary did not demote itself within %v (%s); its log: %s", i, cfg.demoteTimeout, why, saved)
	}
	time.Sleep(200 * time.Millisecond) // writes go on; the next ones are NotPrimary at eastus and followed to westus
	l.halt()

	writes := l.snapshot()
	res := forcedResult{trial: i, call: callEnd.Sub(start), serverRTO: rec.RTOSeconds, entries: rec.EntriesAtRisk,
		seconds: rec.SecondsAtRisk, demote: demoted.Sub(restart), othersCPUs: others}
	first, ok := firstAck(writes, p.west.Addr, kill)
	if !ok {
		tr.Fatalf("forced trial %d: westus acknowledged no write after the failover", i)
	}
	res.rto = first.Sub(kill)
	onWest := notebooks(tr, p.west, p.token)
	divs, err := eastAdmin.ListDivergences(ctx, workspace)
	if err != nil {
		tr.Fatalf("forced trial %d: list divergences: %v", i, err)
	}
	setAside := map[string]bool{}
	for _, d := range divs {
		log.Printf("forced trial %d: divergence %s: entries %d..%d (%d), epoch %d → %d; the new primary was promoted at entry %d",
			i, d.ID, d.FromSeq, d.ToSeq, len(d.Changes), d.Epoch, d.NewEpoch, rec.AppliedSeq)
		for _, c := range d.Changes {
			setAside[c.Name] = true
		}
	}
	heldByOld := map[string]bool{}
	if !demotedOK {
		// The set-aside did not happen: what eastus wrote is still in its rows.
		heldByOld = notebooks(tr, p.east, p.east.Token)
	}
	oldestLost := res.account(writes, trialFacts{trial: i, east: p.east.Addr, kill: kill, restart: restart, demoted: demoted,
		onWest: onWest, setAside: setAside, heldByOld: heldByOld})
	lat50, lat99 := latencies(writes, kill)
	res.lat99 = lat99
	log.Printf("forced trial %d: write latency before the kill p50 %v p99 %v", i, lat50.Round(time.Millisecond), lat99.Round(time.Millisecond))
	res.demoted = demotedOK
	if !oldestLost.IsZero() {
		res.lostAge = kill.Sub(oldestLost)
	}
	if !demotedOK {
		log.Printf("forced trial %d: the old primary did not demote itself: %d acknowledged writes are only in its rows", i, res.heldByOld)
	}
	log.Printf("forced trial %d: RTO %v (call %v, server rto_seconds %.3f); at risk %d entries %.3fs; %d acknowledged (%d by eastus before the kill, %d of them missing from westus, oldest %v before the kill; %d by the restarted eastus); set aside %d, neither %d, both %d; demoted %v after restart; refused %v; other processes %.2f CPUs",
		i, res.rto.Round(time.Millisecond), res.call.Round(time.Millisecond), res.serverRTO, res.entries, res.seconds,
		res.acked, res.ackedPre, res.lostPre, res.lostAge.Round(time.Millisecond), res.staleAcks, res.setAside, res.neither, res.both,
		res.demote.Round(time.Millisecond), errorCodes(writes), others)
	return res
}

// trialFacts is what a forced trial learned that its writes are judged by.
type trialFacts struct {
	trial                       int
	east                        string // the old primary's address
	kill, restart, demoted      time.Time
	onWest, setAside, heldByOld map[string]bool // notebook paths in the new primary, in divergences, still in the old primary's rows
}

// account counts each acknowledged write by where it ended up, and
// returns when the oldest write lost before the kill was acknowledged
// (zero when none was).
func (res *forcedResult) account(writes []write, f trialFacts) (oldestLost time.Time) {
	for _, w := range writes {
		if w.err != nil {
			continue
		}
		res.acked++
		switch {
		case w.acker == f.east && w.end.Before(f.restart):
			// Before the kill, or an answer eastus had sent before it
			// died that reached the client just after the kill was
			// recorded: eastus wrote it before the kill either way.
			res.ackedPre++
			if !f.onWest[w.path] {
				res.lostPre++
				if oldestLost.IsZero() || w.end.Before(oldestLost) {
					oldestLost = w.end
				}
			}
		case w.acker == f.east:
			res.staleAcks++
		}
		switch {
		case f.onWest[w.path] && f.setAside[w.path]:
			res.both++
			if res.both <= 3 {
				log.Printf("forced trial %d: %s is both in the new primary and set aside: acknowledged by %s %v after the kill (restart at %v, demoted at %v)",
					f.trial, w.path, w.acker, w.end.Sub(f.kill).Round(time.Millisecond), f.restart.Sub(f.kill).Round(time.Millisecond), f.demoted.Sub(f.kill).Round(time.Millisecond))
			}
		case f.setAside[w.path]:
			res.setAside++
		case !f.onWest[w.path] && f.heldByOld[w.path]:
			res.heldByOld++
		case !f.onWest[w.path]:
			res.neither++
			log.Printf("forced trial %d: LOST: %s acknowledged by %s at %s is neither in the new primary nor set aside", f.trial, w.path, w.acker, w.end.Format(time.RFC3339Nano))
		}
	}
	return oldestLost
}

// quantile returns the q-quantile of xs by the nearest-rank method.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func row(b *strings.Builder, name, unit string, xs []float64, format string) {
	f := func(x float64) string { return fmt.Sprintf(format, x) }
	fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", name, unit, f(quantile(xs, 0.5)), f(quantile(xs, 0.99)), f(slices.Max(xs)))
}

func collect[T any](rs []T, f func(T) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

func plannedTable(rs []plannedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Planned failover (%d trials)\n\n", len(rs))
	b.WriteString("| figure | unit | p50 | p99 | max |\n| --- | --- | --- | --- | --- |\n")
	row(&b, "RTO: call start → first write acknowledged by the new primary", "s", collect(rs, func(r plannedResult) float64 { return r.rto.Seconds() }), "%.3f")
	row(&b, "`rto_seconds` of the failover record (server)", "s", collect(rs, func(r plannedResult) float64 { return r.serverRTO }), "%.4f")
	row(&b, "Failover call, as the client saw it", "s", collect(rs, func(r plannedResult) float64 { return r.call.Seconds() }), "%.3f")
	row(&b, "writes refused (one try each) per trial", "writes", collect(rs, func(r plannedResult) float64 { return float64(sum(r.refused)) }), "%.0f")
	row(&b, "acknowledged writes missing from the new primary", "writes", collect(rs, func(r plannedResult) float64 { return float64(r.lost) }), "%.0f")
	row(&b, "write latency p99 (due → acknowledged) before the failover", "s", collect(rs, func(r plannedResult) float64 { return r.lat99.Seconds() }), "%.3f")
	row(&b, "other processes' CPU during the failover", "CPUs", collect(rs, func(r plannedResult) float64 { return r.othersCPUs }), "%.2f")
	acked, lost := 0, 0
	for _, r := range rs {
		acked += r.acked
		lost += r.lost
	}
	fmt.Fprintf(&b, "\n%d writes acknowledged in all, %d missing from the new primary.\n\n", acked, lost)
	return b.String()
}

func forcedTable(rs []forcedResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Forced failover after kill -9 of the primary (%d trials)\n\n", len(rs))
	b.WriteString("| figure | unit | p50 | p99 | max |\n| --- | --- | --- | --- | --- |\n")
	row(&b, "RTO: kill → first write acknowledged by the new primary", "s", collect(rs, func(r forcedResult) float64 { return r.rto.Seconds() }), "%.3f")
	row(&b, "`rto_seconds` of the failover record (server)", "s", collect(rs, func(r forcedResult) float64 { return r.serverRTO }), "%.4f")
	row(&b, "Failover call, as the client saw it", "s", collect(rs, func(r forcedResult) float64 { return r.call.Seconds() }), "%.3f")
	row(&b, "RPO: `entries_at_risk` of the record", "entries", collect(rs, func(r forcedResult) float64 { return float64(r.entries) }), "%.0f")
	row(&b, "RPO: `seconds_at_risk` of the record", "s", collect(rs, func(r forcedResult) float64 { return r.seconds }), "%.3f")
	row(&b, "RPO measured: writes acknowledged before the kill, missing from the new primary", "writes", collect(rs, func(r forcedResult) float64 { return float64(r.lostPre) }), "%.0f")
	row(&b, "RPO measured: age at the kill of the oldest of them", "s", collect(rs, func(r forcedResult) float64 { return r.lostAge.Seconds() }), "%.3f")
	row(&b, "writes acknowledged by the restarted old primary before it demoted itself", "writes", collect(rs, func(r forcedResult) float64 { return float64(r.staleAcks) }), "%.0f")
	row(&b, "acknowledged writes set aside in the old primary's divergence", "writes", collect(rs, func(r forcedResult) float64 { return float64(r.setAside) }), "%.0f")
	row(&b, "**acknowledged but neither in the new primary nor set aside**", "writes", collect(rs, func(r forcedResult) float64 { return float64(r.neither) }), "%.0f")
	var demoted []forcedResult
	for _, r := range rs {
		if r.demoted {
			demoted = append(demoted, r)
		}
	}
	if len(demoted) > 0 {
		row(&b, fmt.Sprintf("old primary: restart → demoted (pair status secondary), %d trials where it did", len(demoted)), "s", collect(demoted, func(r forcedResult) float64 { return r.demote.Seconds() }), "%.3f")
	}
	row(&b, "write latency p99 (due → acknowledged) before the kill", "s", collect(rs, func(r forcedResult) float64 { return r.lat99.Seconds() }), "%.3f")
	row(&b, "other processes' CPU from the kill to the restart", "CPUs", collect(rs, func(r forcedResult) float64 { return r.othersCPUs }), "%.2f")
	acked, neither, both, held := 0, 0, 0, 0
	for _, r := range rs {
		acked += r.acked
		neither += r.neither
		both += r.both
		held += r.heldByOld
	}
	fmt.Fprintf(&b, "\n%d writes acknowledged in all; %d neither in the new primary nor set aside; %d both in the new primary and set aside (written in the old primary without an answer, then sent again by the client to the new one).\n", acked, neither, both)
	if n := len(rs) - len(demoted); n > 0 {
		fmt.Fprintf(&b, "In %d of %d trials the restarted old primary did not demote itself within the timeout: %d acknowledged writes were then only in its own rows (not set aside).\n", n, len(rs), held)
	}
	b.WriteString("\n")
	return b.String()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitDemoted waits until the old primary reports itself secondary at
// epoch or later, and says why not if timeout passes first.
func waitDemoted(ctx context.Context, c *httpapi.Client, epoch int64, timeout time.Duration) (bool, string) {
	deadline := time.Now().Add(timeout)
	why := ""
	for time.Now().Before(deadline) {
		st, err := c.PairStatus(ctx, workspace)
		switch {
		case err != nil:
			why = err.Error()
		case st.Role == tandem.RoleSecondary && st.Epoch >= epoch:
			return true, ""
		default:
			why = fmt.Sprintf("role %s epoch %d fenced %v", st.Role, st.Epoch, st.Fenced)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, why
}
