package notebook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/cli/cmdutil/cmdtest"
)

func TestPlanUploads(t *testing.T) {
	root := t.TempDir()
	cmdtest.WriteFiles(t, root, map[string]string{"nb.ipynb": "x", "dir/a.ipynb": "a", "dir/sub/b.py": "b"})
	os.MkdirAll(filepath.Join(root, "emptydir"), 0o755)
	tests := []struct {
		name, local, dest string
		want              []string // paths in the share
		wantErr           string   // error code
	}{
		{name: "FileDefaultDest", local: "nb.ipynb", want: []string{"nb.ipynb"}},
		{name: "FileRenamed", local: "nb.ipynb", dest: "team/train.ipynb", want: []string{"team/train.ipynb"}},
		{name: "FileIntoFolder", local: "nb.ipynb", dest: "team/", want: []string{"team/nb.ipynb"}},
		{name: "FileDot", local: "nb.ipynb", dest: ".", want: []string{"nb.ipynb"}},
		{name: "DirDefaultDest", local: "dir", want: []string{"dir/a.ipynb", "dir/sub/b.py"}},
		{name: "DirDest", local: "dir", dest: "team/exp", want: []string{"team/exp/a.ipynb", "team/exp/sub/b.py"}},
		{name: "DirIntoRoot", local: "dir", dest: ".", want: []string{"a.ipynb", "sub/b.py"}},
		{name: "EmptyDir", local: "emptydir", wantErr: tandem.EInvalid},
		{name: "Missing", local: "nope", wantErr: tandem.EInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cmdutil.NewFactory(cmdutil.Env{Dir: root, Stderr: io.Discard})
			got, err := planUploads(f, f.Path(tt.local), tt.dest)
			if tt.wantErr != "" {
				if tandem.ErrorCode(err) != tt.wantErr {
					t.Fatalf("got error %v, want code %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rels []string
			for _, u := range got {
				rels = append(rels, u.rel)
			}
			if !slices.Equal(rels, tt.want) {
				t.Fatalf("got %v, want %v", rels, tt.want)
			}
		})
	}
}

func TestPlanDownloads(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "existing"), 0o755)
	list := []*tandem.Notebook{{Path: "a.ipynb"}, {Path: "team/exp/b.ipynb"}, {Path: "team/exp/deep/c.py"}, {Path: "team/experiment.py"}}
	tests := []struct {
		name, rel, dest string
		want            []string // local paths relative to root
	}{
		{name: "FileDefaultDest", rel: "a.ipynb", want: []string{"a.ipynb"}},
		{name: "FileDest", rel: "a.ipynb", dest: "out/copy.ipynb", want: []string{"out/copy.ipynb"}},
		{name: "FileIntoExistingDir", rel: "a.ipynb", dest: "existing", want: []string{"existing/a.ipynb"}},
		{name: "FileIntoNewDir", rel: "a.ipynb", dest: "new" + string(filepath.Separator), want: []string{"new/a.ipynb"}},
		{name: "Folder", rel: "team/exp", want: []string{"exp/b.ipynb", "exp/deep/c.py"}},
		{name: "FolderDest", rel: "team/exp", dest: "local", want: []string{"local/b.ipynb", "local/deep/c.py"}},
		{name: "PrefixIsNotFolder", rel: "team/ex", want: nil},
		{name: "Missing", rel: "nope", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cmdutil.NewFactory(cmdutil.Env{Dir: root})
			got, err := planDownloads(f, list, tt.rel, tt.dest)
			if err != nil {
				t.Fatal(err)
			}
			var locals []string
			for _, d := range got {
				rel, _ := filepath.Rel(root, d.local)
				locals = append(locals, filepath.ToSlash(rel))
			}
			if !slices.Equal(locals, tt.want) {
				t.Fatalf("got %v, want %v", locals, tt.want)
			}
		})
	}
	t.Run("UnsafeServerPath", func(t *testing.T) {
		f := cmdutil.NewFactory(cmdutil.Env{Dir: root})
		_, err := planDownloads(f, []*tandem.Notebook{{Path: "x/../../etc/passwd"}}, "x", "")
		if tandem.ErrorCode(err) != tandem.EInvalid {
			t.Fatalf("got %v, want EInvalid for a path that leaves the destination", err)
		}
	})
}

// fakeNotebooks serves one file whose bytes may differ from its listing,
// as a faulty server would; a real server cannot be made to do that.
type fakeNotebooks struct {
	tandem.NotebookService
	content string
}

func (f fakeNotebooks) OpenNotebook(ctx context.Context, ws, path string) (*tandem.Notebook, io.ReadCloser, error) {
	return &tandem.Notebook{Path: path}, io.NopCloser(strings.NewReader(f.content)), nil
}

func TestDownloadVerifies(t *testing.T) {
	sum := sha256.Sum256([]byte("good"))
	listed := &tandem.Notebook{Path: "a.ipynb", SHA256: hex.EncodeToString(sum[:]), Size: 4}
	for _, tt := range []struct {
		name, content string
		wantErr       string
	}{
		{name: "OK", content: "good"},
		{name: "Corrupt", content: "evil", wantErr: tandem.ECorrupt},
		{name: "Short", content: "goo", wantErr: tandem.ECorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "a.ipynb")
			os.WriteFile(dest, []byte("previous"), 0o644)
			f := cmdutil.NewFactory(cmdutil.Env{Dir: dir})
			err := downloadNotebook(context.Background(), f, fakeNotebooks{content: tt.content}, "ws", download{nb: listed, local: dest})
			if tandem.ErrorCode(err) != tt.wantErr {
				t.Fatalf("got error %v, want code %q", err, tt.wantErr)
			}
			want := "good"
			if tt.wantErr != "" {
				want = "previous" // the old file is untouched
			}
			if got, _ := os.ReadFile(dest); string(got) != want {
				t.Fatalf("%s holds %q, want %q", dest, got, want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("directory holds %d entries, want 1 (no temporary file left)", len(entries))
			}
		})
	}
}
