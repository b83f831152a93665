package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/archive"
	"github.com/tandemml/tandem/secrets"
	"github.com/tandemml/tandem/spec"
)

var _ tandem.ArchiveService = (*Service)(nil)

// Workspace archives (docs/archive-format.md): ExportWorkspace streams one,
// ImportWorkspace (import.go) reads one, RestoreWorkspace (restore.go)
// rebuilds a workspace from the snapshots in its storage.

// parseInclude returns the set of categories opts asks for: every one but
// secrets when empty.
func parseInclude(list []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(list) == 0 {
		for _, c := range tandem.ExportCategories {
			out[c] = c != tandem.IncludeSecrets
		}
		return out, nil
	}
	for _, c := range list {
		c = strings.TrimSpace(c)
		if c == "all" {
			for _, c := range tandem.ExportCategories {
				out[c] = true
			}
			continue
		}
		if !slices.Contains(tandem.ExportCategories, c) {
			return nil, tandem.Errorf(tandem.EInvalid, "unknown category %q to include; use %s (or all)",
				c, strings.Join(tandem.ExportCategories, ", ")).WithTarget("include")
		}
		out[c] = true
	}
	return out, nil
}

// relBlob returns a blob key relative to the workspace's storage prefix.
func relBlob(wsID, key string) (string, error) {
	prefix := tandem.StoragePrefix(wsID)
	if !strings.HasPrefix(key, prefix) || len(key) == len(prefix) {
		return "", fmt.Errorf("blob %q is outside the storage of workspace %s", key, wsID)
	}
	return strings.TrimPrefix(key, prefix), nil
}

// portable returns a copy of res as an archive holds it: no workspace id,
// blob keys relative to the workspace's storage prefix.
func portable(res *tandem.Resource) (*tandem.Resource, error) {
	out := *res
	out.WorkspaceID = ""
	out.Blobs = make([]tandem.BlobRef, len(res.Blobs))
	for i, b := range res.Blobs {
		rel, err := relBlob(res.WorkspaceID, b.Key)
		if err != nil {
			return nil, err
		}
		out.Blobs[i] = tandem.BlobRef{Key: rel, SHA256: b.SHA256, Size: b.Size}
	}
	return &out, nil
}

// yamlName returns the yaml/ entry of a resource.
func yamlName(res *tandem.Resource) string {
	n := archive.YAMLDir + string(res.Kind) + "/" + res.Name
	if res.Version != "" {
		n += "/" + res.Version
	}
	return n + ".yml"
}

// resourceYAML returns the Azure ML document of a resource whose spec holds
// one (assets, jobs, datastores), or nil.
func resourceYAML(res *tandem.Resource) []byte {
	var doc struct {
		Spec map[string]any `json:"spec"`
	}
	if json.Unmarshal(res.Spec, &doc) != nil || len(doc.Spec) == 0 {
		return nil
	}
	b, err := spec.Marshal(doc.Spec)
	if err != nil {
		return nil
	}
	return b
}

// ExportWorkspace writes an archive of a live workspace to w. Its metadata
// is read in one transaction (a consistent cut); blobs are then streamed
// one at a time, each verified against its recorded sha256 as it is read.
// Nothing is written to w until the checks pass and the metadata is read.
func (r *Service) ExportWorkspace(ctx context.Context, name string, opts tandem.ExportOptions, w io.Writer) error {
	include, err := parseInclude(opts.Include)
	if err != nil {
		return err
	}
	if include[tandem.IncludeSecrets] {
		if err := checkSecretKey(opts); err != nil {
			return err
		}
	}
	plan, err := r.planExport(ctx, name, include, opts)
	if err != nil {
		return err
	}
	if err := r.writeArchive(ctx, w, plan, r.exportHeader(plan, opts)); err != nil {
		return err
	}
	r.Logger.Info("workspace exported", "workspace", plan.ws.Name, "id", plan.ws.ID, "resources", len(plan.picked), "secrets", len(plan.secrets), "blobs", len(plan.blobs))
	return nil
}

// checkSecretKey checks that opts names one well-formed key to encrypt
// exported secrets with.
func checkSecretKey(opts tandem.ExportOptions) error {
	switch {
	case opts.Passphrase == "" && opts.RecipientKey == "":
		return tandem.Errorf(tandem.EInvalid, "exporting secrets needs a passphrase (--passphrase-file) or a recipient key (--recipient) to encrypt them; secrets are never exported in clear").WithTarget("passphrase")
	case opts.Passphrase != "" && opts.RecipientKey != "":
		return tandem.Errorf(tandem.EInvalid, "give a passphrase or a recipient key, not both").WithTarget("recipient_key")
	case opts.RecipientKey != "":
		return archive.CheckRecipient(opts.RecipientKey)
	default:
		return archive.CheckPassphrase([]byte(opts.Passphrase))
	}
}

// exportPlan is what an export writes, gathered before anything is.
type exportPlan struct {
	ws      *tandem.Workspace
	include map[string]bool
	picked  []*tandem.Resource // every resource exported but secrets
	secrets []*tandem.Resource
	sealed  []byte                    // the secrets entry; nil when secrets are not included
	lines   []byte                    // resources.jsonl
	counts  map[string]int64          // resources by kind
	blobs   map[string]tandem.BlobRef // to stream, by key relative to the workspace
}

// planExport reads the workspace's metadata in one transaction, picks
// what opts asks for, and seals the secrets.
func (r *Service) planExport(ctx context.Context, name string, include map[string]bool, opts tandem.ExportOptions) (*exportPlan, error) {
	plan := &exportPlan{include: include}
	var resources []*tandem.Resource
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		if plan.ws, err = r.LiveWorkspace(ctx, tx, name); err != nil {
			return err
		}
		resources, err = tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: plan.ws.ID})
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, res := range resources {
		if !include[tandem.CategoryOf(res.Kind)] || (opts.Since != nil && res.UpdatedAt.Before(*opts.Since)) {
			continue
		}
		if res.Kind == tandem.KindSecret {
			plan.secrets = append(plan.secrets, res)
			continue
		}
		plan.picked = append(plan.picked, res)
	}

	// Secrets are opened and encrypted before anything is written, so a
	// vault failure fails the export cleanly.
	if include[tandem.IncludeSecrets] {
		if plan.sealed, err = r.sealSecrets(plan.ws, plan.secrets, opts); err != nil {
			return nil, err
		}
	}
	if plan.lines, plan.counts, plan.blobs, err = resourceLines(plan.picked); err != nil {
		return nil, err
	}
	return plan, nil
}

// sealSecrets opens the values of secret resources and encrypts them
// under the key opts names, as the archive's secrets entry.
func (r *Service) sealSecrets(ws *tandem.Workspace, list []*tandem.Resource, opts tandem.ExportOptions) ([]byte, error) {
	values := make([]archive.SecretValue, 0, len(list))
	if len(list) > 0 {
		v, err := r.RequireVault()
		if err != nil {
			return nil, err
		}
		for _, res := range list {
			_, sp, err := secrets.DecodeSecret(res)
			if err != nil {
				return nil, err
			}
			value, err := v.Open(sp.Sealed, secrets.SecretAAD(ws.ID, res.Name))
			if err != nil {
				return nil, secrets.VaultError(r.Logger, err, ws.Name, res.Name)
			}
			values = append(values, archive.SecretValue{Name: res.Name, Version: sp.Version, Value: value, CreatedAt: res.CreatedAt, UpdatedAt: res.UpdatedAt})
		}
	}
	var sealed []byte
	var err error
	if opts.RecipientKey != "" {
		sealed, err = archive.SealSecretsTo(opts.RecipientKey, ws.ID, values)
	} else {
		sealed, err = archive.SealSecrets([]byte(opts.Passphrase), ws.ID, values)
	}
	if err != nil {
		return nil, err
	}
	for _, v := range values {
		clear(v.Value)
	}
	return sealed, nil
}

// resourceLines returns resources.jsonl for resources, their count by
// kind, and the blobs to stream, deduplicated by relative key.
func resourceLines(resources []*tandem.Resource) ([]byte, map[string]int64, map[string]tandem.BlobRef, error) {
	var lines []byte
	counts := map[string]int64{}
	blobs := map[string]tandem.BlobRef{}
	for _, res := range resources {
		p, err := portable(res)
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, nil, nil, err
		}
		lines = append(append(lines, b...), '\n')
		counts[string(res.Kind)]++
		for i, ref := range res.Blobs {
			blobs[p.Blobs[i].Key] = ref
		}
	}
	return lines, counts, blobs, nil
}

// exportHeader returns the archive header of plan.
func (r *Service) exportHeader(plan *exportPlan, opts tandem.ExportOptions) *archive.Header {
	inc := make([]string, 0, len(plan.include))
	for _, c := range tandem.ExportCategories {
		if plan.include[c] {
			inc = append(inc, c)
		}
	}
	ws := plan.ws
	h := &archive.Header{
		Workspace: archive.SourceWorkspace{ID: ws.ID, Name: ws.Name, DisplayName: ws.DisplayName,
			Description: ws.Description, Tags: ws.Tags, CreatedAt: ws.CreatedAt},
		Region:        r.Name,
		CreatedAt:     r.Timestamp(),
		Since:         opts.Since,
		Include:       inc,
		TandemVersion: tandem.Version,
	}
	if plan.sealed != nil {
		h.Secrets = "passphrase"
		if opts.RecipientKey != "" {
			h.Secrets = "recipient-key"
		}
	}
	return h
}

// writeArchive writes plan to w under header h: resources.jsonl, the YAML
// documents, the secrets, then the blobs in key order.
func (r *Service) writeArchive(ctx context.Context, w io.Writer, plan *exportPlan, h *archive.Header) error {
	aw, err := archive.NewWriter(w, h)
	if err != nil {
		return err
	}
	if err := aw.WriteBytes(archive.ResourcesFile, plan.lines); err != nil {
		return err
	}
	for k, n := range plan.counts {
		aw.Count(k, n)
	}
	for _, res := range plan.picked {
		if y := resourceYAML(res); y != nil {
			if err := aw.WriteBytes(yamlName(res), y); err != nil {
				return err
			}
		}
	}
	if plan.sealed != nil {
		if err := aw.WriteBytes(archive.SecretsFile, plan.sealed); err != nil {
			return err
		}
		aw.Count("secret", int64(len(plan.secrets)))
	}
	for _, rel := range slices.Sorted(mapKeys(plan.blobs)) {
		if err := r.exportBlob(ctx, aw, rel, plan.blobs[rel]); err != nil {
			return err
		}
		aw.Count("blob", 1)
	}
	return aw.Close()
}

func (r *Service) exportBlob(ctx context.Context, aw *archive.Writer, rel string, ref tandem.BlobRef) error {
	rc, err := r.Blobs.OpenVerified(ctx, ref)
	if tandem.IsCode(err, tandem.ENotFound) {
		return tandem.Errorf(tandem.EConflict, "blob %s is gone (changed while the workspace was exported?); export again", ref.Key)
	} else if err != nil {
		return err
	}
	defer rc.Close()
	if err := aw.WriteFile(archive.BlobsDir+rel, ref.Size, rc); err != nil {
		return fmt.Errorf("export blob %s: %w", ref.Key, err)
	}
	return nil
}

// SnapshotWorkspace writes a metadata snapshot of a workspace now.
func (r *Service) SnapshotWorkspace(ctx context.Context, name string) (*tandem.SnapshotInfo, error) {
	var ws *tandem.Workspace
	if err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		ws, err = r.AnyWorkspace(ctx, tx, name)
		return err
	}); err != nil {
		return nil, err
	}
	return r.WriteSnapshot(ctx, ws.ID)
}
