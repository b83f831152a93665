package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assets"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/spec"
	"github.com/tandemml/tandem/spec/jobdoc"
)

var _ tandem.ComputeService = (*Service)(nil)

// DefaultClusterSize is the VM size of an amlcompute document that names
// none, as in Azure.
const DefaultClusterSize = "STANDARD_DS3_v2"

// computeNameRE follows Azure's rule for compute names: a letter, then
// letters, digits and '-', 2 to 24 characters in all.
var computeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,23}$`)

// legacySizes holds the vCPUs of Azure's older sizes, whose names do not
// carry the count (D3 has 4 vCPUs). Newer names do: Standard_D4s_v3 has 4.
var legacySizes = map[string]int{
	"a0": 1, "a1": 1, "a2": 2, "a3": 4, "a4": 8, "a5": 2, "a6": 4, "a7": 8, "a8": 8, "a9": 16, "a10": 8, "a11": 16,
	"d1": 1, "d2": 2, "d3": 4, "d4": 8, "d5": 16, "d11": 2, "d12": 4, "d13": 8, "d14": 16, "d15": 20,
	"ds1": 1, "ds2": 2, "ds3": 4, "ds4": 8, "ds5": 16, "ds11": 2, "ds12": 4, "ds13": 8, "ds14": 16, "ds15": 20,
	"g1": 2, "g2": 4, "g3": 8, "g4": 16, "g5": 32, "gs1": 2, "gs2": 4, "gs3": 8, "gs4": 16, "gs5": 32,
}

var sizeRE = regexp.MustCompile(`^([a-z]+)(\d+)`)

// SizeCores returns the vCPUs of one instance of an Azure VM size, e.g. 4
// for STANDARD_DS3_v2 and 8 for Standard_E8ds_v5.
func SizeCores(size string) (int, error) {
	parts := strings.Split(strings.ToLower(size), "_")
	bad := tandem.Errorf(tandem.EInvalid, "cannot tell the vCPUs of VM size %q: name an Azure size such as STANDARD_DS3_v2 or Standard_D4s_v3", size).WithTarget("size")
	if len(parts) < 2 || (parts[0] != "standard" && parts[0] != "basic") {
		return 0, bad
	}
	m := sizeRE.FindStringSubmatch(parts[1])
	if m == nil {
		return 0, bad
	}
	version := ""
	if last := parts[len(parts)-1]; len(parts) > 2 && strings.HasPrefix(last, "v") {
		version = last
	}
	family, n := m[1], m[2]
	legacy := (family == "a" && version == "") ||
		((family == "d" || family == "ds" || family == "g" || family == "gs") && (version == "" || version == "v2"))
	if c, ok := legacySizes[family+n]; ok && legacy {
		return c, nil
	}
	cores, err := strconv.Atoi(n)
	if err != nil || cores < 1 || cores > 1024 {
		return 0, bad
	}
	return cores, nil
}

// localCompute is the built-in compute every workspace has.
func localCompute(ws *tandem.Workspace) *tandem.Compute {
	return &tandem.Compute{
		Name: tandem.LocalCompute, Type: tandem.LocalCompute, BuiltIn: true,
		Description: "Jobs run as processes on the server host.",
		State:       tandem.ComputeReady, MinInstances: 0, MaxInstances: DefaultJobWorkers,
		Spec:      map[string]any{"name": tandem.LocalCompute, "type": tandem.LocalCompute},
		CreatedAt: ws.CreatedAt, UpdatedAt: ws.CreatedAt,
	}
}

// computeSecretFields are the document fields whose values are secrets
// and go to the workspace vault.
var computeSecretFields = [][]string{{"ssh_settings", "admin_password"}}

func computeSecretName(compute, field string) string {
	return "compute-" + strings.ToLower(compute) + "-" + strings.ReplaceAll(field, "_", "-")
}

// CreateCompute records a compute from its Azure ML document. A cluster
// (amlcompute) counts max_instances × the vCPUs of its size against the
// region's quota; the other kinds are records that jobs cannot run on.
// Secret values (ssh admin passwords) go to the workspace vault.
func (r *Service) CreateCompute(ctx context.Context, workspace string, fields map[string]any) (*tandem.Compute, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "spec is not a JSON document: %v", err)
	}
	doc, err := spec.Parse(raw, "request", spec.Options{Kind: spec.KindCompute, NoFS: true})
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	if doc.Kind != spec.KindCompute {
		return nil, tandem.Errorf(tandem.EInvalid, "the document describes a %s, not a compute", doc.Kind)
	}
	if strings.EqualFold(doc.Name, tandem.LocalCompute) {
		return nil, tandem.Errorf(tandem.EConflict, "%q is the built-in compute and cannot be replaced", tandem.LocalCompute).WithTarget(doc.Name)
	}
	if !computeNameRE.MatchString(doc.Name) {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid compute name %q: start with a letter, then letters, digits and '-', 2 to 24 characters", doc.Name).WithTarget("name")
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	c, secrets, err := newCompute(doc)
	if err != nil {
		return nil, err
	}
	if _, err := r.FindCompute(ctx, workspace, c.Name); err == nil {
		return nil, tandem.Errorf(tandem.EConflict, "compute %q already exists in workspace %q; delete it first to change it", c.Name, ws.Name).WithTarget(c.Name)
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return nil, err
	}
	undo, err := r.storeComputeSecrets(ctx, workspace, c, secrets)
	if err != nil {
		return nil, err
	}
	if err := r.recordCompute(ctx, ws, c); err != nil {
		undo()
		return nil, err
	}
	r.Logger.Info("compute created", "workspace", ws.Name, "compute", c.Name, "type", c.Type, "quota_cores", c.QuotaCores())
	return c, nil
}

// newCompute makes the record of a compute document, and takes its secret
// values out of it (by dotted field).
func newCompute(doc *spec.Document) (*tandem.Compute, map[string][]byte, error) {
	c := &tandem.Compute{Name: doc.Name, Type: doc.Type, Description: doc.Description, Tags: doc.Tags, Spec: assets.CloneMap(doc.Fields)}
	c.Size, _ = c.Spec["size"].(string)
	var err error
	switch c.Type {
	case "amlcompute":
		if c.Size == "" {
			c.Size = DefaultClusterSize
		}
		if c.Cores, err = SizeCores(c.Size); err != nil {
			return nil, nil, err
		}
		c.MinInstances, c.MaxInstances = intField(c.Spec, "min_instances", 0), intField(c.Spec, "max_instances", 1)
		c.IdleTimeBeforeScaleDown = intField(c.Spec, "idle_time_before_scale_down", 120)
		c.State = tandem.ComputeReady
	default:
		c.State = tandem.ComputeNotRunnable
		c.StateReason = fmt.Sprintf("%s computes are records only: Tandem does not provision or reach them, and jobs that target them fail", c.Type)
	}

	secrets := map[string][]byte{}
	for _, path := range computeSecretFields {
		parent, _ := c.Spec[path[0]].(map[string]any)
		v, ok := parent[path[1]]
		if !ok {
			continue
		}
		s, _ := v.(string)
		if s == "" {
			return nil, nil, tandem.Errorf(tandem.EInvalid, "%s.%s must be a non-empty string", path[0], path[1]).WithTarget(path[0] + "." + path[1])
		}
		secrets[path[0]+"."+path[1]] = []byte(s)
		delete(parent, path[1])
	}
	return c, secrets, nil
}

// storeComputeSecrets puts the secret values of compute c into the
// workspace vault and names them in c.Credentials; undo removes them.
func (r *Service) storeComputeSecrets(ctx context.Context, workspace string, c *tandem.Compute, secrets map[string][]byte) (undo func(), err error) {
	var written []string
	undo = func() {
		for _, name := range written {
			if err := r.Secrets.DeleteSecret(context.WithoutCancel(ctx), workspace, name); err != nil {
				r.Logger.Error("remove secret of failed compute", "compute", c.Name, "secret", name, "err", err)
			}
		}
	}
	fieldsWithSecrets := make([]string, 0, len(secrets))
	for f := range secrets {
		fieldsWithSecrets = append(fieldsWithSecrets, f)
	}
	sort.Strings(fieldsWithSecrets)
	for _, f := range fieldsWithSecrets {
		name := computeSecretName(c.Name, strings.ReplaceAll(f, ".", "-"))
		if _, err := r.Secrets.SetSecret(ctx, workspace, name, secrets[f]); err != nil {
			undo()
			return nil, fmt.Errorf("store %s of compute %q: %w", f, c.Name, err)
		}
		written = append(written, name)
		if c.Credentials == nil {
			c.Credentials = map[string]string{}
		}
		c.Credentials[f] = name
	}
	return undo, nil
}

// recordCompute records a new compute in one transaction with its change
// entry, within the region's quota.
func (r *Service) recordCompute(ctx context.Context, ws *tandem.Workspace, c *tandem.Compute) error {
	now := r.Timestamp()
	c.CreatedAt, c.UpdatedAt = now, now
	body, err := json.Marshal(c)
	if err == nil {
		res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindCompute, Name: c.Name, Spec: body, CreatedAt: now, UpdatedAt: now}
		err = r.Store.Update(ctx, func(tx tandem.Tx) error {
			if _, err := tx.FindResource(ctx, res.Key()); err == nil {
				return tandem.Errorf(tandem.EConflict, "compute %q already exists in workspace %q", c.Name, ws.Name).WithTarget(c.Name)
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			if need := c.QuotaCores(); need > 0 && r.QuotaCores > 0 {
				q, err := r.quota(ctx, tx)
				if err != nil {
					return err
				}
				if q.UsedCores+need > q.LimitCores {
					return quotaError(r.Name, c, q)
				}
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
			return r.LogChange(ctx, tx, ws.ID, tandem.KindCompute, c.Name, "", tandem.OpCreate, res)
		})
	}
	return err
}

func quotaError(region string, c *tandem.Compute, q *tandem.Quota) error {
	holders := make([]string, 0, len(q.Clusters))
	for k, v := range q.Clusters {
		holders = append(holders, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(holders)
	held := "none in use"
	if len(holders) > 0 {
		held = fmt.Sprintf("%d in use by %s", q.UsedCores, strings.Join(holders, ", "))
	}
	return tandem.Errorf(tandem.EQuotaExceeded,
		"compute %q needs %d cores (max_instances %d × %d vCPUs of %s), but region %s has a quota of %d cores and %s; %d are free",
		c.Name, c.QuotaCores(), c.MaxInstances, c.Cores, c.Size, region, q.LimitCores, held, max(q.LimitCores-q.UsedCores, 0)).WithTarget("max_instances")
}

func intField(m map[string]any, key string, def int) int {
	switch v := m[key].(type) {
	case int64:
		return int(v)
	case float64:
		return int(v)
	case int:
		return v
	}
	return def
}

// quota adds up the clusters of every live workspace the region holds,
// replicas included: a secondary's clusters serve its jobs after a
// failover, so they hold their cores here too.
func (r *Service) quota(ctx context.Context, tx tandem.Tx) (*tandem.Quota, error) {
	q := &tandem.Quota{Region: r.Name, LimitCores: r.QuotaCores, Clusters: map[string]int{}}
	list, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{})
	if err != nil {
		return nil, err
	}
	for _, ws := range list {
		res, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindCompute})
		if err != nil {
			return nil, err
		}
		for _, x := range res {
			c, err := computeFromResource(x)
			if err != nil {
				return nil, err
			}
			if n := c.QuotaCores(); n > 0 {
				q.UsedCores += n
				q.Clusters[ws.Name+"/"+c.Name] = n
			}
		}
	}
	return q, nil
}

// RegionQuota returns the region's core quota and what holds it.
func (r *Service) RegionQuota(ctx context.Context) (*tandem.Quota, error) {
	if err := region.RequireAdmin(ctx, "read the region's quota"); err != nil {
		return nil, err
	}
	var q *tandem.Quota
	err := r.Store.View(ctx, func(tx tandem.Tx) (err error) {
		q, err = r.quota(ctx, tx)
		return err
	})
	return q, err
}

func computeFromResource(res *tandem.Resource) (*tandem.Compute, error) {
	var c tandem.Compute
	if err := json.Unmarshal(res.Spec, &c); err != nil {
		return nil, fmt.Errorf("decode compute %s: %w", res.Name, err)
	}
	return &c, nil
}

// FindCompute returns one compute, the built-in "local" included.
func (r *Service) FindCompute(ctx context.Context, workspace, name string) (*tandem.Compute, error) {
	var c *tandem.Compute
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if name == tandem.LocalCompute {
			c = localCompute(ws)
			return nil
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindCompute, Name: name})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "compute %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		if c, err = computeFromResource(res); err == nil && c.Type == "amlcompute" {
			c.Agents = r.agentsOf(ws.ID, c.Name)
		}
		return err
	})
	return c, err
}

// ListComputes returns "local", then the workspace's computes by name.
func (r *Service) ListComputes(ctx context.Context, workspace string) ([]*tandem.Compute, error) {
	var out []*tandem.Compute
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		out = append(out, localCompute(ws))
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindCompute})
		if err != nil {
			return err
		}
		for _, res := range list {
			c, err := computeFromResource(res)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if len(out) > 1 {
		rest := out[1:]
		sort.Slice(rest, func(a, b int) bool { return rest[a].Name < rest[b].Name })
	}
	return out, err
}

// UpdateCompute changes a cluster's scale settings in one transaction that
// also checks the region's quota against the new max_instances.
func (r *Service) UpdateCompute(ctx context.Context, workspace, name string, u tandem.ComputeUpdate) (*tandem.Compute, error) {
	if name == tandem.LocalCompute {
		return nil, tandem.Errorf(tandem.EConflict, "%q is the built-in compute and cannot be changed", name).WithTarget(name)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return nil, err
	}
	var c *tandem.Compute
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		key := tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindCompute, Name: name}
		res, err := tx.FindResource(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "compute %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		if c, err = computeFromResource(res); err != nil {
			return err
		}
		before := c.QuotaCores()
		scale := u.MinInstances != nil || u.MaxInstances != nil || u.IdleTimeBeforeScaleDown != nil
		if scale && c.Type != "amlcompute" {
			return tandem.Errorf(tandem.EInvalid, "compute %q is a %s: only amlcompute clusters have scale settings", name, c.Type).WithTarget(name)
		}
		set := func(field string, p *int, dst *int, lo int) error {
			if p == nil {
				return nil
			}
			if *p < lo {
				return tandem.Errorf(tandem.EInvalid, "%s must be at least %d, got %d", field, lo, *p).WithTarget(field)
			}
			*dst = *p
			c.Spec[field] = int64(*p)
			return nil
		}
		if err := set("min_instances", u.MinInstances, &c.MinInstances, 0); err != nil {
			return err
		}
		if err := set("max_instances", u.MaxInstances, &c.MaxInstances, 1); err != nil {
			return err
		}
		if err := set("idle_time_before_scale_down", u.IdleTimeBeforeScaleDown, &c.IdleTimeBeforeScaleDown, 0); err != nil {
			return err
		}
		if c.MinInstances > c.MaxInstances {
			return tandem.Errorf(tandem.EInvalid, "min_instances (%d) is more than max_instances (%d)", c.MinInstances, c.MaxInstances).WithTarget("min_instances")
		}
		if u.Description != nil {
			c.Description = *u.Description
			c.Spec["description"] = *u.Description
		}
		if u.Tags != nil {
			c.Tags = u.Tags
			tags := map[string]any{}
			for k, v := range u.Tags {
				tags[k] = v
			}
			c.Spec["tags"] = tags
		}
		if need := c.QuotaCores(); need > before && r.QuotaCores > 0 {
			q, err := r.quota(ctx, tx)
			if err != nil {
				return err
			}
			if q.UsedCores-before+need > q.LimitCores {
				delete(q.Clusters, ws.Name+"/"+c.Name)
				q.UsedCores -= before
				return quotaError(r.Name, c, q)
			}
		}
		c.UpdatedAt = r.Timestamp()
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		res.Spec, res.UpdatedAt = body, c.UpdatedAt
		if err := tx.PutResource(ctx, res); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindCompute, name, "", tandem.OpUpdate, res)
	})
	if err != nil {
		return nil, err
	}
	r.wakeAgents(ws.ID, name) // a larger cluster may take more jobs now
	return c, nil
}

// DeleteCompute removes a compute's record, then its secrets. Jobs that
// ran on it keep their records.
func (r *Service) DeleteCompute(ctx context.Context, workspace, name string) error {
	if name == tandem.LocalCompute {
		return tandem.Errorf(tandem.EConflict, "%q is the built-in compute and cannot be deleted", name).WithTarget(name)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return err
	}
	if err := r.CheckWritable(ctx, ws.ID); err != nil {
		return err
	}
	var c *tandem.Compute
	err = r.Store.Update(ctx, func(tx tandem.Tx) error {
		key := tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindCompute, Name: name}
		res, err := tx.FindResource(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "compute %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		if c, err = computeFromResource(res); err != nil {
			return err
		}
		if err := tx.DeleteResource(ctx, key); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindCompute, name, "", tandem.OpDelete, nil)
	})
	if err != nil {
		return err
	}
	for _, secret := range c.Credentials {
		if err := r.Secrets.DeleteSecret(ctx, workspace, secret); err != nil && !tandem.IsCode(err, tandem.ENotFound) {
			return fmt.Errorf("compute %q deleted, but its secret %q remains: %w", name, secret, err)
		}
	}
	r.Logger.Info("compute deleted", "workspace", ws.Name, "compute", name)
	return nil
}

// jobCompute returns the compute a job document names ("local" when it
// names none) or a clear error when jobs cannot run on it.
func (r *Service) jobCompute(ctx context.Context, workspace, name string) (*tandem.Compute, error) {
	name = strings.TrimPrefix(name, "azureml:")
	if name == "" {
		name = tandem.LocalCompute
	}
	c, err := r.FindCompute(ctx, workspace, name)
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.EInvalid, "compute %q does not exist in workspace %q; create it with `tandem compute create -f FILE` or use --set compute=local", name, workspace).WithTarget("compute")
	} else if err != nil {
		return nil, err
	}
	if c.State == tandem.ComputeNotRunnable {
		return nil, tandem.Errorf(tandem.EInvalid, "compute %q is not runnable here: %s", name, c.StateReason).WithTarget("compute")
	}
	return c, nil
}

// checkInstances refuses a job that asks for more instances
// (resources.instance_count) than its compute has (QuotaExceeded, with
// the numbers), or for more than one: each job runs as one process here.
func checkInstances(d *jobdoc.Job, c *tandem.Compute) error {
	n := d.InstanceCount()
	if n <= 1 {
		return nil
	}
	if n > int64(c.MaxInstances) {
		return tandem.Errorf(tandem.EQuotaExceeded, "the job asks for %d instances (resources.instance_count) but compute %q has at most %d (max_instances)", n, c.Name, c.MaxInstances).WithTarget("resources.instance_count")
	}
	return tandem.Errorf(tandem.EInvalid, "resources.instance_count %d: distributed jobs are not supported yet; each job runs as one process", n).WithTarget("resources.instance_count")
}
