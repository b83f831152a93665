package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// catchupResult is what one catch-up measured.
type catchupResult struct {
	name        string
	files       int
	bytes       int64
	entries     int64         // log entries the secondary had to apply
	writeTime   time.Duration // writing the data to the primary (not a figure, for scale)
	startup     time.Duration // Restart until the server listened
	contact     time.Duration // Restart until the replicator's first answer from the primary
	total       time.Duration // Restart until applied_seq reached the primary's seq
	digestOK    bool
	rclone      []time.Duration // rclone copy of the files, sidecars excluded, sorted
	rcloneAll   time.Duration   // rclone copy of the directory with the .attrs sidecars
	rcloneFiles int             // files rclone copied (sidecars excluded)
	ours        float64         // CPUs Tandem (and this program) kept busy during the catch-up
	others      float64         // CPUs other processes kept busy during the catch-up
	rcloneOurs  float64         // CPUs rclone kept busy (median run)
	rcloneOther float64         // CPUs other processes kept busy during rclone's runs (max)
}

// fileSpec is one file to write to the primary.
type fileSpec struct {
	path string
	size int
}

func runCatchup(t *runner, cfg config, root string) []catchupResult {
	dir := filepath.Join(root, "catchup")
	r := startRegions(t, cfg.bin, dir, cfg.catchupDelay > 0)
	if r.proxy != nil {
		r.proxy.SetDelay(cfg.catchupDelay)
	}
	var results []catchupResult
	if !cfg.skipBig {
		var specs []fileSpec
		for i := range cfg.bigFiles {
			specs = append(specs, fileSpec{path: fmt.Sprintf("models/model-%03d.bin", i), size: int(cfg.bigSize)})
		}
		name := fmt.Sprintf("%d model files of %d MiB", cfg.bigFiles, cfg.bigSize>>20)
		results = append(results, catchupOnce(t, cfg, r, root, "models", name, specs))
	}
	if !cfg.skipSmall {
		var specs []fileSpec
		x := uint64(12345)
		for i := range cfg.smallFiles {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			size := cfg.smallMin + int(x%uint64(cfg.smallMax-cfg.smallMin+1))
			specs = append(specs, fileSpec{path: fmt.Sprintf("small/%02d/file-%05d.ipynb", i%100, i), size: size})
		}
		name := fmt.Sprintf("%d small files of %d–%d KiB", cfg.smallFiles, cfg.smallMin>>10, cfg.smallMax>>10)
		results = append(results, catchupOnce(t, cfg, r, root, "files", name, specs))
	}
	r.stop(t, dir)
	return results
}

// catchupOnce pairs a fresh workspace, stops the secondary, writes specs
// to the primary, then starts the secondary and times it until it has
// applied the primary's last entry. Then it times rclone copying the same
// files from the primary's storage directory to a fresh directory.
func catchupOnce(t *runner, cfg config, r *regions, root, ws, name string, specs []fileSpec) catchupResult {
	ctx := context.Background()
	res := catchupResult{name: name, files: len(specs)}
	for _, s := range specs {
		res.bytes += int64(s.size)
	}
	wsID := r.pairWorkspace(t, ws)
	base := r.primarySeq(t, ws)
	if err := r.west.Stop(); err != nil {
		t.Fatalf("stop westus: %v", err)
	}
	log.Printf("catch-up %s: westus stopped; writing %d files, %.0f MB, to eastus", ws, len(specs), float64(res.bytes)/1e6)

	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range cfg.uploadWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := range jobs {
				s := specs[i]
				if cap(buf) < s.size {
					buf = make([]byte, s.size)
				}
				p := buf[:s.size]
				randomBytes(p, uint64(len(ws))<<40|uint64(i))
				if _, err := r.eastC.UploadNotebook(ctx, ws, s.path, bytes.NewReader(p)); err != nil {
					if failed.Add(1) == 1 {
						log.Printf("upload %s: %v", s.path, err)
					}
				}
			}
		}()
	}
	for i := range specs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d uploads failed", n)
	}
	res.writeTime = time.Since(start)
	target := r.primarySeq(t, ws)
	res.entries = target - base
	log.Printf("catch-up %s: written in %v; the primary's log is at %d; starting westus", ws, res.writeTime.Round(time.Millisecond), target)

	waitQuiet("catch-up "+ws, cfg.quietCPU, cfg.quietWait, r.east.PID())
	cpu0 := takeCPU(r.east.PID()) // westus is not running: all its CPU time comes after
	t0 := time.Now()
	r.west.Restart(t)
	res.startup = time.Since(t0)
	lastLog := time.Now()
	for {
		st, err := r.westC.PairStatus(ctx, ws)
		now := time.Now()
		if err == nil {
			if res.contact == 0 && st.Replication.LastContactAt != nil {
				res.contact = now.Sub(t0)
			}
			if st.Replication.AppliedSeq >= target {
				res.total = now.Sub(t0)
				break
			}
			if now.Sub(lastLog) >= 5*time.Second {
				lastLog = now
				log.Printf("catch-up %s: %v: applied %d of %d, %d blobs / %.0f MB copied (%s %s)", ws, now.Sub(t0).Round(time.Second),
					st.Replication.AppliedSeq, target, st.Replication.BlobsCopied, float64(st.Replication.BytesCopied)/1e6, st.Replication.State, st.Replication.Reason)
			}
		}
		if now.Sub(t0) > cfg.catchupTimeout {
			t.Fatalf("catch-up %s did not finish within %v", ws, cfg.catchupTimeout)
		}
		time.Sleep(cfg.catchupWaitPoll)
	}
	cpu1 := takeCPU(r.east.PID(), r.west.PID())
	res.ours, res.others = cpu1.oursSince(cpu0), cpu1.othersSince(cpu0)
	log.Printf("catch-up %s: caught up in %v (listening after %v, first contact after %v); CPUs busy: ours %.2f, others %.2f", ws,
		res.total.Round(time.Millisecond), res.startup.Round(time.Millisecond), res.contact.Round(time.Millisecond), res.ours, res.others)

	// Check that the bytes are there and the pair converged.
	westDir := filepath.Join(r.west.DataDir, "storage", "workspaces", wsID, "notebooks")
	n, size, err := countFiles(westDir, ".attrs")
	if err != nil || n != len(specs) || size != res.bytes {
		t.Fatalf("westus holds %d files, %d bytes in %s (%v); want %d, %d", n, size, westDir, err, len(specs), res.bytes)
	}
	e, w := r.digests(t, ws)
	res.digestOK = e != "" && e == w
	if !res.digestOK {
		t.Errorf("catch-up %s: digests differ: eastus %q westus %q", ws, e, w)
	}

	// rclone, local to local, between the same two regions' storage.
	src := filepath.Join(r.east.DataDir, "storage", "workspaces", wsID, "notebooks")
	type run struct {
		d            time.Duration
		ours, others float64
	}
	var runs []run
	for i := range cfg.rcloneRuns {
		waitQuiet("rclone "+ws, cfg.quietCPU, cfg.quietWait, r.east.PID(), r.west.PID())
		c0 := takeCPU(r.east.PID(), r.west.PID())
		d, files := rcloneCopy(t, root, src, "--exclude", "*.attrs")
		c1 := takeCPU(r.east.PID(), r.west.PID())
		runs = append(runs, run{d, c1.oursSince(c0), c1.othersSince(c0)})
		res.rclone = append(res.rclone, d)
		res.rcloneFiles = files
		res.rcloneOther = max(res.rcloneOther, c1.othersSince(c0))
		log.Printf("catch-up %s: rclone copy %d of %d: %v, %d files; CPUs busy: rclone %.2f, others %.2f", ws, i+1, cfg.rcloneRuns,
			d.Round(time.Millisecond), files, c1.oursSince(c0), c1.othersSince(c0))
	}
	slices.SortFunc(runs, func(a, b run) int { return int(a.d - b.d) })
	res.rcloneOurs = runs[len(runs)/2].ours
	slices.Sort(res.rclone)
	if res.rcloneFiles != len(specs) {
		t.Errorf("rclone copied %d files, want %d", res.rcloneFiles, len(specs))
	}
	res.rcloneAll, _ = rcloneCopy(t, root, src)
	log.Printf("catch-up %s: rclone copy with the .attrs sidecars: %v", ws, res.rcloneAll.Round(time.Millisecond))
	return res
}

// rcloneCopy times `rclone copy src DST args...` to a fresh DST, which it
// removes after counting the files copied (sidecars excluded).
func rcloneCopy(t *runner, root, src string, args ...string) (time.Duration, int) {
	dst, err := os.MkdirTemp(root, "rclone-dst-")
	if err != nil {
		t.Fatalf("rclone dst: %v", err)
	}
	defer os.RemoveAll(dst)
	cmd := exec.Command("rclone", append([]string{"copy", src, dst}, args...)...)
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+filepath.Join(root, "rclone.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("rclone copy %s %s %s: %v\n%s", src, dst, strings.Join(args, " "), err, &out)
	}
	n, _, err := countFiles(dst, ".attrs")
	if err != nil {
		t.Fatalf("count rclone's files: %v", err)
	}
	return d, n
}

func catchupTable(cfg config, results []catchupResult) string {
	var b strings.Builder
	how := "directly on loopback"
	if cfg.catchupDelay > 0 {
		how = fmt.Sprintf("through the proxy with %v added each way", cfg.catchupDelay)
	}
	fmt.Fprintf(&b, "\n### Catch-up of a stopped secondary, %s, vs `rclone copy`\n\n", how)
	fmt.Fprintf(&b, "Tandem: from starting the secondary's process until its `applied_seq` reaches the primary's last seq (blobs are copied and verified before their batch applies). rclone: `rclone copy SRC DST --exclude '*.attrs'` of the primary's `storage/workspaces/<id>/notebooks` to a fresh directory, median of %d. MB = 10^6 bytes.\n\n", cfg.rcloneRuns)
	b.WriteString("| data | entries | Tandem s | Tandem MB/s | Tandem files/s | rclone s | rclone MB/s | rclone files/s | Tandem / rclone | ≥ 0.9 |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		rc := r.rclone[len(r.rclone)/2]
		ratio := rc.Seconds() / r.total.Seconds()
		ok := "yes"
		if ratio < 0.9 {
			ok = "**no**"
		}
		mb := float64(r.bytes) / 1e6
		fmt.Fprintf(&b, "| %s (%.0f MB) | %d | %.2f | %.1f | %.0f | %.2f | %.1f | %.0f | %.2f | %s |\n",
			r.name, mb, r.entries, r.total.Seconds(), mb/r.total.Seconds(), float64(r.files)/r.total.Seconds(),
			rc.Seconds(), mb/rc.Seconds(), float64(r.files)/rc.Seconds(), ratio, ok)
	}
	b.WriteString("\n| data | secondary listening after | first answer from the primary after | digests equal | rclone runs (s) | rclone with the `.attrs` sidecars (s) | CPUs busy, Tandem / rclone | other processes' CPUs, Tandem / rclone | writing the data to the primary (s) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		var runs []string
		for _, d := range r.rclone {
			runs = append(runs, fmt.Sprintf("%.2f", d.Seconds()))
		}
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %v | %s | %.2f | %.2f / %.2f | %.2f / %.2f | %.1f |\n", r.name, r.startup.Seconds(), r.contact.Seconds(), r.digestOK,
			strings.Join(runs, " · "), r.rcloneAll.Seconds(), r.ours, r.rcloneOurs, r.others, r.rcloneOther, r.writeTime.Seconds())
	}
	return b.String()
}
