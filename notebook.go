package tandem

import (
	"context"
	"io"
	"time"
)

// Notebook is one file of a workspace's notebook file share, stored at
// workspaces/<workspace-id>/notebooks/<path> in the default storage.
type Notebook struct {
	Path      string    `json:"path"` // relative to the share, slash-separated
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NotebookService manages the notebook file share of a workspace.
//
// Errors: ENotFound for unknown workspaces or files; EInvalid for a path
// that is absolute, empty or contains ".." segments.
type NotebookService interface {
	// UploadNotebook stores r at path, replacing an existing file.
	UploadNotebook(ctx context.Context, workspace, path string, r io.Reader) (*Notebook, error)
	// ListNotebooks returns the files of the share, ordered by path.
	ListNotebooks(ctx context.Context, workspace string) ([]*Notebook, error)
	// OpenNotebook returns a file's metadata and a verifying reader over
	// its bytes. The caller closes the reader.
	OpenNotebook(ctx context.Context, workspace, path string) (*Notebook, io.ReadCloser, error)
}
