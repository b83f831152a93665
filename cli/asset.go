package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/spec"
)

// assetKindInfo describes one versioned asset kind's command group.
type assetKindInfo struct {
	kind  tandem.Kind
	short string
	// quick, when set, lets `create` build the document from --name,
	// --version, --path and --type instead of -f (model and data).
	quick       bool
	defaultType string
}

var assetKindInfos = []assetKindInfo{
	{kind: tandem.KindData, short: "Versioned data assets: uri_file, uri_folder, mltable", quick: true},
	{kind: tandem.KindModel, short: "Versioned models: custom_model, mlflow_model, triton_model", quick: true, defaultType: "custom_model"},
	{kind: tandem.KindEnvironment, short: "Versioned environments: image, conda file, build context"},
	{kind: tandem.KindComponent, short: "Versioned command and pipeline components"},
}

func (a *app) assetCommands() []*cobra.Command {
	var out []*cobra.Command
	for _, info := range assetKindInfos {
		cmd := groupCommand(string(info.kind), info.short)
		a.addConnectionFlags(cmd)
		cmd.AddCommand(
			a.assetCreateCommand(info),
			a.assetListCommand(info),
			a.assetShowCommand(info),
			a.assetUpdateCommand(info),
			a.assetArchiveCommand(info, true),
			a.assetArchiveCommand(info, false),
			a.assetDownloadCommand(info),
		)
		out = append(out, cmd)
	}
	return out
}

func (a *app) assetCreateCommand(info assetKindInfo) *cobra.Command {
	var (
		file                      string
		sets                      []string
		name, version, local, typ string
	)
	use := "create -f FILE [--set key=value ...]"
	if info.quick {
		use = "create (-f FILE | --name N --path P [--type T] [--version V]) [--set key=value ...]"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: "Register a new " + string(info.kind) + " version from Azure ML YAML",
		Long: "Register a version from an Azure ML CLI v2 YAML file. Local paths are uploaded with their sha256;\n" +
			"azureml:// and https:// paths are recorded as references. Versions are immutable: an omitted\n" +
			"version is the next integer, an identical re-create succeeds without change, and a different\n" +
			"document under an existing version is refused.",
		Args: cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "Azure ML CLI v2 YAML file")
	f.StringArrayVar(&sets, "set", nil, "override a field, e.g. --set version=2 --set tags.stage=dev")
	if info.quick {
		f.StringVarP(&name, "name", "n", "", "asset name (without -f)")
		f.StringVarP(&version, "version", "v", "", "version (without -f; default: next integer)")
		f.StringVarP(&local, "path", "p", "", "local file or folder, or a URI (without -f)")
		f.StringVarP(&typ, "type", "t", info.defaultType, "asset type (without -f)")
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		doc, err := a.loadAssetDoc(info, file, sets, name, version, local, typ)
		if err != nil {
			return err
		}
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		req, err := a.uploadAssetFiles(cmd.Context(), svc, ws, doc)
		if err != nil {
			return err
		}
		asset, created, err := svc.CreateAsset(cmd.Context(), ws, req)
		if err != nil {
			return err
		}
		if !created {
			a.note("%s %s version %s already exists with identical content; nothing changed.", asset.Kind, asset.Name, asset.Version)
		}
		return a.writeAsset(*out, asset)
	}
	return cmd
}

// loadAssetDoc parses -f FILE, or builds the document from the quick flags.
func (a *app) loadAssetDoc(info assetKindInfo, file string, sets []string, name, version, local, typ string) (*spec.Document, error) {
	opts := spec.Options{Kind: string(info.kind), Set: sets}
	if file != "" {
		if name != "" || local != "" {
			return nil, tandem.Errorf(tandem.EInvalid, "use either -f FILE or --name/--path, not both")
		}
		return spec.Load(a.path(file), opts)
	}
	if !info.quick || name == "" || local == "" {
		if info.quick {
			return nil, tandem.Errorf(tandem.EInvalid, "give -f FILE, or --name and --path")
		}
		return nil, tandem.Errorf(tandem.EInvalid, "required flag \"file\" not set")
	}
	if typ == "" {
		return nil, tandem.Errorf(tandem.EInvalid, "--type is required for %s (e.g. uri_file, uri_folder, mltable)", info.kind)
	}
	fields := map[string]any{"name": name, "type": typ, "path": local}
	if !strings.Contains(local, "://") && !strings.HasPrefix(local, "azureml:") {
		fields["path"] = a.path(local)
	}
	if version != "" {
		fields["version"] = version
	}
	data, err := spec.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return spec.Parse(data, filepath.Join(a.env.Dir, "command line"), opts)
}

// uploadAssetFiles stages every file of the document's local paths (those
// the server already holds are skipped) and returns the create request.
func (a *app) uploadAssetFiles(ctx context.Context, svc tandem.AssetService, ws string, doc *spec.Document) (*tandem.AssetRequest, error) {
	if err := inlineCondaFile(doc); err != nil {
		return nil, err
	}
	req := &tandem.AssetRequest{Kind: tandem.Kind(doc.Kind), Spec: doc.Fields}
	type local struct {
		abs string
		f   tandem.AssetFile
	}
	var files []local
	roots := map[string]bool{}
	var total int64
	for _, p := range doc.Paths {
		root := filepath.Base(p.Abs)
		if roots[root] {
			root = strings.NewReplacer(".", "-", "[", "-", "]", "").Replace(p.Field) + "-" + root
		}
		roots[root] = true
		req.Paths = append(req.Paths, tandem.AssetPath{Field: p.Field, Root: root, Dir: p.Dir})
		if !p.Dir {
			fi, err := os.Stat(p.Abs)
			if err != nil {
				return nil, err
			}
			files = append(files, local{p.Abs, tandem.AssetFile{Field: p.Field, Path: root, Size: fi.Size()}})
			total += fi.Size()
			continue
		}
		// The code of a job or component is a snapshot: .amlignore and
		// .gitignore apply, as in Azure ML.
		snapshot := p.Field == "code" || strings.HasSuffix(p.Field, ".code")
		found, err := walkUpload(p.Abs, snapshot, func(fp, why string) { a.note("Skipping %s: %s.", fp, why) })
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			files = append(files, local{f.abs, tandem.AssetFile{Field: p.Field, Path: path.Join(root, f.rel), Size: f.size}})
			total += f.size
		}
	}
	bar := a.progress(total, fmt.Sprintf("upload %s %s", doc.Kind, doc.Name))
	defer bar.finish()
	for i := range files {
		sum, err := hashFile(files[i].abs)
		if err != nil {
			return nil, err
		}
		files[i].f.SHA256 = sum
		if ok, err := svc.StagedBlob(ctx, ws, sum); err != nil {
			return nil, err
		} else if ok {
			_, _ = io.CopyN(bar, zeroReader{}, files[i].f.Size) // already there: count it as sent
			continue
		}
		if err := stageFile(ctx, svc, ws, files[i].abs, files[i].f, bar); err != nil {
			return nil, err
		}
	}
	for _, l := range files {
		req.Files = append(req.Files, l.f)
	}
	return req, nil
}

// inlineCondaFile replaces an environment's conda_file path by the file's
// content, as Azure ML does: the conda specification is part of the
// environment's definition, not a file beside it.
func inlineCondaFile(doc *spec.Document) error {
	if doc.Kind != spec.KindEnvironment {
		return nil
	}
	for i, p := range doc.Paths {
		if p.Field != "conda_file" {
			continue
		}
		data, err := os.ReadFile(p.Abs)
		if err != nil {
			return err
		}
		var conda map[string]any
		if err := yaml.Unmarshal(data, &conda); err != nil || conda == nil {
			return tandem.Errorf(tandem.EInvalid, "%s: conda_file %s is not a YAML mapping: %v", doc.File, p.Raw, err)
		}
		doc.Fields["conda_file"] = normalizeYAML(conda)
		doc.Paths = append(doc.Paths[:i], doc.Paths[i+1:]...)
		return nil
	}
	return nil
}

// normalizeYAML turns decoded YAML into JSON-compatible values.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
		return x
	}
	return v
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func stageFile(ctx context.Context, svc tandem.AssetService, ws, abs string, f tandem.AssetFile, bar *progress) error {
	fh, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = svc.StageBlob(ctx, ws, tandem.BlobRef{SHA256: f.SHA256, Size: f.Size}, &progressReader{rs: fh, bar: bar})
	if err != nil {
		return fmt.Errorf("upload %s: %w", abs, err)
	}
	return nil
}

func hashFile(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAsset prints one asset: details as a table, the record as JSON, or
// the Azure ML document as YAML (which `create -f` accepts back).
func (a *app) writeAsset(f outputFormat, asset *tandem.Asset) error {
	return a.writeDocument(f, asset, string(asset.Kind), asset.Type, asset.Spec, assetDetails(asset))
}

// writeDocument prints a resource whose YAML form is its Azure ML document
// (with $schema), so that `create -f` accepts the output of `show -o yaml`.
func (a *app) writeDocument(f outputFormat, record any, kind, typ string, fields map[string]any, t tableView) error {
	if f != formatYAML {
		return writeOutput(a.env.Stdout, f, record, t)
	}
	data, err := documentYAML(kind, typ, fields)
	if err != nil {
		return err
	}
	_, err = a.env.Stdout.Write(data)
	return err
}

// documentYAML returns an Azure ML document with its $schema.
func documentYAML(kind, typ string, fields map[string]any) ([]byte, error) {
	doc := map[string]any{}
	for k, v := range fields {
		doc[k] = v
	}
	if u := spec.SchemaURL(kind, typ); u != "" {
		doc["$schema"] = u
	}
	return spec.Marshal(doc)
}

func (a *app) assetListCommand(info assetKindInfo) *cobra.Command {
	var name string
	var archived bool
	cmd := &cobra.Command{
		Use:   "list [--name N] [--include-archived]",
		Short: "List the latest version of each " + string(info.kind) + ", or every version of one",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "list every version of this name")
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived versions")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListAssets(cmd.Context(), ws, tandem.AssetFilter{Kind: info.kind, Name: name, IncludeArchived: archived})
		if err != nil {
			return err
		}
		return writeOutput(a.env.Stdout, *out, nonNil(list), assetTable(list))
	}
	return cmd
}

// addVersionFlags adds --name, --version and --label to cmd.
func addVersionFlags(cmd *cobra.Command, name, version, label *string, labelAllowed bool) {
	cmd.Flags().StringVarP(name, "name", "n", "", "asset name")
	cmd.Flags().StringVarP(version, "version", "v", "", "version")
	cmd.MarkFlagRequired("name")
	if labelAllowed {
		cmd.Flags().StringVarP(label, "label", "l", "", "label instead of a version: latest")
	}
}

func checkVersionOrLabel(version, label string) error {
	if version != "" && label != "" {
		return tandem.Errorf(tandem.EInvalid, "give --version or --label, not both")
	}
	if version == "" && label == "" {
		return tandem.Errorf(tandem.EInvalid, "give --version V or --label latest")
	}
	return nil
}

func (a *app) assetShowCommand(info assetKindInfo) *cobra.Command {
	var name, version, label string
	cmd := &cobra.Command{
		Use:   "show --name N (--version V | --label latest)",
		Short: "Show one " + string(info.kind) + " version; -o yaml prints YAML that create -f accepts",
		Args:  cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	addVersionFlags(cmd, &name, &version, &label, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkVersionOrLabel(version, label); err != nil {
			return err
		}
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		asset, err := svc.FindAsset(cmd.Context(), ws, info.kind, name, version, label)
		if err != nil {
			return err
		}
		return a.writeAsset(*out, asset)
	}
	return cmd
}

func (a *app) assetUpdateCommand(info assetKindInfo) *cobra.Command {
	var name, version string
	var sets []string
	cmd := &cobra.Command{
		Use:     "update --name N --version V --set description=TEXT --set tags.KEY=VALUE ...",
		Short:   "Change the description or tags of one " + string(info.kind) + " version",
		Example: "  tandem " + string(info.kind) + " update --name x --version 1 --set description='retrained' --set tags.stage=prod",
		Args:    cobra.NoArgs,
	}
	out := addOutputFlag(cmd)
	addVersionFlags(cmd, &name, &version, nil, false)
	cmd.MarkFlagRequired("version")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "description=TEXT, tags.KEY=VALUE, or tags={} to clear")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(sets) == 0 {
			return tandem.Errorf(tandem.EInvalid, "nothing to update: give --set description=... or --set tags.KEY=VALUE")
		}
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		cur, err := svc.FindAsset(cmd.Context(), ws, info.kind, name, version, "")
		if err != nil {
			return err
		}
		upd, err := assetUpdate(cur, sets)
		if err != nil {
			return err
		}
		asset, err := svc.UpdateAsset(cmd.Context(), ws, info.kind, name, version, upd)
		if err != nil {
			return err
		}
		return a.writeAsset(*out, asset)
	}
	return cmd
}

// assetUpdate turns --set arguments into an update, merging tags into the
// current ones.
func assetUpdate(cur *tandem.Asset, sets []string) (tandem.AssetUpdate, error) {
	var upd tandem.AssetUpdate
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		switch {
		case !ok:
			return upd, tandem.Errorf(tandem.EInvalid, "--set %q: want KEY=VALUE", s)
		case k == "description":
			d := v
			upd.Description = &d
		case k == "tags" && (v == "{}" || v == ""):
			upd.Tags = map[string]string{}
		case strings.HasPrefix(k, "tags.") && len(k) > 5:
			if upd.Tags == nil {
				upd.Tags = map[string]string{}
				for tk, tv := range cur.Tags {
					upd.Tags[tk] = tv
				}
			}
			upd.Tags[k[5:]] = v
		default:
			return upd, tandem.Errorf(tandem.EInvalid, "--set %q: only description and tags.KEY can change; versions are immutable", s)
		}
	}
	return upd, nil
}

func (a *app) assetArchiveCommand(info assetKindInfo, archive bool) *cobra.Command {
	var name, version string
	verb, short := "archive", "Archive a "+string(info.kind)+" version, or every version: hidden from lists and latest"
	if !archive {
		verb, short = "restore", "Restore an archived "+string(info.kind)+" version, or every version"
	}
	cmd := &cobra.Command{Use: verb + " --name N [--version V]", Short: short, Args: cobra.NoArgs}
	addVersionFlags(cmd, &name, &version, nil, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		if err := svc.ArchiveAsset(cmd.Context(), ws, info.kind, name, version, archive); err != nil {
			return err
		}
		what := "every version of " + string(info.kind) + " " + name
		if version != "" {
			what = fmt.Sprintf("%s %s version %s", info.kind, name, version)
		}
		fmt.Fprintf(a.env.Stdout, "%s: %sd.\n", what, verb)
		return nil
	}
	return cmd
}

func (a *app) assetDownloadCommand(info assetKindInfo) *cobra.Command {
	var name, version, label, dir string
	cmd := &cobra.Command{
		Use:   "download --name N (--version V | --label latest) --download-path DIR",
		Short: "Download a " + string(info.kind) + " version's files and its YAML into DIR/<name>/",
		Long: "Download every file of a version into DIR/<name>/, verifying each sha256, with the version's\n" +
			"Azure ML YAML as DIR/<name>/" + string(info.kind) + ".yml pointing at the downloaded files, so that\n" +
			"`tandem " + string(info.kind) + " create -f DIR/<name>/" + string(info.kind) + ".yml` registers it again, identically.",
		Args: cobra.NoArgs,
	}
	addVersionFlags(cmd, &name, &version, &label, true)
	cmd.Flags().StringVarP(&dir, "download-path", "p", ".", "directory to download into")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if version == "" && label == "" {
			label = tandem.LabelLatest
		}
		svc, ws, err := a.workspaceClient()
		if err != nil {
			return err
		}
		asset, err := svc.FindAsset(cmd.Context(), ws, info.kind, name, version, label)
		if err != nil {
			return err
		}
		target := filepath.Join(a.path(dir), asset.Name)
		if err := a.downloadAsset(cmd.Context(), svc, ws, asset, target); err != nil {
			return err
		}
		fmt.Fprintf(a.env.Stdout, "Downloaded %s %s version %s (%d files, sha256 verified) to %s.\n",
			asset.Kind, asset.Name, asset.Version, len(asset.Files), target)
		return nil
	}
	return cmd
}

// downloadAsset writes the files of asset under target and its YAML with
// local paths, each file through a temp file renamed once verified.
func (a *app) downloadAsset(ctx context.Context, svc tandem.AssetService, ws string, asset *tandem.Asset, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	var total int64
	for _, f := range asset.Files {
		total += f.Size
	}
	bar := a.progress(total, fmt.Sprintf("download %s %s:%s", asset.Kind, asset.Name, asset.Version))
	defer bar.finish()
	for _, f := range asset.Files {
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			return tandem.Errorf(tandem.EInvalid, "the server listed an unsafe path %q", f.Path)
		}
		_, rc, err := svc.OpenAssetFile(ctx, ws, asset.Kind, asset.Name, asset.Version, f.Path)
		if err != nil {
			return err
		}
		err = writeVerified(filepath.Join(target, filepath.FromSlash(f.Path)), rc, f.SHA256, f.Size, bar)
		rc.Close()
		if err != nil {
			return fmt.Errorf("download %s: %w", f.Path, err)
		}
	}
	for _, p := range asset.Paths {
		if err := os.MkdirAll(filepath.Join(target, p.Root), 0o755); err != nil && p.Dir {
			return err
		}
	}
	// The YAML points at the downloaded copies, relative to itself.
	doc := *asset
	doc.Spec = map[string]any{}
	for k, v := range asset.Spec {
		doc.Spec[k] = v
	}
	sort.Slice(doc.Paths, func(i, j int) bool { return doc.Paths[i].Field < doc.Paths[j].Field })
	for _, p := range doc.Paths {
		setDocField(doc.Spec, p.Field, p.Root)
	}
	data, err := documentYAML(string(doc.Kind), doc.Type, doc.Spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(target, string(asset.Kind)+".yml"), data, 0o644)
}

// writeVerified writes r to dst through a temp file renamed into place only
// when the bytes match sha and size.
func writeVerified(dst string, r io.Reader, sha string, size int64, bar io.Writer) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tandem-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h, bar), r)
	if err != nil {
		tmp.Close()
		return err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != sha || n != size {
		tmp.Close()
		return tandem.Errorf(tandem.ECorrupt, "got %d bytes with sha256 %s, want %d bytes with sha256 %s; nothing was written", n, sum, size, sha)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// setDocField sets a dotted field of a document ("build.path", "code").
func setDocField(doc map[string]any, field string, v any) {
	parts := strings.Split(field, ".")
	cur := doc
	for i, p := range parts {
		if i == len(parts)-1 {
			cur[p] = v
			return
		}
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
		} else {
			cp := map[string]any{}
			for k, v := range next {
				cp[k] = v
			}
			next = cp
		}
		cur[p] = next
		cur = next
	}
}

func assetTable(list []*tandem.Asset) *table {
	t := &table{header: []string{"NAME", "VERSION", "TYPE", "FILES", "CREATED", "DESCRIPTION"}}
	for _, x := range list {
		desc := x.Description
		if x.Archived {
			desc = "(archived) " + desc
		}
		t.add(x.Name, x.Version, x.Type, fmt.Sprint(len(x.Files)), formatTime(x.CreatedAt), desc)
	}
	return t
}

func assetDetails(x *tandem.Asset) details {
	var size int64
	for _, f := range x.Files {
		size += f.Size
	}
	d := details{
		{"Kind", string(x.Kind)},
		{"Name", x.Name},
		{"Version", x.Version},
		{"Type", x.Type},
		{"Description", x.Description},
		{"Tags", formatTags(x.Tags)},
		{"Archived", fmt.Sprint(x.Archived)},
		{"Files", fmt.Sprintf("%d (%s)", len(x.Files), formatSize(size))},
		{"Created", formatTime(x.CreatedAt)},
	}
	if x.JobName != "" {
		d = append(d, [2]string{"Job", x.JobName})
	}
	for _, p := range x.Paths {
		if v, ok := lookupField(x.Spec, p.Field); ok {
			d = append(d, [2]string{p.Field, fmt.Sprint(v)})
		}
	}
	return d
}

func lookupField(doc map[string]any, field string) (any, bool) {
	var cur any = doc
	for _, p := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}
