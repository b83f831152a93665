package tracking

import "github.com/tandemml/tandem/region"

// Service is the MLflow-compatible tracking API of a workspace:
// experiments, runs and what runs log (tandem.RunService,
// tandem.ExperimentService, tandem.MLflowRunService).
type Service struct {
	*region.Region
}

// New returns the tracking service of the region k.
func New(k *region.Region) *Service { return &Service{Region: k} }
