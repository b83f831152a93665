// Command replication measures Tandem's hot/warm replication with real
// `tandem server` processes on loopback, as issue 5 asks and
// docs/benchmarks.md records:
//
//   - lag: replication lag p50/p99 at several sustained write rates, with
//     a faultproxy adding latency between the secondary and the primary;
//   - catch-up: how fast a stopped secondary catches up on 1 GiB of model
//     files in 64 files and on 10,000 small files, side by side with
//     `rclone copy` of the same files between the regions' storage
//     directories.
//
// Nothing in the server is instrumented: the program only uses the HTTP
// API, the CLI and the files on disk. Run it from the module root:
//
//	go run ./bench/replication [flags]
//
// It builds ./cmd/tandem without -race (or uses -bin), keeps everything in
// a temp dir under -tmp and removes it at the end (unless -keep), and
// prints its results as markdown, also written to -out.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemml/tandem/e2e"
	"github.com/tandemml/tandem/faultproxy"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/server"
)

type config struct {
	bin, tmp, out string
	keep          bool
	pprof         int // first of two loopback ports for the servers' profiles; 0: none

	lag      bool
	rates    []int
	duration time.Duration
	delay    time.Duration
	writers  int
	poll     time.Duration
	drain    time.Duration
	noteSize int
	kind     string

	catchup         bool
	catchupDelay    time.Duration
	bigFiles        int
	bigSize         int64
	smallFiles      int
	smallMin        int
	smallMax        int
	catchupTimeout  time.Duration
	rcloneRuns      int
	skipSmall       bool
	skipBig         bool
	uploadWriters   int
	label           string
	catchupWaitPoll time.Duration
	quietWait       time.Duration
	quietCPU        float64
	attempts        int
	noisy           float64
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	var cfg config
	var rates string
	flag.StringVar(&cfg.bin, "bin", "", "tandem binary to run (default: go build ./cmd/tandem, without -race, into the temp dir)")
	flag.StringVar(&cfg.tmp, "tmp", os.TempDir(), "where the temp dir holding the regions' data goes (needs ~3 GiB)")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown results to this file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temp dir (data and server logs) at the end")
	flag.IntVar(&cfg.pprof, "pprof", 0, "serve the servers' Go profiles on 127.0.0.1:PORT (eastus) and PORT+1 (westus) under /debug/pprof/ (0: not served)")
	flag.StringVar(&cfg.label, "label", "", "a label printed with the results (e.g. the replicator version)")

	flag.BoolVar(&cfg.lag, "lag", true, "run the lag benchmark")
	flag.StringVar(&rates, "rates", "50,200,1000", "offered write rates (writes/s) of the lag benchmark")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long each rate is sustained")
	flag.DurationVar(&cfg.delay, "delay", 50*time.Millisecond, "latency the proxy adds in each direction between the secondary and the primary")
	flag.IntVar(&cfg.writers, "writers", 64, "concurrent writers of the lag benchmark (open loop: writes are issued on schedule, not when the previous one ends)")
	flag.DurationVar(&cfg.poll, "poll", 5*time.Millisecond, "how often the secondary's applied seq is polled")
	flag.DurationVar(&cfg.drain, "drain", 2*time.Minute, "how long to wait after the writes for the secondary to apply them all; writes not applied by then count as lag > their wait")
	flag.IntVar(&cfg.noteSize, "note-size", 1024, "bytes of each notebook written by the lag benchmark")
	flag.StringVar(&cfg.kind, "kind", "notebook", "what a write of the lag benchmark is: notebook (an upload of -note-size bytes, one blob to copy) or token (a workspace token created: a log entry without a blob)")

	flag.BoolVar(&cfg.catchup, "catchup", true, "run the catch-up benchmark")
	flag.DurationVar(&cfg.catchupDelay, "catchup-delay", 0, "latency added between the regions during catch-up (0: direct, as rclone's local copy)")
	flag.IntVar(&cfg.bigFiles, "big-files", 64, "model files of the large catch-up")
	flag.Int64Var(&cfg.bigSize, "big-size", 16<<20, "bytes of each model file")
	flag.IntVar(&cfg.smallFiles, "small-files", 10000, "files of the small-file catch-up")
	flag.IntVar(&cfg.smallMin, "small-min", 1024, "smallest small file, bytes")
	flag.IntVar(&cfg.smallMax, "small-max", 4096, "largest small file, bytes")
	flag.BoolVar(&cfg.skipBig, "skip-big", false, "skip the large-file catch-up")
	flag.BoolVar(&cfg.skipSmall, "skip-small", false, "skip the small-file catch-up")
	flag.IntVar(&cfg.uploadWriters, "upload-writers", 8, "concurrent uploads writing the catch-up data")
	flag.DurationVar(&cfg.catchupTimeout, "catchup-timeout", 30*time.Minute, "give up a catch-up after this long")
	flag.DurationVar(&cfg.catchupWaitPoll, "catchup-poll", 10*time.Millisecond, "how often the secondary is polled during a catch-up")
	flag.IntVar(&cfg.rcloneRuns, "rclone-runs", 3, "rclone copies of each data set (the median is reported)")
	flag.DurationVar(&cfg.quietWait, "quiet-wait", 10*time.Minute, "before each measurement, wait up to this long for other processes to leave the CPUs alone (0: do not wait)")
	flag.Float64Var(&cfg.quietCPU, "quiet-cpu", 0.2, "CPUs other processes may keep busy for the machine to count as quiet")
	flag.IntVar(&cfg.attempts, "attempts", 3, "measure again, up to this many times in all, when other processes took more than -noisy CPUs; the quietest attempt is reported")
	flag.Float64Var(&cfg.noisy, "noisy", 0.3, "CPUs other processes may take during a measurement before it is measured again")
	flag.Parse()
	if cfg.kind != "notebook" && cfg.kind != "token" {
		log.Fatalf("-kind: want notebook or token, got %q", cfg.kind)
	}
	for _, s := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			log.Fatalf("-rates: bad rate %q", s)
		}
		cfg.rates = append(cfg.rates, n)
	}
	if cfg.catchup {
		if _, err := exec.LookPath("rclone"); err != nil {
			log.Fatalf("rclone not found (apt-get install rclone): %v", err)
		}
	}

	root, err := os.MkdirTemp(cfg.tmp, "tandem-bench-replication-")
	if err != nil {
		log.Fatal(err)
	}
	t := newRunner(root)
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
		cfg.bin = buildTandem(t, root)
	}
	log.Printf("tandem binary %s; data under %s", cfg.bin, root)

	var report strings.Builder
	fmt.Fprintf(&report, "%s\n", machine(cfg))
	if cfg.lag {
		results := runLag(t, cfg, root)
		report.WriteString(lagTable(cfg, results))
	}
	if cfg.catchup {
		results := runCatchup(t, cfg, root)
		report.WriteString(catchupTable(cfg, results))
	}
	fmt.Println()
	fmt.Print(report.String())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report.String()), 0o644); err != nil {
			log.Printf("write %s: %v", cfg.out, err)
		}
	}
	t.Finish()
	if t.Failed() {
		os.Exit(1)
	}
}

// buildTandem builds ./cmd/tandem of the module in the working directory,
// without the race detector, into dir.
func buildTandem(t *runner, dir string) string {
	bin := filepath.Join(dir, "tandem")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tandem")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tandem (run from the module root): %v\n%s", err, out)
	}
	return bin
}

// regions is a primary (eastus) and a secondary (westus) that know each
// other; westus reaches eastus through proxy when there is one.
type regions struct {
	east, west   *e2e.Region
	proxy        *faultproxy.Proxy
	eastC, westC *httpapi.Client
}

// startRegions starts eastus and westus as real processes sharing a vault
// key file in dir and registers each with the other, as e2e's
// pairedRegions does. With viaProxy westus reaches eastus through a
// faultproxy.
func startRegions(t *runner, cfg config, dir string, viaProxy bool) *regions {
	key := filepath.Join(dir, "vault.key")
	r := &regions{}
	pprofEnv := func(port int) []string {
		if cfg.pprof == 0 {
			return nil
		}
		return []string{fmt.Sprintf("%s=127.0.0.1:%d", server.EnvPprof, port)}
	}
	r.east = e2e.StartRegion(t, cfg.bin, e2e.RegionOptions{Name: "eastus", DataDir: filepath.Join(dir, "eastus"), ExtraArgs: []string{"--key-file", key}, Env: pprofEnv(cfg.pprof)})
	r.west = e2e.StartRegion(t, cfg.bin, e2e.RegionOptions{Name: "westus", DataDir: filepath.Join(dir, "westus"), ExtraArgs: []string{"--key-file", key}, Env: pprofEnv(cfg.pprof + 1)})
	eastURL := r.east.Endpoint
	if viaProxy {
		r.proxy = faultproxy.New(r.east.Addr)
		if err := r.proxy.Open(); err != nil {
			t.Fatalf("proxy: %v", err)
		}
		t.Cleanup(func() { r.proxy.Close() })
		eastURL = "http://" + r.proxy.Addr()
	}
	r.east.MustCLI(t, "region", "add", "--name", "westus", "--endpoint", r.west.Endpoint, "--token-file", r.west.TokenPath)
	r.west.MustCLI(t, "region", "add", "--name", "eastus", "--endpoint", eastURL, "--token-file", r.east.TokenPath)
	r.eastC = newClient(r.east.Endpoint, r.east.Token, 256)
	r.westC = newClient(r.west.Endpoint, r.west.Token, 4)
	return r
}

// stop stops both regions (and the proxy) and removes their data.
func (r *regions) stop(t *runner, dir string) {
	if r.proxy != nil {
		r.proxy.Close()
	}
	for _, reg := range []*e2e.Region{r.west, r.east} {
		if err := reg.Stop(); err != nil {
			t.Errorf("stop %s: %v", reg.Name, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("remove %s: %v", dir, err)
	}
}

// dropWorkspace unpairs ws and deletes it, with its storage, in both
// regions.
func (r *regions) dropWorkspace(t *runner, ws string) {
	r.east.MustCLI(t, "pair", "delete", "--workspace", ws, "--yes")
	for _, reg := range []*e2e.Region{r.east, r.west} {
		reg.MustCLI(t, "workspace", "delete", "--name", ws, "--permanently-delete", "--purge-storage", "--yes")
	}
}

// pairWorkspace creates workspace ws on eastus, pairs it hot/warm with
// westus and waits until westus has applied the create. It returns the
// workspace id.
func (r *regions) pairWorkspace(t *runner, ws string) string {
	r.east.MustCLI(t, "workspace", "create", "--name", ws)
	r.east.MustCLI(t, "pair", "create", "--workspace", ws, "--secondary-region", "westus", "--tier", "hot-warm")
	e2e.WaitFor(t, time.Minute, "westus to apply the create of "+ws, func() (bool, error) {
		st, err := r.westC.PairStatus(context.Background(), ws)
		if err != nil {
			return false, err
		}
		return st.Replication.AppliedSeq >= 1 && st.Replication.State == "replicating", nil
	})
	w, err := r.eastC.FindWorkspace(context.Background(), ws)
	if err != nil {
		t.Fatalf("find workspace %s: %v", ws, err)
	}
	return w.ID
}

// primarySeq returns the last seq of ws's log on the primary.
func (r *regions) primarySeq(t *runner, ws string) int64 {
	st, err := r.eastC.PairStatus(context.Background(), ws)
	if err != nil {
		t.Fatalf("primary's pair status of %s: %v", ws, err)
	}
	return st.Replication.PrimarySeq
}

// digests returns ws's digest on both regions.
func (r *regions) digests(t *runner, ws string) (east, west string) {
	get := func(reg *e2e.Region) string {
		out, stderr, code := reg.CLI(t, "workspace", "digest", "--name", ws, "-o", "json")
		var d struct {
			Digest string `json:"digest"`
		}
		if code != 0 {
			t.Errorf("digest of %s on %s: exit %d: %s", ws, reg.Name, code, stderr)
		} else if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Errorf("digest of %s on %s: %v", ws, reg.Name, err)
		}
		return d.Digest
	}
	return get(r.east), get(r.west)
}

// newClient returns an API client with its own connection pool, keeping up
// to idle connections open so that many concurrent writers reuse them.
func newClient(endpoint, token string, idle int) *httpapi.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = idle
	tr.MaxIdleConnsPerHost = idle
	c := httpapi.NewClient([]string{endpoint}, token)
	c.HTTPClient = &http.Client{Transport: tr}
	return c
}

// machine describes where the figures were measured.
func machine(cfg config) string {
	var b strings.Builder
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(out))
	}
	model, cpus := "?", strconv.Itoa(runtime.NumCPU())
	for _, line := range strings.Split(run("lscpu"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "Model name" {
			model = strings.TrimSpace(v)
		}
	}
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	tandemRev := "Tandem"
	if head := run("git", "rev-parse", "--short", "HEAD"); head != "?" {
		tandemRev += " " + head
		if run("git", "status", "--porcelain", "--untracked-files=no") != "" {
			tandemRev += " + uncommitted changes"
		}
	}
	if cfg.label != "" {
		tandemRev += " (" + cfg.label + ")"
	}
	fmt.Fprintf(&b, "Machine: %s CPUs (%s), %s RAM, Linux %s, %s, %s. %s. %s.\n",
		cpus, model, mem, run("uname", "-r"), run("go", "version"), firstLine(run("rclone", "version")),
		tandemRev, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// randomBytes fills p with pseudo-random bytes from seed: incompressible
// content, fast to make.
func randomBytes(p []byte, seed uint64) {
	var x = seed*0x9E3779B97F4A7C15 + 1
	i := 0
	for ; i+8 <= len(p); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i], p[i+1], p[i+2], p[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		p[i+4], p[i+5], p[i+6], p[i+7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
	}
	for ; i < len(p); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// countFiles counts the regular files under dir whose name does not end
// in skipSuffix ("" counts all), and their bytes.
func countFiles(dir, skipSuffix string) (n int, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if skipSuffix != "" && strings.HasSuffix(path, skipSuffix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += fi.Size()
		return nil
	})
	return n, size, err
}
