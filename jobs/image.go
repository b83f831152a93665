package jobs

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
)

// jobImage returns the image a job's environment names (an inline
// environment's image, or a registered environment's), and how the
// environment is written, for the log. Registry references
// (azureml://registries/...) have no image here: they only label the job.
func (r *Service) jobImage(ctx context.Context, wsID string, job *tandem.Job) (image, label string) {
	env := jobDoc(job).Environment
	switch {
	case env == nil:
		return "", ""
	case env.Ref == "":
		return env.Image, "(inline)"
	default:
		ref, ok := env.Reference()
		if !ok || ref.Registry != "" {
			return "", env.Ref
		}
		var a *tandem.Asset
		err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
			a, err = assets.FindAssetTx(ctx, tx, wsID, tandem.KindEnvironment, ref.Name, ref.Version, ref.Label)
			return err
		})
		if err != nil {
			return "", env.Ref
		}
		image, _ = a.Spec["image"].(string)
		return image, env.Ref
	}
}
