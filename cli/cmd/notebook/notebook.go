package notebook

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
)

// NewCmdNotebook returns the notebook command group.
func NewCmdNotebook(f *cmdutil.Factory) *cobra.Command {
	cmd := cmdutil.GroupCommand("notebook", "Upload, list and download the files of a workspace's notebook share")
	f.AddConnectionFlags(cmd)
	cmd.AddCommand(
		notebookUploadCommand(f),
		notebookListCommand(f),
		notebookDownloadCommand(f),
	)
	return cmd
}

func notebookUploadCommand(f *cmdutil.Factory) *cobra.Command {
	var local, dest string
	cmd := &cobra.Command{
		Use:   "upload --path LOCAL [--dest REL]",
		Short: "Upload a file, or a directory recursively, to the notebook share",
		Example: "  tandem notebook upload --path train.ipynb\n" +
			"  tandem notebook upload --path ./experiments --dest team/experiments",
		Args: cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.Flags().StringVarP(&local, "path", "p", "", "local file or directory")
	cmd.Flags().StringVarP(&dest, "dest", "d", "", "path in the share (default: the base name of --path); a trailing / uploads into that folder")
	cmd.MarkFlagRequired("path")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		uploads, err := planUploads(f, f.Path(local), dest)
		if err != nil {
			return err
		}
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		var done []*tandem.Notebook
		for _, u := range uploads {
			nb, err := uploadNotebook(cmd.Context(), f, svc, ws, u)
			if err != nil {
				return err
			}
			done = append(done, nb)
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, done, notebookTable(done))
	}
	return cmd
}

// upload is one local file and where it goes in the share.
type upload struct {
	local string
	rel   string
	size  int64
}

// planUploads lists the files to upload from local, a file or a directory,
// and their paths in the share under dest.
func planUploads(f *cmdutil.Factory, local, dest string) ([]upload, error) {
	fi, err := os.Stat(local)
	if err != nil {
		return nil, err
	}
	dest = filepath.ToSlash(dest)
	intoFolder := dest == "" || dest == "." || strings.HasSuffix(dest, "/")
	if fi.Mode().IsRegular() {
		rel := path.Clean(dest)
		if intoFolder {
			rel = path.Join(dest, filepath.Base(local))
		}
		return []upload{{local: local, rel: rel, size: fi.Size()}}, nil
	}
	if !fi.IsDir() {
		return nil, tandem.Errorf(tandem.EInvalid, "%s is neither a file nor a directory", local)
	}
	base := path.Clean(dest)
	if dest == "" {
		base = filepath.Base(local)
	}
	var uploads []upload
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Stat(p) // follows symbolic links
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			f.Note("Skipping %s: not a regular file.", p)
			return nil
		}
		r, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		uploads = append(uploads, upload{local: p, rel: path.Join(base, filepath.ToSlash(r)), size: fi.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(uploads) == 0 {
		return nil, tandem.Errorf(tandem.EInvalid, "directory %s has no files to upload", local)
	}
	return uploads, nil
}

// uploadNotebook uploads one file. The client checks that the server
// recorded the sha256 of the bytes it sent.
func uploadNotebook(ctx context.Context, f *cmdutil.Factory, svc tandem.NotebookService, ws string, u upload) (*tandem.Notebook, error) {
	fh, err := os.Open(u.local)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	bar := f.Progress(u.size, "upload "+u.rel)
	defer bar.Finish()
	return svc.UploadNotebook(ctx, ws, u.rel, bar.Reader(fh))
}

func notebookListCommand(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the files of the notebook share",
		Args:  cobra.NoArgs,
	}
	out := cmdutil.AddOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListNotebooks(cmd.Context(), ws)
		if err != nil {
			return err
		}
		return cmdutil.WriteOutput(f.Env.Stdout, *out, cmdutil.NonNil(list), notebookTable(list))
	}
	return cmd
}

func notebookDownloadCommand(f *cmdutil.Factory) *cobra.Command {
	var rel, dest string
	cmd := &cobra.Command{
		Use:   "download --path REL [--dest LOCAL]",
		Short: "Download a file, or a folder recursively, from the notebook share",
		Example: "  tandem notebook download --path train.ipynb --dest ./train.ipynb\n" +
			"  tandem notebook download --path team/experiments --dest ./experiments",
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&rel, "path", "p", "", "file or folder in the share")
	cmd.Flags().StringVarP(&dest, "dest", "d", "", "local file or directory (default: the base name of --path, here)")
	cmd.MarkFlagRequired("path")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		svc, ws, err := f.WorkspaceClient()
		if err != nil {
			return err
		}
		list, err := svc.ListNotebooks(cmd.Context(), ws)
		if err != nil {
			return err
		}
		downloads, err := planDownloads(f, list, path.Clean(filepath.ToSlash(rel)), dest)
		if err != nil {
			return err
		}
		if len(downloads) == 0 {
			return tandem.Errorf(tandem.ENotFound, "workspace %q has no notebook file or folder %q (see 'tandem notebook list')", ws, rel)
		}
		for _, d := range downloads {
			if err := downloadNotebook(cmd.Context(), f, svc, ws, d); err != nil {
				return err
			}
			fmt.Fprintf(f.Env.Stdout, "Downloaded %s to %s (%s, sha256 verified).\n", d.nb.Path, d.local, cmdutil.FormatSize(d.nb.Size))
		}
		return nil
	}
	return cmd
}

// download is one file of the share and where it goes locally.
type download struct {
	nb    *tandem.Notebook
	local string
}

// planDownloads picks the files to download for rel, one file or every file
// under a folder, and their local paths under dest. It returns none when rel
// names neither.
func planDownloads(f *cmdutil.Factory, list []*tandem.Notebook, rel, dest string) ([]download, error) {
	target := f.Path(dest)
	if dest == "" {
		target = f.Path(path.Base(rel))
	}
	for _, nb := range list {
		if nb.Path == rel {
			if fi, err := os.Stat(target); (err == nil && fi.IsDir()) || strings.HasSuffix(dest, string(filepath.Separator)) {
				target = filepath.Join(target, path.Base(rel))
			}
			return []download{{nb: nb, local: target}}, nil
		}
	}
	var out []download
	for _, nb := range list {
		sub, ok := strings.CutPrefix(nb.Path, rel+"/")
		if !ok {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(sub)) {
			return nil, tandem.Errorf(tandem.EInvalid, "the server listed an unsafe path %q", nb.Path)
		}
		out = append(out, download{nb: nb, local: filepath.Join(target, filepath.FromSlash(sub))})
	}
	return out, nil
}

// downloadNotebook writes one file through a temporary file that is renamed
// into place only when its sha256 and size match the listing, so a failed
// or corrupt download never leaves a partial file.
func downloadNotebook(ctx context.Context, f *cmdutil.Factory, svc tandem.NotebookService, ws string, d download) error {
	_, rc, err := svc.OpenNotebook(ctx, ws, d.nb.Path)
	if err != nil {
		return err
	}
	defer rc.Close()
	bar := f.Progress(d.nb.Size, "download "+d.nb.Path)
	defer bar.Finish()
	if err := cmdutil.WriteVerified(d.local, rc, d.nb.SHA256, d.nb.Size, bar); err != nil {
		return fmt.Errorf("download of %s does not match its listing: %w", d.nb.Path, err)
	}
	return nil
}

// notebookTable is the table form of notebook files.
func notebookTable(list []*tandem.Notebook) *cmdutil.Table {
	t := &cmdutil.Table{Header: []string{"PATH", "SIZE", "UPDATED", "SHA256"}}
	for _, nb := range list {
		t.Add(nb.Path, cmdutil.FormatSize(nb.Size), cmdutil.FormatTime(nb.UpdatedAt), nb.SHA256)
	}
	return t
}
