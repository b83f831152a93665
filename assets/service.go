package assets

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
)

// Secrets is what assets need of the secret service: datastores keep
// their credentials as workspace secrets.
type Secrets interface {
	SetSecret(ctx context.Context, workspace, name string, value []byte) (*tandem.Secret, error)
	DeleteSecret(ctx context.Context, workspace, name string) error
}

// Service registers and serves the versioned assets of a workspace (data,
// models, environments, components) and its datastores.
type Service struct {
	*region.Region
	Secrets Secrets
}

// New returns the asset service of the region k.
func New(k *region.Region, secrets Secrets) *Service {
	return &Service{Region: k, Secrets: secrets}
}
