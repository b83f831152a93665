package cmdutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/spec"
)

// UploadAssetFiles stages every file of the document's local paths (those
// the server already holds are skipped) and returns the create request.
// Assets and jobs (whose code and inputs are uploaded the same way) use it.
func (f *Factory) UploadAssetFiles(ctx context.Context, svc tandem.AssetService, ws string, doc *spec.Document) (*tandem.AssetRequest, error) {
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
		found, err := walkUpload(p.Abs, snapshot, func(fp, why string) { f.Note("Skipping %s: %s.", fp, why) })
		if err != nil {
			return nil, err
		}
		for _, lf := range found {
			files = append(files, local{lf.abs, tandem.AssetFile{Field: p.Field, Path: path.Join(root, lf.rel), Size: lf.size}})
			total += lf.size
		}
	}
	bar := f.Progress(total, fmt.Sprintf("upload %s %s", doc.Kind, doc.Name))
	defer bar.Finish()
	for i := range files {
		sum, err := hashFile(files[i].abs)
		if err != nil {
			return nil, err
		}
		files[i].f.SHA256 = sum
		if ok, err := svc.StagedBlob(ctx, ws, sum); err != nil {
			return nil, err
		} else if ok {
			bar.Skip(files[i].f.Size) // already there: count it as sent
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

func stageFile(ctx context.Context, svc tandem.AssetService, ws, abs string, f tandem.AssetFile, bar *Progress) error {
	fh, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = svc.StageBlob(ctx, ws, tandem.BlobRef{SHA256: f.SHA256, Size: f.Size}, bar.Reader(fh))
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
	v := tandem.HashReader(fh, p)
	if _, err := io.Copy(io.Discard, v); err != nil {
		return "", err
	}
	return v.Ref().SHA256, nil
}

// WriteVerified writes r to dst through a temp file renamed into place only
// when the bytes match sha and size.
func WriteVerified(dst string, r io.Reader, sha string, size int64, bar io.Writer) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tandem-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	v := tandem.VerifyReader(r, tandem.BlobRef{SHA256: sha, Size: size}, "download of "+dst)
	if _, err := io.Copy(io.MultiWriter(tmp, bar), v); err != nil {
		tmp.Close()
		if tandem.IsCode(err, tandem.ECorrupt) {
			return tandem.Errorf(tandem.ECorrupt, "%s; nothing was written", tandem.ErrorMessage(err))
		}
		return err
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
