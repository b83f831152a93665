package jobs

import (
	"context"
	"os"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/compute"
)

// runUploader returns an Uploader that stores the files of a run of job
// ref in its run folder: the log at logs/std_log.txt, each output file at
// outputs/<output>/<path>.
func (r *Service) runUploader(ref JobRef) *compute.Uploader {
	prefix := tandem.StoragePrefix(ref.WorkspaceID) + tandem.RunFolder(ref.Name)
	return compute.NewUploader(func(ctx context.Context, f compute.RunFile, body *os.File) (tandem.BlobRef, error) {
		key := prefix + "logs/std_log.txt"
		if !f.IsLog() {
			key = prefix + "outputs/" + f.Output + "/" + f.Path
		}
		return r.Blobs.Put(ctx, key, body, nil)
	})
}
