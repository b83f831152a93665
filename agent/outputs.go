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
	up   *compute.Uploader                      // remembers what was uploaded
	all  map[compute.RunFile]tandem.AgentOutput // file -> its upload
	stop chan struct{}
	done chan struct{}
}

func newOutputs(a *Agent, w *tandem.AgentWork) *outputs {
	o := &outputs{a: a, w: w, all: map[compute.RunFile]tandem.AgentOutput{}, stop: make(chan struct{}), done: make(chan struct{})}
	o.up = compute.NewUploader(o.put)
	return o
}

// put uploads one output file through the region's agent API.
func (o *outputs) put(ctx context.Context, f compute.RunFile, body *os.File) (tandem.BlobRef, error) {
	ref, err := o.a.Client.PutAgentOutput(ctx, o.a.Workspace, o.a.Compute, o.a.ID, o.w.Job.Name, f.Output, f.Path, body)
	if err != nil {
		return tandem.BlobRef{}, err
	}
	return *ref, nil
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
	ups, err := o.up.Upload(ctx, dirs, "")
	var fresh []tandem.AgentOutput
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, up := range ups {
		out := tandem.AgentOutput{Output: up.Output, Path: up.Path, SHA256: up.Ref.SHA256, Size: up.Ref.Size}
		o.all[up.RunFile] = out
		fresh = append(fresh, out)
	}
	return fresh, err
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
