package jobs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/compute"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec/jobdoc"
)

// Jobs across a failover (see docs/design.md, "Interrupted jobs and
// resubmission"):
//
//   - While a job runs, its outputs and log are uploaded every
//     JobOutputSync and recorded on the job (one change entry per sync), so
//     that the secondary holds a recent copy.
//   - When a region is promoted, the jobs its replica holds as Queued,
//     Preparing or Running were running in the old primary: they become
//     Interrupted. Those whose document sets resubmit_on_failover are
//     resubmitted as a new job, linked both ways, whose output directories
//     start with the original's last uploaded outputs.
//   - When a region is demoted, its local runs of that workspace are
//     killed; nothing is recorded (it may not write any more); each run's
//     log is kept in its storage beside the run's folder.
//
// The pass that interrupts and resubmits runs after every promotion and at
// every server start, and is idempotent: a process that dies half way
// leaves nothing the next pass does not finish.

// DefaultJobOutputSync is how often a running job's outputs and log are
// uploaded when Region.JobOutputSync is 0.
const DefaultJobOutputSync = 10 * time.Second

// resubmitName names the resubmission of job after the failover to epoch.
// It is deterministic, so that a pass that is retried finds it.
func resubmitName(job string, epoch int64) string {
	name := fmt.Sprintf("%s_resubmit%d", job, epoch)
	if len(name) > 255 {
		name = name[len(name)-255:]
		name = strings.TrimLeft(name, "._-")
	}
	return name
}

// --- promotion: interrupt and resubmit

// recoverPromotedJobs runs the failover pass for every workspace this
// region was promoted to the primary of. StartJobs calls it before it
// fails the jobs a previous process of this region left unfinished.
func (r *Service) recoverPromotedJobs(ctx context.Context) {
	var ids []string
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		list, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
		if err != nil {
			return err
		}
		for _, ws := range list {
			p, err := tandem.FindPair(ctx, tx, ws.ID)
			if err != nil {
				return err
			}
			if promoted(p) {
				ids = append(ids, ws.ID)
			}
		}
		return nil
	})
	if err != nil {
		r.Logger.Error("find the workspaces promoted here", "err", err)
		return
	}
	for _, id := range ids {
		r.RecoverFailoverJobs(ctx, id)
	}
}

// promoted reports whether this side of a pair became the primary by a
// failover (and so may hold jobs that ran in the old primary).
func promoted(p *tandem.Pair) bool {
	return p != nil && p.Role == tandem.RolePrimary && p.Tier != tandem.TierHotHot && p.PromotedAtSeq > 0 && p.Writable()
}

// RecoverFailoverJobs marks Interrupted the jobs of a workspace promoted
// here that were Queued, Preparing or Running in the old primary, and
// resubmits those that ask for it. A job was the old primary's when its
// record has not been written since the promotion (every status change is
// an entry; this region writes them only for jobs it runs). Jobs queued or
// running in this process are never touched.
func (r *Service) RecoverFailoverJobs(ctx context.Context, wsID string) {
	p, unfinished, toResubmit, writtenHere, err := r.findFailoverJobs(ctx, wsID)
	if err != nil {
		r.Logger.Error("find the jobs a failover interrupted", "workspace", wsID, "err", err)
		return
	}
	if !promoted(p) {
		return
	}
	jr := r.jobs()
	jr.mu.Lock()
	ours := map[string]bool{}
	for _, ref := range jr.pending {
		ours[ref.WorkspaceID+"/"+ref.Name] = true
	}
	for key := range jr.running {
		ours[key] = true
	}
	jr.mu.Unlock()
	for _, j := range unfinished {
		if writtenHere[j.Name] || ours[wsID+"/"+j.Name] {
			continue // this region's own: a restart, which failInterrupted handles
		}
		if marked := r.interruptJob(ctx, wsID, p, j.Name); marked != nil && marked.ResubmittedAs != "" {
			toResubmit = append(toResubmit, marked)
		}
	}
	for _, j := range toResubmit {
		if err := r.resubmitJob(ctx, wsID, j); err != nil {
			r.Logger.Error("cannot resubmit an interrupted job; the next server start tries again", "workspace", p.Workspace, "job", j.Name, "err", err)
		}
	}
}

// findFailoverJobs returns, for a workspace promoted here, its pair, its
// unfinished jobs, the interrupted jobs whose resubmission is missing, and
// the jobs written since the promotion (by name).
func (r *Service) findFailoverJobs(ctx context.Context, wsID string) (p *tandem.Pair, unfinished, toResubmit []*tandem.Job, writtenHere map[string]bool, err error) {
	writtenHere = map[string]bool{}
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		var err error
		if p, err = tandem.FindPair(ctx, tx, wsID); err != nil || !promoted(p) {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: wsID, Kind: tandem.KindJob})
		if err != nil {
			return err
		}
		for _, res := range list {
			j, err := JobFromResource(res)
			if err != nil {
				return err
			}
			switch {
			case !tandem.JobDone(j.Status):
				unfinished = append(unfinished, j)
			case j.Status == tandem.JobInterrupted && j.ResubmittedAs != "":
				_, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindJob, Name: j.ResubmittedAs})
				if tandem.IsCode(err, tandem.ENotFound) {
					toResubmit = append(toResubmit, j)
				} else if err != nil {
					return err
				}
			}
		}
		if len(unfinished) == 0 {
			return nil
		}
		last, err := tx.LastChangeSeq(ctx, wsID)
		if err != nil {
			return err
		}
		since, err := region.ChangesBetween(ctx, tx, wsID, p.PromotedAtSeq, last)
		for _, c := range since {
			if c.Kind == tandem.KindJob {
				writtenHere[c.Name] = true
			}
		}
		return err
	})
	return p, unfinished, toResubmit, writtenHere, err
}

// interruptJob marks a job the old primary ran Interrupted (and, when it
// asks for it, names its resubmission); it returns the job as marked, nil
// when it had ended meanwhile or could not be written.
func (r *Service) interruptJob(ctx context.Context, wsID string, p *tandem.Pair, name string) *tandem.Job {
	var marked *tandem.Job
	err := r.UpdateJob(ctx, JobRef{wsID, name}, func(j *tandem.Job, _ *tandem.Resource) error {
		if tandem.JobDone(j.Status) || j.Type == tandem.JobTypeMLflow {
			// An MLflow run created by a client runs in that client, not
			// in a region: the client goes on logging to the new primary.
			return ErrSkip
		}
		msg := fmt.Sprintf("interrupted by the failover to region %q at epoch %d: the job was %s in region %q, the primary until then",
			r.Name, p.Epoch, j.Status, p.PeerRegion)
		if jobDoc(j).Resubmits() {
			j.ResubmittedAs = resubmitName(j.Name, p.Epoch)
			msg += "; resubmitted as " + j.ResubmittedAs + " (resubmit_on_failover)"
		}
		r.EndJob(j, tandem.JobInterrupted, msg, nil)
		j.InterruptedEpoch = p.Epoch
		marked = j
		return nil
	})
	if err == ErrSkip {
		return nil
	} else if err != nil {
		r.Logger.Warn("cannot mark a job interrupted by the failover", "workspace", wsID, "job", name, "err", err)
		return nil
	}
	r.Logger.Info("job interrupted by the failover", "workspace", p.Workspace, "job", name, "epoch", p.Epoch, "resubmitted_as", marked.ResubmittedAs)
	return marked
}

// resubmitJob creates orig.ResubmittedAs: the same document, command and
// code snapshot (copied to its own run folder), queued, linked to orig.
func (r *Service) resubmitJob(ctx context.Context, wsID string, orig *tandem.Job) error {
	d, err := jobdoc.ReadJob(orig.Spec)
	if err != nil {
		return fmt.Errorf("document of %s: %w", orig.Name, err)
	}
	j := &tandem.Job{
		Name: orig.ResubmittedAs, Type: orig.Type, DisplayName: orig.DisplayName, ExperimentName: orig.ExperimentName,
		Description: orig.Description, Tags: orig.Tags, Status: tandem.JobQueued, Compute: orig.Compute,
		Command: orig.Command, Files: orig.Files, Inputs: orig.Inputs, ResubmittedFrom: orig.Name,
	}
	d.Name = j.Name
	oldCode, newCode := assets.DatastoreURI(tandem.RunFolder(orig.Name)+"code"), assets.DatastoreURI(tandem.RunFolder(j.Name)+"code")
	if rest, ok := strings.CutPrefix(d.Code, oldCode); ok {
		d.Code = newCode + rest
	}
	j.Spec = d.Map()
	// Code in the content-addressed store is shared, not copied; older
	// jobs' code is copied to the new run folder.
	j.CodeStore = orig.CodeStore
	from, to := tandem.StoragePrefix(wsID)+tandem.RunFolder(orig.Name), tandem.StoragePrefix(wsID)+tandem.RunFolder(j.Name)
	var blobs []tandem.BlobRef
	for _, f := range orig.Files {
		if j.CodeStore == codeStoreSHA256 {
			ref, err := r.Blobs.Stat(ctx, codeKey(wsID, j, f))
			if err != nil {
				return fmt.Errorf("code file %s of %s: %w", f.Path, orig.Name, err)
			}
			blobs = addBlob(blobs, ref)
			continue
		}
		ref, err := tandem.CopyBlob(ctx, r.Blobs, to+f.Path, r.Blobs, tandem.BlobRef{Key: from + f.Path, SHA256: f.SHA256, Size: f.Size})
		if err != nil {
			r.RemoveBlobs(ctx, blobs)
			return fmt.Errorf("copy code file %s of %s: %w", f.Path, orig.Name, err)
		}
		blobs = append(blobs, ref)
	}
	j.CreatedAt = r.Timestamp()
	res, err := jobResource(wsID, j, blobs)
	if err != nil {
		return err
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		cur, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindJob, Name: orig.Name})
		if err != nil {
			return err
		}
		if o, err := JobFromResource(cur); err != nil || o.ResubmittedAs != j.Name {
			return ErrSkip // changed meanwhile
		}
		if _, err := tx.FindResource(ctx, res.Key()); err == nil {
			return ErrSkip // already resubmitted
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, wsID, tandem.KindJob, j.Name, "", tandem.OpCreate, res)
	})
	if err == ErrSkip {
		return nil
	} else if err != nil {
		return err
	}
	r.Logger.Info("interrupted job resubmitted", "workspace", wsID, "job", orig.Name, "as", j.Name)
	if j.Compute == tandem.LocalCompute {
		r.jobs().enqueue(JobRef{wsID, j.Name})
	} else {
		r.wakeAgents(wsID, j.Compute) // the cluster's agents claim it
	}
	return nil
}

// --- demotion: stop the local runs

// StopDemotedJobs kills this region's runs of a workspace it no longer
// holds the primary of (the old epoch is given). They end without a
// status write: finishJob sees the mark and keeps only their logs.
func (r *Service) StopDemotedJobs(wsID string, epoch int64) {
	jr := r.jobs()
	jr.mu.Lock()
	defer jr.mu.Unlock()
	kept := jr.pending[:0]
	for _, ref := range jr.pending {
		if ref.WorkspaceID != wsID {
			kept = append(kept, ref)
		}
	}
	jr.pending = kept
	for key, rj := range jr.running {
		if strings.HasPrefix(key, wsID+"/") && rj.demotedAt == 0 {
			rj.demotedAt = epoch
			rj.cancel()
			r.Logger.Warn("job stopped: this region is no longer the primary", "workspace", wsID, "job", strings.TrimPrefix(key, wsID+"/"))
		}
	}
}

// keepDemotedRun handles the end of a run stopped by a demotion and
// reports whether it was one. The record is left to the new primary (which
// marks the job Interrupted); the log, up to the kill, is kept in this
// region's storage as runs/<job>/logs/std_log.<region>.epoch<N>.txt, a key
// no resource names, so that replication never replaces it.
func (r *Service) keepDemotedRun(ctx context.Context, ref JobRef, res *compute.Result, rj *RunningJob) bool {
	r.jobs().mu.Lock()
	epoch := rj.demotedAt
	r.jobs().mu.Unlock()
	if epoch == 0 {
		return false
	}
	if res != nil && res.Log != "" {
		key := fmt.Sprintf("%s%slogs/std_log.%s.epoch%d.txt", tandem.StoragePrefix(ref.WorkspaceID), tandem.RunFolder(ref.Name), r.Name, epoch)
		if f, err := os.Open(res.Log); err == nil {
			_, err = r.Blobs.Put(ctx, key, f, nil)
			f.Close()
			if err != nil {
				r.Logger.Warn("cannot keep the log of a job stopped by the demotion", "job", ref.Name, "err", err)
			} else {
				r.Logger.Info("log of a job stopped by the demotion kept", "job", ref.Name, "key", key)
			}
		}
	}
	return true
}

// --- outputs and log while a job runs

// outputSync uploads a running job's changed output files and its log
// every interval and records them on the job; for a resubmitted job it
// first seeds the output directories from the original's last upload.
type outputSync struct {
	r        *Service
	ref      JobRef
	job      *tandem.Job
	interval time.Duration

	mu   sync.Mutex
	dirs map[string]string // output name -> directory
	log  string
	up   *compute.Uploader // remembers what was uploaded
	stop chan struct{}
	done chan struct{}
}

// watchOutputs wires an outputSync into cj (its PrepareOutputs) for job.
// Call started with the log's path once the command runs, and close before
// the run's end is recorded.
func (r *Service) watchOutputs(ref JobRef, job *tandem.Job, cj *compute.Job) *outputSync {
	s := &outputSync{r: r, ref: ref, job: job, interval: r.JobOutputSync, up: r.runUploader(ref), stop: make(chan struct{}), done: make(chan struct{})}
	if s.interval == 0 {
		s.interval = DefaultJobOutputSync
	}
	cj.PrepareOutputs = func(dirs map[string]string, log io.Writer) error {
		s.mu.Lock()
		s.dirs = dirs
		s.mu.Unlock()
		if job.ResubmittedFrom != "" {
			s.seed(dirs, log)
		}
		return nil
	}
	return s
}

// seed copies the original job's last uploaded outputs into dirs. Files
// that cannot be read verified (not replicated in full before the failover)
// are left out and named in the log.
func (s *outputSync) seed(dirs map[string]string, log io.Writer) {
	ctx := context.Background()
	var res *tandem.Resource
	err := s.r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		res, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: s.ref.WorkspaceID, Kind: tandem.KindJob, Name: s.job.ResubmittedFrom})
		return err
	})
	if err != nil {
		fmt.Fprintf(log, "tandem: cannot seed the outputs from job %s: %v\n", s.job.ResubmittedFrom, err)
		return
	}
	prefix := tandem.StoragePrefix(s.ref.WorkspaceID) + tandem.RunFolder(s.job.ResubmittedFrom) + "outputs/"
	var files int
	var bytes int64
	for _, b := range res.Blobs {
		rel, ok := strings.CutPrefix(b.Key, prefix)
		if !ok {
			continue
		}
		o, file, ok := strings.Cut(rel, "/")
		dir, want := dirs[o]
		if !ok || !want || !fs.ValidPath(file) {
			continue
		}
		if err := s.r.fetchBlob(ctx, b, filepath.Join(dir, filepath.FromSlash(file))); err != nil {
			fmt.Fprintf(log, "tandem: output file %s/%s of job %s not seeded: %v\n", o, file, s.job.ResubmittedFrom, tandem.ErrorMessage(err))
			continue
		}
		files++
		bytes += b.Size
	}
	fmt.Fprintf(log, "tandem: resubmission of job %s: %d output files (%d bytes) seeded from its last uploaded outputs\n", s.job.ResubmittedFrom, files, bytes)
}

// started begins the periodic uploads; a negative interval means only at
// the job's end.
func (s *outputSync) started(log string) {
	s.mu.Lock()
	s.log = log
	s.mu.Unlock()
	if s.interval < 0 {
		close(s.done)
		return
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			if !s.syncOnce(context.Background()) {
				return
			}
		}
	}()
}

// close stops the uploads and waits for one in progress.
func (s *outputSync) close() {
	s.mu.Lock()
	begun := s.log != ""
	s.mu.Unlock()
	close(s.stop)
	if begun {
		<-s.done
	}
}

// syncOnce uploads what changed since the last sync and records it with
// one change entry. It returns false when syncing must stop (the job
// ended, or this region may no longer write).
func (s *outputSync) syncOnce(ctx context.Context) bool {
	s.mu.Lock()
	dirs, log := s.dirs, s.log
	s.mu.Unlock()
	ups, err := s.up.Upload(ctx, dirs, log)
	if err != nil {
		s.r.Logger.Warn("output sync failed; trying again later", "job", s.ref.Name, "err", err)
	}
	if len(ups) == 0 {
		return true
	}
	blobs := compute.Refs(ups)
	err = s.r.UpdateJob(ctx, s.ref, func(j *tandem.Job, res *tandem.Resource) error {
		if tandem.JobDone(j.Status) {
			return ErrSkip
		}
		s.r.addRunBlobs(j, res, blobs)
		return nil
	})
	switch {
	case err == ErrSkip:
		return false
	case tandem.IsCode(err, tandem.ENotPrimary):
		return false
	case err != nil:
		s.r.Logger.Warn("recording synced outputs failed; trying again later", "job", s.ref.Name, "err", err)
		s.up.Forget(ups)
	}
	return true
}

// addRunBlobs records uploaded run files on a job: each key once, the
// latest upload winning; Outputs and OutputsSyncedAt follow.
func (r *Service) addRunBlobs(j *tandem.Job, res *tandem.Resource, blobs []tandem.BlobRef) {
	at := map[string]int{}
	for i, b := range res.Blobs {
		at[b.Key] = i
	}
	for _, b := range blobs {
		if i, ok := at[b.Key]; ok {
			res.Blobs[i] = b
		} else {
			at[b.Key] = len(res.Blobs)
			res.Blobs = append(res.Blobs, b)
		}
	}
	prefix := tandem.StoragePrefix(res.WorkspaceID) + tandem.RunFolder(j.Name) + "outputs/"
	j.Outputs = nil
	for _, b := range res.Blobs {
		if rel, ok := strings.CutPrefix(b.Key, prefix); ok {
			o, _, _ := strings.Cut(rel, "/")
			j.Outputs = append(j.Outputs, tandem.AssetFile{Field: o, Path: rel, SHA256: b.SHA256, Size: b.Size})
		}
	}
	sort.Slice(j.Outputs, func(a, b int) bool { return j.Outputs[a].Path < j.Outputs[b].Path })
	if len(blobs) > 0 {
		now := r.Timestamp()
		j.OutputsSyncedAt = &now
	}
}
