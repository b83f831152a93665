package secrets

import "github.com/tandemml/tandem/region"

// Service keeps a workspace's secrets, sealed by the region's vault, and
// rewraps them when the vault's key rotates.
type Service struct {
	*region.Region
}

// New returns the secret service of the region k.
func New(k *region.Region) *Service { return &Service{Region: k} }
