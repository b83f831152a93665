package asset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
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

// NewCmdAssets returns one command group per versioned asset kind: data, model,
// environment and component, with the same verbs.
func NewCmdAssets(f *cmdutil.Factory) []*cobra.Command {
	var out []*cobra.Command
	for _, info := range assetKindInfos {
		cmd := cmdutil.GroupCommand(string(info.kind), info.short)
		f.AddConnectionFlags(cmd)
		cmd.AddCommand(
			assetCreateCommand(f, info),
			assetListCommand(f, info),
			assetShowCommand(f, info),
			assetUpdateCommand(f, info),
			assetArchiveCommand(f, info, true),
			assetArchiveCommand(f, info, false),
			assetDownloadCommand(f, info),
		)
		out = append(out, cmd)
	}
	return out
}

func assetCreateCommand(f *cmdutil.Factory, info assetKindInfo) *cobra.Command {
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
	out := cmdutil.AddOutputFlag(cmd)
	flags := cmd.Flags()
	flags.StringVarP(&file, "file", "f", "", "Azure ML CLI v2 YAML file")
	flags.StringArrayVar(&sets, "set", nil, "override a field, e.g. --set version=2 --set tags.stage=dev")
	if info.quick {
		flags.StringVarP(&name, "name", "n", "", "asset name (without -f)")
		flags.StringVarP(&version, "version", "v", "", "version (without -f; default: next integer)")
		flags.StringVarP(&local, "path", "p", "", "local file or folder, or a URI (without -f)")
		flags.StringVarP(&typ, "type", "t", info.defaultType, "asset type (without -f)")
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		doc, err := loadAssetDoc(f, info, file, sets, name, version, local, typ)
		if err != nil {
			return err
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		req, err := f.UploadAssetFiles(cmd.Context(), svc, ws, doc)
		if err != nil {
			return err
		}
		asset, created, err := svc.CreateAsset(cmd.Context(), ws, req)
		if err != nil {
			return err
		}
		if !created {
			f.Note("%s %s version %s already exists with identical content; nothing changed.", asset.Kind, asset.Name, asset.Version)
		}
		return writeAsset(f, *out, asset)
	}
	return cmd
}

// loadAssetDoc parses -f FILE, or builds the document from the quick flags.
func loadAssetDoc(f *cmdutil.Factory, info assetKindInfo, file string, sets []string, name, version, local, typ string) (*spec.Document, error) {
	opts := spec.Options{Kind: string(info.kind), Set: sets}
	if file != "" {
		if name != "" || local != "" {
			return nil, tandem.Errorf(tandem.EInvalid, "use either -f FILE or --name/--path, not both")
		}
		return spec.Load(f.Path(file), opts)
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
		fields["path"] = f.Path(local)
	}
	if version != "" {
		fields["version"] = version
	}
	data, err := spec.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return spec.Parse(data, filepath.Join(f.Env.Dir, "command line"), opts)
}

// writeAsset prints one asset: details as a table, the record as JSON, or
// the Azure ML document as YAML (which `create -f` accepts back).
func writeAsset(f *cmdutil.Factory, format cmdutil.OutputFormat, asset *tandem.Asset) error {
	return cmdutil.WriteDocument(f.Env.Stdout, format, asset, string(asset.Kind), asset.Type, asset.Spec, assetDetails(asset))
}

func assetListCommand(f *cmdutil.Factory, info assetKindInfo) *cobra.Command {
	var name string
	var archived bool
	cmd := &cobra.Command{
		Use:   "list [--name N] [--include-archived]",
		Short: "List the latest version of each " + string(info.kind) + ", or every version of one",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&name, "name", "n", "", "list every version of this name")
	cmd.Flags().BoolVar(&archived, "include-archived", false, "include archived versions")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListAssets(cmd.Context(), ws, tandem.AssetFilter{Kind: info.kind, Name: name, IncludeArchived: archived})
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), assetTable(list))
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

func assetShowCommand(f *cmdutil.Factory, info assetKindInfo) *cobra.Command {
	var name, version, label string
	cmd := &cobra.Command{
		Use:   "show --name N (--version V | --label latest)",
		Short: "Show one " + string(info.kind) + " version; -o yaml prints YAML that create -f accepts",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	addVersionFlags(cmd, &name, &version, &label, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkVersionOrLabel(version, label); err != nil {
			return err
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		asset, err := svc.FindAsset(cmd.Context(), ws, info.kind, name, version, label)
		if err != nil {
			return err
		}
		return writeAsset(f, *out, asset)
	}
	return cmd
}

func assetUpdateCommand(f *cmdutil.Factory, info assetKindInfo) *cobra.Command {
	var name, version string
	var sets []string
	cmd := &cobra.Command{
		Use:     "update --name N --version V --set description=TEXT --set tags.KEY=VALUE ...",
		Short:   "Change the description or tags of one " + string(info.kind) + " version",
		Example: "  tandem " + string(info.kind) + " update --name x --version 1 --set description='retrained' --set tags.stage=prod",
		Args:    cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	addVersionFlags(cmd, &name, &version, nil, false)
	cmd.MarkFlagRequired("version")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "description=TEXT, tags.KEY=VALUE, or tags={} to clear")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(sets) == 0 {
			return tandem.Errorf(tandem.EInvalid, "nothing to update: give --set description=... or --set tags.KEY=VALUE")
		}
		svc, ws, err := f.WorkspaceClient()
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
		return writeAsset(f, *out, asset)
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

func assetArchiveCommand(f *cmdutil.Factory, info assetKindInfo, archive bool) *cobra.Command {
	var name, version string
	verb, short := "archive", "Archive a "+string(info.kind)+" version, or every version: hidden from lists and latest"
	if !archive {
		verb, short = "restore", "Restore an archived "+string(info.kind)+" version, or every version"
	}
	cmd := &cobra.Command{Use: verb + " --name N [--version V]", Short: short, Args: cobra.NoArgs}
	addVersionFlags(cmd, &name, &version, nil, false)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
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
		fmt.Fprintf(f.Env.Stdout, "%s: %sd.\n", what, verb)
		return nil
	}
	return cmd
}

func assetDownloadCommand(f *cmdutil.Factory, info assetKindInfo) *cobra.Command {
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
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		asset, err := svc.FindAsset(cmd.Context(), ws, info.kind, name, version, label)
		if err != nil {
			return err
		}
		target := filepath.Join(f.Path(dir), asset.Name)
		if err := downloadAsset(cmd.Context(), f, svc, ws, asset, target); err != nil {
			return err
		}
		fmt.Fprintf(f.Env.Stdout, "Downloaded %s %s version %s (%d files, sha256 verified) to %s.\n",
			asset.Kind, asset.Name, asset.Version, len(asset.Files), target)
		return nil
	}
	return cmd
}

// downloadAsset writes the files of asset under target and its YAML with
// local paths, each file through a temp file renamed once verified.
func downloadAsset(ctx context.Context, f *cmdutil.Factory, svc tandem.AssetService, ws string, asset *tandem.Asset, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	var total int64
	for _, file := range asset.Files {
		total += file.Size
	}
	bar := f.Progress(total, fmt.Sprintf("download %s %s:%s", asset.Kind, asset.Name, asset.Version))
	defer bar.Finish()
	for _, file := range asset.Files {
		if !filepath.IsLocal(filepath.FromSlash(file.Path)) {
			return tandem.Errorf(tandem.EInvalid, "the server listed an unsafe path %q", file.Path)
		}
		_, rc, err := svc.OpenAssetFile(ctx, ws, asset.Kind, asset.Name, asset.Version, file.Path)
		if err != nil {
			return err
		}
		err = cmdutil.WriteVerified(filepath.Join(target, filepath.FromSlash(file.Path)), rc, file.SHA256, file.Size, bar)
		rc.Close()
		if err != nil {
			return fmt.Errorf("download %s: %w", file.Path, err)
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
	data, err := cmdutil.DocumentYAML(string(doc.Kind), doc.Type, doc.Spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(target, string(asset.Kind)+".yml"), data, 0o644)
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

func assetTable(list []*tandem.Asset) *cmdutil.Table {
	t := &cmdutil.Table{Header: []string{"NAME", "VERSION", "TYPE", "FILES", "CREATED", "DESCRIPTION"}}
	for _, x := range list {
		desc := x.Description
		if x.Archived {
			desc = "(archived) " + desc
		}
		t.Add(x.Name, x.Version, x.Type, fmt.Sprint(len(x.Files)), cmdutil.FormatTime(x.CreatedAt), desc)
	}
	return t
}

func assetDetails(x *tandem.Asset) cmdutil.Details {
	var size int64
	for _, file := range x.Files {
		size += file.Size
	}
	d := cmdutil.Details{
		{"Kind", string(x.Kind)},
		{"Name", x.Name},
		{"Version", x.Version},
		{"Type", x.Type},
		{"Description", x.Description},
		{"Tags", cmdutil.FormatTags(x.Tags)},
		{"Archived", fmt.Sprint(x.Archived)},
		{"Files", fmt.Sprintf("%d (%s)", len(x.Files), cmdutil.FormatSize(size))},
		{"Created", cmdutil.FormatTime(x.CreatedAt)},
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
