package agent

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/compute"
)

// outputs uploads a job's output files: while it runs, every SyncSeconds,
// what changed since the last upload (recorded with SyncAgentOutputs), and
// at its end what is left. It also seeds the output directories of a
// resubmitted job from its original's last uploaded outputs.
type outputs struct {
	a    *Agent
	w    *tandem.AgentWork
	mu   sync.Mutex
	dirs map[string]string
	sent map[string]stamp              // local path -> what was uploaded
	all  map[string]tandem.AgentOutput // local path -> its upload
	stop chan struct{}
	done chan struct{}
}

type stamp struct {
	size int64
	mod  time.Time
}

func newOutputs(a *Agent, w *tandem.AgentWork) *outputs {
	return &outputs{a: a, w: w, sent: map[string]stamp{}, all: map[string]tandem.AgentOutput{}, stop: make(chan struct{}), done: make(chan struct{})}
}

// prepare is the run's PrepareOutputs: it keeps the directories and seeds
// them.
func (o *outputs) prepare(ctx context.Context) func(dirs map[string]string, log io.Writer) error {
	return func(dirs map[string]string, log io.Writer) error {
		o.mu.Lock()
		o.dirs = dirs
		o.mu.Unlock()
		if len(o.w.Seed) == 0 {
			return nil
		}
		var n int
		var bytes int64
		for i, f := range o.w.Seed {
			dir, ok := dirs[f.Output]
			dst := filepath.Join(dir, filepath.FromSlash(f.Path))
			if !ok || !fs.ValidPath(f.Path) || !compute.Within(dir, dst) {
				continue
			}
			rc, err := o.a.Client.OpenVerifiedAgentSeed(ctx, o.a.Workspace, o.a.Compute, o.a.ID, o.w.Job.Name, i, f)
			if err == nil {
				err = writeFile(dst, rc, false)
				rc.Close()
			}
			if err != nil {
				fmt.Fprintf(log, "tandem: output file %s/%s of job %s not seeded: %v\n", f.Output, f.Path, o.w.Job.ResubmittedFrom, tandem.ErrorMessage(err))
				continue
			}
			n++
			bytes += f.Size
		}
		fmt.Fprintf(log, "tandem: resubmission of job %s: %d output files (%d bytes) seeded from its last uploaded outputs\n", o.w.Job.ResubmittedFrom, n, bytes)
		return nil
	}
}

// start begins the periodic uploads.
func (o *outputs) start(ctx context.Context, logPath func() string) {
	if o.w.SyncSeconds <= 0 {
		close(o.done)
		return
	}
	go func() {
		defer close(o.done)
		t := time.NewTicker(time.Duration(o.w.SyncSeconds * float64(time.Second)))
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
			}
			fresh, err := o.upload(ctx)
			if err != nil {
				o.a.Logger.Warn("output sync failed; trying again later", "job", o.w.Job.Name, "err", err)
				continue
			}
			if p := logPath(); p != "" {
				if f, err := os.Open(p); err == nil {
					_, _ = o.a.Client.PutAgentLog(ctx, o.a.Workspace, o.a.Compute, o.a.ID, o.w.Job.Name, f)
					f.Close()
				}
			}
			err = o.a.Client.SyncAgentOutputs(ctx, o.a.Workspace, o.a.Compute, o.a.ID, o.w.Job.Name, fresh)
			if tandem.IsCode(err, tandem.EConflict) || tandem.IsCode(err, tandem.ENotPrimary) {
				return // the job is not this agent's any more
			} else if err != nil {
				o.a.Logger.Warn("recording synced outputs failed; trying again later", "job", o.w.Job.Name, "err", err)
			}
		}
	}()
}

// close stops the periodic uploads and waits for one in progress.
func (o *outputs) close() {
	close(o.stop)
	<-o.done
}

// upload sends the files that changed since they were last sent and
// returns them.
func (o *outputs) upload(ctx context.Context) ([]tandem.AgentOutput, error) {
	o.mu.Lock()
	dirs := o.dirs
	o.mu.Unlock()
	names := make([]string, 0, len(dirs))
	for n := range dirs {
		names = append(names, n)
	}
	sort.Strings(names)
	var fresh []tandem.AgentOutput
	for _, name := range names {
		dir := dirs[name]
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil // removed while we walk: the next pass sees it
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			st := stamp{fi.Size(), fi.ModTime()}
			o.mu.Lock()
			same := o.sent[p] == st
			o.mu.Unlock()
			if same {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			rel = filepath.ToSlash(rel)
			ref, err := o.a.Client.PutAgentOutput(ctx, o.a.Workspace, o.a.Compute, o.a.ID, o.w.Job.Name, name, rel, f)
			if err != nil {
				return err
			}
			out := tandem.AgentOutput{Output: name, Path: rel, SHA256: ref.SHA256, Size: ref.Size}
			o.mu.Lock()
			o.sent[p], o.all[p] = st, out
			o.mu.Unlock()
			fresh = append(fresh, out)
			return nil
		})
		if err != nil {
			return fresh, err
		}
	}
	return fresh, nil
}

// final uploads what is left and returns every output file of the run.
func (o *outputs) final(ctx context.Context) ([]tandem.AgentOutput, error) {
	_, err := o.upload(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	list := make([]tandem.AgentOutput, 0, len(o.all))
	for _, out := range o.all {
		list = append(list, out)
	}
	sort.Slice(list, func(a, b int) bool {
		return list[a].Output+"/"+list[a].Path < list[b].Output+"/"+list[b].Path
	})
	return list, err
}
