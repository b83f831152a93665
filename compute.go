package tandem

import (
	"context"
	"time"
)

// KindCompute is the resource kind of a workspace's computes (unversioned).
const KindCompute Kind = "compute"

// EQuotaExceeded is the code of a request that would take the region past
// its core quota. Its message names the numbers.
const EQuotaExceeded = "QuotaExceeded"

// Compute states.
const (
	// ComputeReady: jobs may target the compute.
	ComputeReady = "Ready"
	// ComputeNotRunnable: the compute is a record only (computeinstance,
	// virtualmachine, attached kinds); jobs that target it fail with
	// StateReason.
	ComputeNotRunnable = "NotRunnable"
)

// Compute is a named target for jobs in a workspace. The built-in "local"
// compute always exists; "amlcompute" clusters are served by agents.
type Compute struct {
	Name        string            `json:"name"`
	Type        string            `json:"type"` // local, amlcompute, computeinstance, virtualmachine
	Description string            `json:"description,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Size is the VM size the document names (amlcompute, computeinstance);
	// Cores is what one instance of it counts against the region's quota.
	Size         string `json:"size,omitempty"`
	Cores        int    `json:"cores_per_instance,omitempty"`
	MinInstances int    `json:"min_instances"`
	MaxInstances int    `json:"max_instances"`
	// IdleTimeBeforeScaleDown is in seconds, as in Azure's YAML.
	IdleTimeBeforeScaleDown int    `json:"idle_time_before_scale_down,omitempty"`
	State                   string `json:"state"`
	StateReason             string `json:"state_reason,omitempty"`
	// Spec is the Azure ML document without secret values; Credentials
	// names the vault secrets that hold them (field path → secret name).
	Spec        map[string]any    `json:"spec"`
	Credentials map[string]string `json:"credentials,omitempty"`
	BuiltIn     bool              `json:"built_in,omitempty"`
	// Agents are the agents serving a cluster that its region heard from
	// (FindCompute only).
	Agents    []*Agent  `json:"agents,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// QuotaCores is what the compute counts against its region's core quota:
// MaxInstances × Cores for clusters, nothing for records that do not run.
func (c *Compute) QuotaCores() int {
	if c.Type != "amlcompute" {
		return 0
	}
	return c.MaxInstances * c.Cores
}

// ComputeUpdate holds the scale settings that may change after creation;
// nil fields stay as they are.
type ComputeUpdate struct {
	MinInstances            *int              `json:"min_instances,omitempty"`
	MaxInstances            *int              `json:"max_instances,omitempty"`
	IdleTimeBeforeScaleDown *int              `json:"idle_time_before_scale_down,omitempty"`
	Description             *string           `json:"description,omitempty"`
	Tags                    map[string]string `json:"tags"` // replaces the tags when non-nil
}

// Quota is a region's core quota and what its clusters hold of it.
type Quota struct {
	Region string `json:"region"`
	// LimitCores is 0 when the region has no quota.
	LimitCores int `json:"limit_cores"`
	UsedCores  int `json:"used_cores"`
	// Clusters lists what holds the used cores: "workspace/compute" → cores.
	Clusters map[string]int `json:"clusters,omitempty"`
}

// ComputeService manages a workspace's computes.
//
// Errors: EInvalid for documents that break a rule; EConflict for an
// existing name or the built-in "local"; EQuotaExceeded when a cluster
// would take the region past its quota; ENotFound for unknown workspaces
// and computes.
type ComputeService interface {
	CreateCompute(ctx context.Context, workspace string, spec map[string]any) (*Compute, error)
	FindCompute(ctx context.Context, workspace, name string) (*Compute, error)
	// ListComputes returns the workspace's computes, "local" first.
	ListComputes(ctx context.Context, workspace string) ([]*Compute, error)
	DeleteCompute(ctx context.Context, workspace, name string) error
	// UpdateCompute changes a cluster's scale settings (Azure's `az ml
	// compute update`); a larger max_instances must fit the region's quota.
	UpdateCompute(ctx context.Context, workspace, name string, u ComputeUpdate) (*Compute, error)
	// RegionQuota returns the region's core quota and its use.
	RegionQuota(ctx context.Context) (*Quota, error)
}
