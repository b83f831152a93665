package backup

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

var _ tandem.DigestService = (*Service)(nil)

// The digest is defined in docs/design.md ("Digest"); this file is its only
// implementation. Any change to what a line holds or how it is written is a
// new tandem.DigestFormat: regions running different formats cannot compare
// digests.

// digestExcludedBlobs are the region-local parts of a workspace's storage,
// relative to its prefix. A name ending in "/" excludes everything under it.
var digestExcludedBlobs = []struct{ rel, why string }{
	{"staging/", "uploads staged for an asset create; region-local and removed once the create succeeds"},
	{"snapshots/", "metadata snapshots and exports, written by each region for itself"},
	{"divergence/", "copies of the bytes of writes a demoted primary set aside (listed by tandem pair divergence)"},
	{"conflicts/", "copies of the bytes of losing hot/hot writes, kept by each region under its own conflict ids (listed by tandem pair conflicts)"},
	{region.WorkspaceMarker, "the storage marker, which names the region and the workspace's name there"},
}

// digestLocalSpecFields are the fields of a kind's spec that each region
// keeps its own way, by JSON path. Secrets: each region wraps a secret's
// data key under its own key-encryption key (docs/design.md, "Peer
// regions"); the nonce and ciphertext, which replication copies as they
// are, stay covered.
var digestLocalSpecFields = map[tandem.Kind][][]string{
	tandem.KindSecret: {{"sealed", "alg"}, {"sealed", "kid"}, {"sealed", "wrapped_key"}, {"sealed", "key_nonce"}},
}

// digestTime is how resource times enter the digest: UTC, microseconds
// (what both metadata backends store), fixed width.
const digestTime = "2006-01-02T15:04:05.000000Z"

// maxReportedBlobs bounds the keys a verification error lists; the log has
// every one.
const maxReportedBlobs = 20

// digestExcluded describes what the digest of workspace id leaves out.
func digestExcluded(id string, content bool) []string {
	p := tandem.StoragePrefix(id)
	var out []string
	if content {
		out = append(out,
			"content digest: the workspace id; blob references are taken relative to "+p,
			"content digest: workspace tokens (access, not content)",
			"content digest: secret values and their encryption (a secret is covered by its name, version and times)")
	}
	out = append(out, []string{
		"workspace name: a secondary may be named differently",
		"workspace region",
		"workspace created_at, updated_at, deleted_at and purge_at: each region writes its own workspace row (whether the workspace is soft-deleted is covered)",
		"workspace associated resources: derived from the workspace id, which is covered",
		"change log: sequence numbers, origins and times are per region",
		"token ids and created_at; region admin tokens, which belong to no workspace",
		"secret key wrapping (sealed.alg, sealed.kid, sealed.wrapped_key, sealed.key_nonce): each region wraps data keys under its own key; the nonce and ciphertext are covered",
	}...)
	for _, ex := range digestExcludedBlobs {
		what := "blob " + p + ex.rel
		if strings.HasSuffix(ex.rel, "/") {
			what = "blobs under " + p + ex.rel
		}
		out = append(out, what+": "+ex.why)
	}
	return out
}

func digestExcludedBlob(rel string) bool {
	for _, ex := range digestExcludedBlobs {
		if rel == ex.rel || strings.HasSuffix(ex.rel, "/") && strings.HasPrefix(rel, ex.rel) {
			return true
		}
	}
	return false
}

// digester hashes the canonical line stream of a digest.
type digester struct {
	h      hash.Hash
	counts map[string]int64
	bytes  int64
}

// line writes one line: fields separated by one space, ending in "\n".
func (d *digester) line(fields ...string) {
	io.WriteString(d.h, strings.Join(fields, " "))
	io.WriteString(d.h, "\n")
}

// jsonString writes s as a JSON string, without HTML escaping, so that no
// field can hold a space or a newline.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// DigestWorkspace computes the digest of a live or soft-deleted workspace
// the caller may see. The metadata is read in one transaction, then the
// storage is listed; the blobs' recorded sha256s are used, and no blob is
// read unless opts.VerifyBlobs.
func (r *Service) DigestWorkspace(ctx context.Context, name string, opts tandem.DigestOptions) (*tandem.WorkspaceDigest, error) {
	start := time.Now()
	var (
		ws        *tandem.Workspace
		resources []*tandem.Resource
		tokens    []*tandem.Token
	)
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if ws, err = r.AnyWorkspace(ctx, tx, name); err != nil {
			return err
		}
		if resources, err = tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID}); err != nil {
			return err
		}
		tokens, err = tx.ListTokens(ctx, tandem.TokenFilter{WorkspaceID: ws.ID})
		return err
	})
	if err != nil {
		return nil, err
	}

	format := tandem.DigestFormat
	if opts.Content {
		format = tandem.ContentDigestFormat
	}
	d := &digester{h: sha256.New(), counts: map[string]int64{"token": 0, "blob": 0}}
	d.line(format)
	d.workspace(ws, opts.Content)
	if err := d.resources(resources, opts.Content); err != nil {
		return nil, err
	}
	if !opts.Content {
		d.tokens(tokens)
	}
	if err := r.digestBlobs(ctx, d, ws, resources, opts.VerifyBlobs); err != nil {
		return nil, err
	}

	out := &tandem.WorkspaceDigest{
		Workspace:     ws.Name,
		ID:            ws.ID,
		Format:        format,
		Digest:        "sha256:" + hex.EncodeToString(d.h.Sum(nil)),
		Counts:        d.counts,
		Bytes:         d.bytes,
		Excluded:      digestExcluded(ws.ID, opts.Content),
		VerifiedBlobs: opts.VerifyBlobs,
		ComputedAt:    r.Timestamp(),
	}
	r.Logger.Info("workspace digest", "workspace", ws.Name, "id", ws.ID, "digest", out.Digest,
		"blobs", d.counts["blob"], "verified", opts.VerifyBlobs, "duration", time.Since(start))
	return out, nil
}

// workspace writes the workspace's lines: its row (without its id in a
// content digest) and its tags.
func (d *digester) workspace(ws *tandem.Workspace, content bool) {
	state := "live"
	if ws.Deleted() {
		state = "deleted"
	}
	if content {
		d.line("workspace", jsonString(ws.DisplayName), jsonString(ws.Description), state)
	} else {
		d.line("workspace", jsonString(ws.ID), jsonString(ws.DisplayName), jsonString(ws.Description), state)
	}
	for _, k := range slices.Sorted(maps.Keys(ws.Tags)) {
		d.line("tag", jsonString(k), jsonString(ws.Tags[k]))
	}
}

// resources writes one line per resource, by kind, name and version.
func (d *digester) resources(resources []*tandem.Resource, content bool) error {
	slices.SortFunc(resources, func(a, b *tandem.Resource) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Name, b.Name), strings.Compare(a.Version, b.Version))
	})
	for _, res := range resources {
		in := res
		if content {
			var err error
			if in, err = contentResource(res); err != nil {
				return err
			}
		}
		sum, err := resourceDigest(in)
		if err != nil {
			return err
		}
		d.line("resource", jsonString(string(res.Kind)), jsonString(res.Name), jsonString(res.Version), sum)
		d.counts[string(res.Kind)]++
	}
	return nil
}

// tokens writes one line per workspace token, by name.
func (d *digester) tokens(tokens []*tandem.Token) {
	slices.SortFunc(tokens, func(a, b *tandem.Token) int { return strings.Compare(a.Name, b.Name) })
	for _, t := range tokens {
		d.line("token", jsonString(t.Name), t.Hash)
		d.counts["token"]++
	}
}

// digestBlobs writes one line per blob in the workspace's storage, in key
// order, by its recorded sha256; with verify, it also reads every blob
// and checks it, and the resources' references, against what is stored.
func (r *Service) digestBlobs(ctx context.Context, d *digester, ws *tandem.Workspace, resources []*tandem.Resource, verify bool) error {
	v := &blobVerifier{r: r.Region, refs: referencedBlobs(resources)}
	prefix := tandem.StoragePrefix(ws.ID)
	prev := ""
	err := r.Blobs.List(ctx, prefix, func(ref tandem.BlobRef) error {
		if prev != "" && ref.Key <= prev {
			return fmt.Errorf("blob store listed %q after %q: List must yield keys in order", ref.Key, prev)
		}
		prev = ref.Key
		rel := strings.TrimPrefix(ref.Key, prefix)
		if digestExcludedBlob(rel) {
			return nil
		}
		d.line("blob", jsonString(rel), ref.SHA256, strconv.FormatInt(ref.Size, 10))
		d.counts["blob"]++
		d.bytes += ref.Size
		if verify {
			return v.listed(ctx, ref)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list storage of workspace %q: %w", ws.Name, err)
	}
	if !verify {
		return nil
	}
	if err := v.unlisted(ctx); err != nil {
		return err
	}
	return v.report(ws)
}

// contentResource returns res as the content digest covers it: blob keys
// relative to its workspace's storage prefix, and a secret's spec reduced
// to its version (each workspace seals values under its own id).
func contentResource(res *tandem.Resource) (*tandem.Resource, error) {
	out := *res
	prefix := tandem.StoragePrefix(res.WorkspaceID)
	out.Blobs = make([]tandem.BlobRef, len(res.Blobs))
	for i, b := range res.Blobs {
		out.Blobs[i] = tandem.BlobRef{Key: strings.TrimPrefix(b.Key, prefix), SHA256: b.SHA256, Size: b.Size}
	}
	if res.Kind == tandem.KindSecret {
		var sp struct {
			Version json.Number `json:"version"`
		}
		if err := json.Unmarshal(res.Spec, &sp); err != nil {
			return nil, fmt.Errorf("digest of secret %q: %w", res.Name, err)
		}
		v := sp.Version.String()
		if v == "" {
			v = "0"
		}
		out.Spec = json.RawMessage(`{"version":` + v + `}`)
	}
	return &out, nil
}

// resourceDigest returns the sha256 (hex) of the canonical document of a
// resource: a JSON object with sorted keys and no insignificant space
// holding its kind, name, version, canonical spec, blob references (in the
// resource's order, which is part of it) and times.
func resourceDigest(res *tandem.Resource) (string, error) {
	blobs := res.Blobs
	if blobs == nil {
		blobs = []tandem.BlobRef{}
	}
	doc := map[string]any{
		"kind":       res.Kind,
		"name":       res.Name,
		"version":    res.Version,
		"spec":       canonicalSpec(res.Spec, digestLocalSpecFields[res.Kind]),
		"blobs":      blobs,
		"created_at": res.CreatedAt.UTC().Truncate(time.Microsecond).Format(digestTime),
		"updated_at": res.UpdatedAt.UTC().Truncate(time.Microsecond).Format(digestTime),
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("digest of %s %q: %w", res.Kind, res.Name, err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:]), nil
}

// canonicalSpec returns spec with its object keys sorted, no insignificant
// space, numbers as written, and the fields at drop removed. A spec that is
// not JSON (it never should be) enters as a JSON string of its bytes, so
// that it is still covered.
func canonicalSpec(spec json.RawMessage, drop [][]string) json.RawMessage {
	if len(bytes.TrimSpace(spec)) == 0 {
		return json.RawMessage("null")
	}
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.Decode(new(any)) != io.EOF {
		return json.RawMessage(jsonString(string(spec)))
	}
	for _, p := range drop {
		deletePath(v, p)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage(jsonString(string(spec)))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// deletePath removes the field at path from nested JSON objects, if there.
func deletePath(v any, path []string) {
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if i == len(path)-1 {
			delete(m, k)
			return
		}
		v = m[k]
	}
}

// blobUse is a blob reference and the resource that holds it.
type blobUse struct {
	ref   tandem.BlobRef
	owner string
}

func referencedBlobs(resources []*tandem.Resource) map[string][]blobUse {
	out := map[string][]blobUse{}
	for _, res := range resources {
		owner := string(res.Kind) + " " + res.Name
		if res.Version != "" {
			owner += ":" + res.Version
		}
		for _, ref := range res.Blobs {
			out[ref.Key] = append(out[ref.Key], blobUse{ref: ref, owner: owner})
		}
	}
	return out
}

// blobVerifier re-reads blobs and collects the ones that fail: bytes that
// do not match the recorded sha256 and size, a recorded sha256 or size that
// differs from a resource's reference, and referenced blobs that are
// missing.
type blobVerifier struct {
	r    *region.Region
	refs map[string][]blobUse
	seen map[string]bool
	bad  []string // "key: what is wrong"
}

// listed verifies a blob found in the listing.
func (v *blobVerifier) listed(ctx context.Context, ref tandem.BlobRef) error {
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	v.seen[ref.Key] = true
	return v.check(ctx, ref)
}

// unlisted verifies the referenced blobs the listing did not yield: missing
// ones, and any a resource keeps outside the covered part of the storage.
func (v *blobVerifier) unlisted(ctx context.Context) error {
	for _, key := range slices.Sorted(maps.Keys(v.refs)) {
		if v.seen[key] {
			continue
		}
		ref, err := v.r.Blobs.Stat(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			v.fail(key, "missing, referenced by %s", v.refs[key][0].owner)
			continue
		} else if err != nil {
			return err
		}
		if err := v.check(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

// check compares a blob's recorded ref with the resources that reference
// it, then reads it and compares its bytes with the recorded ref.
func (v *blobVerifier) check(ctx context.Context, ref tandem.BlobRef) error {
	for _, use := range v.refs[ref.Key] {
		if use.ref.SHA256 != ref.SHA256 || use.ref.Size != ref.Size {
			v.fail(ref.Key, "stored sha256 %s (%d bytes), but %s references sha256 %s (%d bytes)",
				ref.SHA256, ref.Size, use.owner, use.ref.SHA256, use.ref.Size)
			return nil
		}
	}
	rc, err := v.r.Blobs.OpenVerified(ctx, ref)
	if tandem.IsCode(err, tandem.ENotFound) {
		v.fail(ref.Key, "removed while the digest was computed")
		return nil
	} else if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	switch {
	case tandem.IsCode(err, tandem.ECorrupt):
		v.fail(ref.Key, "bytes do not match the recorded sha256 %s and size %d", ref.SHA256, ref.Size)
	case err != nil:
		return fmt.Errorf("verify blob %q: %w", ref.Key, err)
	}
	return nil
}

func (v *blobVerifier) fail(key, format string, args ...any) {
	v.bad = append(v.bad, key+": "+fmt.Sprintf(format, args...))
}

// report returns the ECorrupt error listing the blobs that failed, and logs
// every one of them.
func (v *blobVerifier) report(ws *tandem.Workspace) error {
	if len(v.bad) == 0 {
		return nil
	}
	for _, b := range v.bad {
		v.r.Logger.Error("blob failed verification", "workspace", ws.Name, "id", ws.ID, "problem", b)
	}
	shown := v.bad
	more := ""
	if len(shown) > maxReportedBlobs {
		more = fmt.Sprintf("; and %d more (the server log lists every one)", len(shown)-maxReportedBlobs)
		shown = shown[:maxReportedBlobs]
	}
	return tandem.Errorf(tandem.ECorrupt, "workspace %q: %d blob(s) failed verification: %s%s",
		ws.Name, len(v.bad), strings.Join(shown, "; "), more).WithTarget(ws.Name)
}
