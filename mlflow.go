package tandem

import (
	"context"
	"io"
)

// ArtifactFile is one entry of a run's artifacts as MLflow's artifact
// proxy lists it: a path relative to the run's artifact root (a base name
// in a listing), whether it is a directory, and a file's size.
type ArtifactFile struct {
	Path   string `json:"path"`
	IsDir  bool   `json:"is_dir"`
	Size   int64  `json:"file_size,omitempty"`
	SHA256 string `json:"-"`
}

// ArtifactService stores the artifacts MLflow clients log through the
// artifact proxy (mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/...).
// An artifact path is "<experiment_id>/<run_id>/artifacts/<rest>"; its
// bytes are a verified blob in the run's outputs folder
// (runs/<run_id>/outputs/<rest>), recorded on the run's job.
//
// Errors: EInvalid for a path that is absolute, holds "." or ".." or is
// not under a run's artifacts; ENotFound for an unknown workspace, run or
// artifact; ETooLarge over the upload limit; ECorrupt when stored bytes no
// longer match their recorded sha256 (reported by the reader's last Read).
type ArtifactService interface {
	// PutArtifact stores one file, streamed from r; size is the declared
	// length or -1 when unknown. Writing a path again replaces the file.
	PutArtifact(ctx context.Context, workspace, path string, size int64, r io.Reader) (*ArtifactFile, error)
	// OpenArtifact returns a verifying reader over one stored file.
	OpenArtifact(ctx context.Context, workspace, path string) (*ArtifactFile, io.ReadCloser, error)
	// ListArtifacts lists the direct entries of a directory
	// ("<experiment_id>/<run_id>" or below), base names, files and
	// directories in name order. A directory with nothing in it is empty.
	ListArtifacts(ctx context.Context, workspace, dir string) ([]ArtifactFile, error)
	// DeleteArtifact removes a file, or every file under a directory.
	DeleteArtifact(ctx context.Context, workspace, path string) error
}
