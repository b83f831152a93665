package backup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/archive"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/secrets"
)

// importsPrefix is where an import stages the blobs it reads, outside any
// workspace, until the whole archive has been verified. Each import uses
// its own folder and removes it at the end.
const importsPrefix = "imports/"

// importStampLayout starts the name of an import's staging folder, so that
// the folders of imports that crashed can be found by age.
const importStampLayout = "20060102T150405Z"

// staleImportAge is how old a staging folder must be before another import
// removes it: no import runs that long between staging and cleaning up.
const staleImportAge = 24 * time.Hour

// pruneImports removes staging folders left by imports that crashed.
func (r *Service) pruneImports(ctx context.Context) {
	stale := map[string]bool{}
	now := r.Timestamp()
	err := r.Blobs.List(ctx, importsPrefix, func(b tandem.BlobRef) error {
		folder, _, _ := strings.Cut(strings.TrimPrefix(b.Key, importsPrefix), "/")
		stamp, _, _ := strings.Cut(folder, "-")
		if at, err := time.Parse(importStampLayout, stamp); err == nil && now.Sub(at) > staleImportAge {
			stale[folder] = true
		}
		return nil
	})
	if err != nil {
		r.Logger.Warn("list import staging folders", "err", err)
		return
	}
	for folder := range stale {
		if _, err := r.Blobs.DeletePrefix(ctx, importsPrefix+folder+"/"); err != nil {
			r.Logger.Warn("remove stale import staging folder", "folder", folder, "err", err)
		}
	}
}

// kindRE is what an archive may name as a resource kind.
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// importItem is one resource to write into the target: a portable
// resource (relative blob keys, no workspace id), or a secret in clear.
type importItem struct {
	res    *tandem.Resource
	secret *archive.SecretValue
}

func (it *importItem) key() (tandem.Kind, string, string) {
	if it.secret != nil {
		return tandem.KindSecret, it.secret.Name, ""
	}
	return it.res.Kind, it.res.Name, it.res.Version
}

// blobSource tells where the bytes of a blob for the target are, by its
// portable ref (key relative to the workspace's prefix): the source to copy
// from and the ref there (key, sha256, size), which tandem.CopyBlob
// verifies. It returns ENotFound when it knows there are none.
type blobSource func(ref tandem.BlobRef) (tandem.BlobSource, tandem.BlobRef, error)

func newReport() *tandem.ImportReport {
	return &tandem.ImportReport{
		Format:    archive.Format,
		Resources: map[string]int64{tandem.ImportCreated: 0, tandem.ImportUpdated: 0, tandem.ImportUnchanged: 0, tandem.ImportConflicted: 0},
		Kinds:     map[string]int64{},
	}
}

// ImportWorkspace reads an archive into the workspace named name, which is
// created (with the source's display name, description and tags) when it
// does not exist. The archive is read and verified completely, its blobs
// staged, before anything is written to the target; then each resource is
// written in its own transaction with its own change-log entry, after its
// blobs are in place. A resource the target holds with other content is a
// conflict, reported and not written.
func (r *Service) ImportWorkspace(ctx context.Context, name string, opts tandem.ImportOptions, body io.Reader) (*tandem.ImportReport, error) {
	ar, err := archive.NewReader(body)
	if err != nil {
		return nil, err
	}
	// The target: an existing live workspace the caller may write, or a
	// new one (region admins only).
	var target *tandem.Workspace
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := tx.FindWorkspaceByName(ctx, name)
		if tandem.IsCode(err, tandem.ENotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if ws.Deleted() && region.Visible(ctx, ws) {
			return tandem.Errorf(tandem.EConflict, "workspace %q is deleted; recover it, or import into another name", name).WithTarget(name)
		}
		target, err = r.LiveWorkspace(ctx, tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if target == nil {
		if err := region.RequireAdmin(ctx, "importing into a new workspace"); err != nil {
			return nil, err
		}
		if err := tandem.ValidateWorkspaceName(name); err != nil {
			return nil, err
		}
	} else if err := r.CheckWritable(ctx, target.ID); err != nil {
		return nil, err
	}

	rep := newReport()
	h := ar.Header
	rep.Workspace, rep.SourceWorkspace, rep.SourceID, rep.SourceRegion = name, h.Workspace.Name, h.Workspace.ID, h.Region

	r.pruneImports(ctx)
	stage := importsPrefix + r.Timestamp().Format(importStampLayout) + "-" + uuid.NewString() + "/"
	defer func() {
		if _, err := r.Blobs.DeletePrefix(context.WithoutCancel(ctx), stage); err != nil {
			r.Logger.Warn("remove staged import blobs", "prefix", stage, "err", err)
		}
	}()

	items, staged, err := r.readArchive(ctx, ar, opts, target, stage, rep)
	if err != nil {
		return nil, err
	}

	if target == nil {
		ws := &tandem.Workspace{Name: name, DisplayName: h.Workspace.DisplayName, Description: h.Workspace.Description, Tags: h.Workspace.Tags}
		if err := r.CreateWorkspace(ctx, ws); err != nil {
			return nil, err
		}
		target, rep.WorkspaceCreated = ws, true
	}
	rep.ID = target.ID
	src := func(ref tandem.BlobRef) (tandem.BlobSource, tandem.BlobRef, error) {
		if !staged[ref.SHA256] {
			return nil, tandem.BlobRef{}, tandem.Errorf(tandem.ENotFound, "blob %s is no longer in the target and was not staged; import again", ref.Key)
		}
		return r.Blobs, tandem.BlobRef{Key: stage + ref.SHA256, SHA256: ref.SHA256, Size: ref.Size}, nil
	}
	if err := r.commitItems(ctx, target, items, src, rep); err != nil {
		return rep, err
	}
	r.warnCredentials(ctx, target, items, rep)
	r.Logger.Info("workspace imported", "workspace", name, "id", target.ID, "source", h.Workspace.Name, "source_region", h.Region,
		"created", rep.Resources[tandem.ImportCreated], "updated", rep.Resources[tandem.ImportUpdated],
		"unchanged", rep.Resources[tandem.ImportUnchanged], "conflicts", len(rep.Conflicts), "blobs_copied", rep.BlobsCopied)
	return rep, nil
}

// readArchive reads every entry of an archive, checks the resources, stages
// the blobs the target lacks under stage, and returns the items to write
// and the staged sha256s. It changes nothing else.
func (r *Service) readArchive(ctx context.Context, ar *archive.Reader, opts tandem.ImportOptions, target *tandem.Workspace, stage string, rep *tandem.ImportReport) ([]*importItem, map[string]bool, error) {
	var (
		items     []*importItem
		want      map[string]tandem.BlobRef // by relative key
		owner     = map[string]string{}
		got       = map[string]bool{}
		staged    = map[string]bool{}
		sawSecret bool
	)
	for {
		f, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch {
		case f.Name == archive.ResourcesFile:
			if f.Size > archive.MaxMetaSize {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s is %d bytes; at most %d are allowed", f.Name, f.Size, archive.MaxMetaSize)
			}
			var res []*importItem
			if res, want, err = readResources(f, owner); err != nil {
				return nil, nil, err
			}
			items = append(items, res...)
		case f.Name == archive.SecretsFile:
			res, err := readSecrets(f, opts, ar.Header.Workspace.ID)
			if err != nil {
				return nil, nil, err
			}
			items = append(items, res...)
			sawSecret = true
		case strings.HasPrefix(f.Name, archive.YAMLDir):
			if f.Size > archive.MaxYAMLSize {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s is %d bytes; at most %d are allowed", f.Name, f.Size, archive.MaxYAMLSize)
			}
			// For people; the reader hashes it on its way past.
		case strings.HasPrefix(f.Name, archive.BlobsDir):
			rel := strings.TrimPrefix(f.Name, archive.BlobsDir)
			if want == nil {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: blob entry %q comes before %s", f.Name, archive.ResourcesFile)
			}
			ref, ok := want[rel]
			if !ok {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: blob entry %q is referenced by no resource", f.Name)
			}
			if f.Size != ref.Size {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: blob entry %q is %d bytes, but %s records %d", f.Name, f.Size, owner[rel], ref.Size)
			}
			if err := r.CheckUploadSize("blob "+f.Name, ref.Size); err != nil {
				return nil, nil, err
			}
			got[rel] = true
			if staged[ref.SHA256] {
				continue
			}
			if err := r.stageBlob(ctx, f, ref, owner[rel], target, rel, stage, staged); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: unexpected entry %q", f.Name)
		}
	}
	if want == nil {
		return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: no %s entry", archive.ResourcesFile)
	}
	for _, rel := range slices.Sorted(mapKeys(want)) {
		if !got[rel] {
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: blob %q of %s is missing", archive.BlobsDir+rel, owner[rel])
		}
	}
	if ar.Header.Secrets != "" && !sawSecret {
		return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: the header announces secrets but there is no %s", archive.SecretsFile)
	}
	return items, staged, nil
}

// readSecrets decrypts the secrets entry f of an archive of workspace
// sourceID with the key opts gives, and checks every secret.
func readSecrets(f *archive.File, opts tandem.ImportOptions, sourceID string) ([]*importItem, error) {
	if f.Size > archive.MaxSecretSize {
		return nil, tandem.Errorf(tandem.ECorrupt, "archive: %s is %d bytes; at most %d are allowed", f.Name, f.Size, archive.MaxSecretSize)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	values, err := archive.OpenSecretsWith([]byte(opts.Passphrase), opts.Identity, sourceID, data)
	if err != nil {
		return nil, err
	}
	var items []*importItem
	for i := range values {
		v := &values[i]
		if err := tandem.ValidateSecretName(v.Name); err != nil {
			return nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: %s", archive.SecretsFile, tandem.ErrorMessage(err))
		}
		if err := secrets.CheckSecretValue(v.Value); err != nil {
			return nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: secret %q: %s", archive.SecretsFile, v.Name, tandem.ErrorMessage(err))
		}
		items = append(items, &importItem{secret: v})
	}
	return items, nil
}

// stageBlob copies the blob entry f, which owner records as ref, under
// stage by its sha256 and marks it staged, unless the target already
// holds those bytes at rel.
func (r *Service) stageBlob(ctx context.Context, f *archive.File, ref tandem.BlobRef, owner string, target *tandem.Workspace, rel, stage string, staged map[string]bool) error {
	if target != nil {
		if cur, err := r.Blobs.Stat(ctx, tandem.StoragePrefix(target.ID)+rel); err == nil && cur.SHA256 == ref.SHA256 && cur.Size == ref.Size {
			return nil // already there; the reader checks the entry's bytes against the manifest
		}
	}
	entry := tandem.BlobRef{Key: f.Name, SHA256: ref.SHA256, Size: ref.Size}
	if _, err := tandem.CopyBlob(ctx, r.Blobs, stage+ref.SHA256, tandem.ReaderSource(f), entry); err != nil {
		if tandem.IsCode(err, tandem.ECorrupt) {
			return tandem.Errorf(tandem.ECorrupt, "archive: blob entry %q does not match the sha256 %s that %s records", f.Name, ref.SHA256, owner)
		}
		return fmt.Errorf("stage blob %s: %w", f.Name, err)
	}
	staged[ref.SHA256] = true
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// readResources decodes and checks resources.jsonl: every line a resource
// of a valid kind and name, once, with well-formed blob references under
// keys that are clean relative paths. It returns the items and the blobs
// they reference by relative key (owner names the first resource holding
// each).
func readResources(f io.Reader, owner map[string]string) ([]*importItem, map[string]tandem.BlobRef, error) {
	dec := json.NewDecoder(f)
	want := map[string]tandem.BlobRef{}
	seen := map[string]bool{}
	var items []*importItem
	for line := 1; ; line++ {
		var res tandem.Resource
		if err := dec.Decode(&res); err == io.EOF {
			break
		} else if err != nil {
			if tandem.ErrorCode(err) == tandem.ECorrupt {
				return nil, nil, err
			}
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s:%d: %v", archive.ResourcesFile, line, err)
		}
		where := fmt.Sprintf("%s:%d", archive.ResourcesFile, line)
		switch {
		case !kindRE.MatchString(string(res.Kind)):
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: invalid kind %q", where, res.Kind)
		case res.Kind == tandem.KindWorkspace || res.Kind == tandem.KindToken || res.Kind == tandem.KindSecret:
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: a %s cannot be imported as a resource", where, res.Kind)
		case res.Name == "" || len(res.Name) > archive.MaxNameLen || strings.ContainsRune(res.Name, 0):
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: %s with an invalid name %q", where, res.Kind, res.Name)
		case len(res.Version) > 256 || strings.ContainsRune(res.Version, 0):
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: invalid version %q", where, res.Version)
		case res.WorkspaceID != "":
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: resources of an archive name no workspace id", where)
		}
		if len(bytes.TrimSpace(res.Spec)) > 0 && !json.Valid(res.Spec) {
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: spec is not JSON", where)
		}
		id := string(res.Kind) + "\x00" + res.Name + "\x00" + res.Version
		if seen[id] {
			return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: %s appears twice", where, describe(res.Kind, res.Name, res.Version))
		}
		seen[id] = true
		for _, b := range res.Blobs {
			if err := archive.CheckName(archive.BlobsDir + b.Key); err != nil {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: blob key %q: %s", where, b.Key, tandem.ErrorMessage(err))
			}
			if !region.ValidSHA256(b.SHA256) || b.Size < 0 {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: blob %q has an invalid sha256 or size", where, b.Key)
			}
			if prev, ok := want[b.Key]; ok && (prev.SHA256 != b.SHA256 || prev.Size != b.Size) {
				return nil, nil, tandem.Errorf(tandem.ECorrupt, "archive: %s: blob %q is recorded with two different sha256s", where, b.Key)
			} else if !ok {
				want[b.Key] = b
				owner[b.Key] = describe(res.Kind, res.Name, res.Version)
			}
		}
		items = append(items, &importItem{res: &res})
	}
	return items, want, nil
}

func describe(kind tandem.Kind, name, version string) string {
	s := string(kind) + " " + name
	if version != "" {
		s += ":" + version
	}
	return s
}

// commitOrder writes secrets first, then datastores, then everything else
// by kind, name and version, so that what others name exists first.
func commitOrder(a, b *importItem) int {
	rank := func(it *importItem) int {
		k, _, _ := it.key()
		switch k {
		case tandem.KindSecret:
			return 0
		case tandem.KindDatastore:
			return 1
		}
		return 2
	}
	ak, an, av := a.key()
	bk, bn, bv := b.key()
	return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(string(ak), string(bk)), strings.Compare(an, bn), strings.Compare(av, bv))
}

// commitItems writes each item into ws: its blobs first (copied from src
// unless the target holds them with the same bytes), then the resource and
// its change in one transaction.
func (r *Service) commitItems(ctx context.Context, ws *tandem.Workspace, items []*importItem, src blobSource, rep *tandem.ImportReport) error {
	slices.SortFunc(items, commitOrder)
	for _, it := range items {
		var (
			action string
			reason string
			err    error
		)
		if it.secret != nil {
			action, reason, err = r.commitSecret(ctx, ws, it.secret)
		} else {
			action, reason, err = r.commitResource(ctx, ws, it.res, src, rep)
		}
		if err != nil {
			k, n, v := it.key()
			return fmt.Errorf("import %s: %w", describe(k, n, v), err)
		}
		k, n, v := it.key()
		rep.Resources[action]++
		rep.Kinds[string(k)+"/"+action]++
		if action == tandem.ImportConflicted {
			rep.Conflicts = append(rep.Conflicts, tandem.ImportConflict{Kind: k, Name: n, Version: v, Reason: reason})
		}
	}
	return nil
}

// compareResource decides what to do with an incoming resource given the
// target's: nothing when they are the same, an update when the incoming
// one is a later state of the same resource (same creation time, same
// blobs for a version of a versioned kind, later update time), a conflict
// otherwise.
func compareResource(cur, in *tandem.Resource) (action, reason string, err error) {
	a, err := resourceDigest(cur)
	if err != nil {
		return "", "", err
	}
	b, err := resourceDigest(in)
	if err != nil {
		return "", "", err
	}
	if a == b {
		return tandem.ImportUnchanged, "", nil
	}
	if cur.CreatedAt.Equal(in.CreatedAt) && in.UpdatedAt.After(cur.UpdatedAt) && (in.Version == "" || slices.Equal(cur.Blobs, in.Blobs)) {
		return tandem.ImportUpdated, "", nil
	}
	why := fmt.Sprintf("the target holds it with other content (target created %s, updated %s; archive created %s, updated %s)",
		cur.CreatedAt.Format(digestTime), cur.UpdatedAt.Format(digestTime), in.CreatedAt.Format(digestTime), in.UpdatedAt.Format(digestTime))
	if in.Version != "" {
		why = "version exists with other content: " + why
	}
	return tandem.ImportConflicted, why, nil
}

// commitResource writes one portable resource into ws.
func (r *Service) commitResource(ctx context.Context, ws *tandem.Workspace, p *tandem.Resource, src blobSource, rep *tandem.ImportReport) (string, string, error) {
	in := *p
	in.WorkspaceID = ws.ID
	in.Blobs = make([]tandem.BlobRef, len(p.Blobs))
	for i, b := range p.Blobs {
		in.Blobs[i] = tandem.BlobRef{Key: tandem.StoragePrefix(ws.ID) + b.Key, SHA256: b.SHA256, Size: b.Size}
	}
	decide := func(tx tandem.Tx) (string, string, error) {
		cur, err := tx.FindResource(ctx, in.Key())
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.ImportCreated, "", nil
		} else if err != nil {
			return "", "", err
		}
		return compareResource(cur, &in)
	}
	var action, reason string
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		action, reason, err = decide(tx)
		return err
	})
	if err != nil || action == tandem.ImportUnchanged || action == tandem.ImportConflicted {
		return action, reason, err
	}

	// Bytes first, then the resource and its change in one transaction.
	blobs, conflict, err := r.copyResourceBlobs(ctx, ws, p, &in, action, src)
	if err != nil {
		return "", "", err
	} else if conflict != "" {
		return tandem.ImportConflicted, conflict, nil
	}
	err = r.Store.Update(ctx, func(tx tandem.Tx) (err error) {
		// Decide again inside the write: another writer may have been
		// faster.
		again, why, err := decide(tx)
		if err != nil {
			return err
		}
		if again != action {
			action, reason = again, why
			return nil
		}
		if err := tx.PutResource(ctx, &in); err != nil {
			return err
		}
		for _, pw := range blobs.pending {
			if err := region.PutPending(ctx, tx, pw.Final, pw.Staged); err != nil {
				return err
			}
		}
		op := tandem.OpCreate
		if action == tandem.ImportUpdated {
			op = tandem.OpUpdate
		}
		return r.LogChange(ctx, tx, ws.ID, in.Kind, in.Name, in.Version, op, &in)
	})
	if err != nil || (action != tandem.ImportCreated && action != tandem.ImportUpdated) {
		r.RemoveBlobs(ctx, blobs.written)
		return action, reason, err
	}
	for _, pw := range blobs.pending {
		if err := r.FinishPending(ctx, pw.Final.Key); err != nil {
			r.Logger.Warn("imported bytes left pending; the next read or restart finishes the copy", "key", pw.Final.Key, "err", err)
		}
	}
	rep.BlobsCopied += blobs.copied
	rep.BytesCopied += blobs.copiedBytes
	rep.BlobsPresent += blobs.present
	return action, reason, nil
}

// importedBlobs is what copyResourceBlobs wrote.
type importedBlobs struct {
	written                      []tandem.BlobRef // in place, or staged for a pending write
	pending                      []region.PendingWrite
	copied, copiedBytes, present int64
}

// copyResourceBlobs copies the blobs of in (p as the target holds it)
// that the target lacks, from src, before the resource is written with
// action. A missing key is written in place (a failure removes it again:
// nothing references it). A key the target holds with other bytes is a
// conflict for a new resource (those bytes are someone's), returned as its
// reason; for an update (a notebook saved again) the new bytes are staged
// and copied over the old ones only once the update has committed, as a
// pending write (pending.go), so the old record never points at new
// bytes. On a conflict or an error it leaves nothing written.
func (r *Service) copyResourceBlobs(ctx context.Context, ws *tandem.Workspace, p, in *tandem.Resource, action string, src blobSource) (*importedBlobs, string, error) {
	out := &importedBlobs{}
	for i, b := range in.Blobs {
		cur, err := r.Blobs.Stat(ctx, b.Key)
		dest := b.Key
		switch {
		case err == nil && cur.SHA256 == b.SHA256 && cur.Size == b.Size:
			out.present++
			continue
		case err == nil && action == tandem.ImportCreated:
			r.RemoveBlobs(ctx, out.written)
			return nil, fmt.Sprintf("the target's storage holds other bytes at %s", b.Key), nil
		case err == nil:
			dest = tandem.StoragePrefix(ws.ID) + "staging/import-" + uuid.NewString()
			out.pending = append(out.pending, region.PendingWrite{Final: b, Staged: dest})
		case !tandem.IsCode(err, tandem.ENotFound):
			r.RemoveBlobs(ctx, out.written)
			return nil, "", err
		}
		store, from, err := src(p.Blobs[i])
		if err != nil {
			r.RemoveBlobs(ctx, out.written)
			return nil, "", err
		}
		ref, err := tandem.CopyBlob(ctx, r.Blobs, dest, store, from)
		if err != nil {
			r.RemoveBlobs(ctx, out.written)
			return nil, "", fmt.Errorf("copy blob %s: %w", b.Key, err)
		}
		out.written = append(out.written, ref)
		out.copied++
		out.copiedBytes += ref.Size
	}
	return out, "", nil
}

// commitSecret seals a secret under this region's vault, bound to ws, and
// writes it with its version and times.
func (r *Service) commitSecret(ctx context.Context, ws *tandem.Workspace, s *archive.SecretValue) (string, string, error) {
	v, err := r.RequireVault()
	if err != nil {
		return "", "", err
	}
	var action, reason string
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		key := tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: s.Name}
		op := tandem.OpCreate
		cur, err := tx.FindResource(ctx, key)
		switch {
		case err == nil:
			_, sp, err := secrets.DecodeSecret(cur)
			if err != nil {
				return err
			}
			value, err := v.Open(sp.Sealed, secrets.SecretAAD(ws.ID, s.Name))
			if err != nil {
				return secrets.VaultError(r.Logger, err, ws.Name, s.Name)
			}
			same := bytes.Equal(value, s.Value)
			clear(value)
			switch {
			case same && sp.Version == s.Version:
				action = tandem.ImportUnchanged
				return nil
			case cur.CreatedAt.Equal(s.CreatedAt) && s.UpdatedAt.After(cur.UpdatedAt) && s.Version > sp.Version:
				op, action = tandem.OpUpdate, tandem.ImportUpdated
			default:
				action = tandem.ImportConflicted
				reason = fmt.Sprintf("the target holds secret version %d with another value or history (archive: version %d)", sp.Version, s.Version)
				return nil
			}
		case tandem.IsCode(err, tandem.ENotFound):
			action = tandem.ImportCreated
		default:
			return err
		}
		sp := secrets.SecretSpec{Version: s.Version}
		if sp.Sealed, err = v.Seal(s.Value, secrets.SecretAAD(ws.ID, s.Name)); err != nil {
			return fmt.Errorf("seal secret %q: %w", s.Name, err)
		}
		res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: s.Name, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
		if res.Spec, err = json.Marshal(sp); err != nil {
			return err
		}
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindSecret, s.Name, "", op, res)
	})
	return action, reason, err
}

// warnCredentials adds a warning for each datastore whose credential
// secrets the target lacks (the archive was made without secrets).
func (r *Service) warnCredentials(ctx context.Context, ws *tandem.Workspace, items []*importItem, rep *tandem.ImportReport) {
	for _, it := range items {
		if it.res != nil && it.res.Kind == tandem.KindJob {
			var j struct {
				Status string `json:"status"`
			}
			if json.Unmarshal(it.res.Spec, &j) == nil && !tandem.JobDone(j.Status) {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("job %q was %s when it was exported: its record is imported as it was, and nothing runs it here (export again with --since once it has ended)", it.res.Name, j.Status))
			}
		}
		if it.res == nil || it.res.Kind != tandem.KindDatastore {
			continue
		}
		var ds struct {
			Credentials map[string]string `json:"credentials"`
		}
		if json.Unmarshal(it.res.Spec, &ds) != nil {
			continue
		}
		for _, field := range slices.Sorted(mapKeys(ds.Credentials)) {
			secret := ds.Credentials[field]
			err := r.Store.View(ctx, func(tx tandem.Tx) error {
				_, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: secret})
				return err
			})
			if tandem.IsCode(err, tandem.ENotFound) {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("datastore %q: its %s is in secret %q, which the archive did not carry (export with --include secrets, or set it: tandem secret set --name %s)", it.res.Name, field, secret, secret))
			}
		}
	}
}
