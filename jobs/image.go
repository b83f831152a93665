package jobs

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/spec"
)

// jobImage returns the image a job's environment names (an inline
// environment's image, or a registered environment's), and how the
// environment is written, for the log. Registry references
// (azureml://registries/...) have no image here: they only label the job.
func (r *Service) jobImage(ctx context.Context, wsID string, job *tandem.Job) (image, label string) {
	switch env := job.Spec["environment"].(type) {
	case map[string]any:
		image, _ = env["image"].(string)
		return image, "(inline)"
	case string:
		ref, ok := spec.ParseRef(env)
		if !ok || ref.Registry != "" {
			return "", env
		}
		var a *tandem.Asset
		err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			a, err = assets.FindAssetTx(ctx, tx, wsID, tandem.KindEnvironment, ref.Name, ref.Version, ref.Label)
			return err
		})
		if err != nil {
			return "", env
		}
		image, _ = a.Spec["image"].(string)
		return image, env
	}
	return "", ""
}
