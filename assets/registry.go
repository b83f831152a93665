package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// MLflow's model registry over a workspace's models. A registered model is
// one resource of kind registeredmodel (description, tags, aliases); its
// versions are the Tandem model versions of the same name, so that
// `tandem model list` shows them and they replicate, export and deploy as
// any model version. A version registered from a run's artifacts
// references the bytes the run stored (runs/<run>/outputs/...), with the
// run as its lineage (JobName), as a version registered from a job's
// output does: nothing is copied and nothing can differ.

var _ tandem.ModelRegistry = (*Service)(nil)

// Properties of a model version's document that keep what MLflow asked.
const (
	propSource      = "mlflow.source"
	propDownloadURI = "mlflow.download_uri"
)

// noJobToken refuses registry calls made with a job's token, which may
// only track its own run: registering models takes a workspace token.
func noJobToken(ctx context.Context) error {
	if p := tandem.PrincipalFromContext(ctx); p != nil && p.Job() != "" {
		return tandem.Errorf(tandem.EForbidden, "token %q belongs to job %q and may only track that job's run; use a workspace token for the model registry", p.Name, p.Job())
	}
	return nil
}

func registeredModelFromResource(res *tandem.Resource) (*tandem.RegisteredModel, error) {
	var m tandem.RegisteredModel
	if err := json.Unmarshal(res.Spec, &m); err != nil {
		return nil, fmt.Errorf("decode registered model %s: %w", res.Name, err)
	}
	m.CreatedAt, m.UpdatedAt = res.CreatedAt, res.UpdatedAt
	return &m, nil
}

// findRegisteredModel reads a registered model in tx.
func findRegisteredModel(ctx context.Context, tx tandem.Tx, wsID, name string) (*tandem.RegisteredModel, error) {
	res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: wsID, Kind: tandem.KindRegisteredModel, Name: name})
	if tandem.IsCode(err, tandem.ENotFound) {
		return nil, tandem.Errorf(tandem.ENotFound, "registered model %q not found", name).WithTarget(name)
	} else if err != nil {
		return nil, err
	}
	return registeredModelFromResource(res)
}

// putRegisteredModel writes a registered model and its one change.
func (r *Service) putRegisteredModel(ctx context.Context, tx tandem.Tx, wsID string, m *tandem.RegisteredModel, op tandem.Op) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	res := &tandem.Resource{WorkspaceID: wsID, Kind: tandem.KindRegisteredModel, Name: m.Name, Spec: b, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if err := tx.PutResource(ctx, res); err != nil {
		return err
	}
	return r.LogChange(ctx, tx, wsID, tandem.KindRegisteredModel, m.Name, "", op, res)
}

// modelVersion is the MLflow view of a Tandem model version.
func modelVersion(a *tandem.Asset, m *tandem.RegisteredModel) *tandem.ModelVersion {
	mv := &tandem.ModelVersion{Name: a.Name, Version: a.Version, Description: a.Description, Tags: a.Tags,
		RunID: a.JobName, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	path, _ := a.Spec["path"].(string)
	mv.Source, mv.DownloadURI = path, path
	if props, ok := a.Spec["properties"].(map[string]any); ok {
		if s, ok := props[propSource].(string); ok {
			mv.Source = s
		}
		if s, ok := props[propDownloadURI].(string); ok {
			mv.DownloadURI = s
		}
	}
	if m != nil {
		for alias, v := range m.Aliases {
			if v == a.Version {
				mv.Aliases = append(mv.Aliases, alias)
			}
		}
		sort.Strings(mv.Aliases)
	}
	return mv
}

// withLatest fills m.Latest with its newest live version.
func withLatest(ctx context.Context, tx tandem.Tx, wsID string, m *tandem.RegisteredModel) error {
	versions, err := listVersions(ctx, tx, wsID, tandem.KindModel, m.Name, false)
	if err != nil {
		return err
	}
	if len(versions) > 0 {
		m.Latest = modelVersion(versions[0], m)
	}
	return nil
}

// nameFilterRE is the part of MLflow's search filter grammar Tandem
// supports: one comparison on the name.
var nameFilterRE = regexp.MustCompile(`(?i)^\s*(?:name)\s*(=|!=|LIKE|ILIKE)\s*(?:'([^']*)'|"([^"]*)")\s*$`)

// parseNameFilter returns the test a filter makes on names.
func parseNameFilter(filter string) (func(string) bool, error) {
	if strings.TrimSpace(filter) == "" {
		return func(string) bool { return true }, nil
	}
	m := nameFilterRE.FindStringSubmatch(filter)
	if m == nil {
		return nil, tandem.Errorf(tandem.EInvalid, "unsupported filter %q: Tandem supports name = 'x', name != 'x', name LIKE 'pattern' and name ILIKE 'pattern'", filter).WithTarget("filter")
	}
	op, value := strings.ToUpper(m[1]), m[2]+m[3]
	switch op {
	case "=":
		return func(s string) bool { return s == value }, nil
	case "!=":
		return func(s string) bool { return s != value }, nil
	}
	var re strings.Builder
	if op == "ILIKE" {
		re.WriteString("(?i)")
	}
	re.WriteString("^")
	for _, c := range value {
		switch c {
		case '%':
			re.WriteString(".*")
		case '_':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	rx, err := regexp.Compile(re.String())
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid pattern in filter %q: %v", filter, err).WithTarget("filter")
	}
	return rx.MatchString, nil
}

// CreateRegisteredModel creates a registered model. Model versions of the
// name that exist already (from `tandem model create`) become its
// versions.
func (r *Service) CreateRegisteredModel(ctx context.Context, workspace string, m *tandem.RegisteredModel) (*tandem.RegisteredModel, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	if err := tandem.ValidateAssetName(m.Name); err != nil {
		return nil, err
	}
	out := &tandem.RegisteredModel{Name: m.Name, Description: m.Description, Tags: m.Tags}
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if _, err := findRegisteredModel(ctx, tx, ws.ID, m.Name); err == nil {
			return tandem.Errorf(tandem.EConflict, "registered model (name=%s) already exists", m.Name).WithTarget(m.Name)
		} else if !tandem.IsCode(err, tandem.ENotFound) {
			return err
		}
		out.CreatedAt = r.Timestamp()
		out.UpdatedAt = out.CreatedAt
		if err := r.putRegisteredModel(ctx, tx, ws.ID, out, tandem.OpCreate); err != nil {
			return err
		}
		return withLatest(ctx, tx, ws.ID, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRegisteredModel returns a registered model with its latest version.
func (r *Service) GetRegisteredModel(ctx context.Context, workspace, name string) (*tandem.RegisteredModel, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	var m *tandem.RegisteredModel
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if m, err = findRegisteredModel(ctx, tx, ws.ID, name); err != nil {
			return err
		}
		return withLatest(ctx, tx, ws.ID, m)
	})
	return m, err
}

// SearchRegisteredModels returns the registered models whose names pass
// filter, ordered by name.
func (r *Service) SearchRegisteredModels(ctx context.Context, workspace, filter string) ([]*tandem.RegisteredModel, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	match, err := parseNameFilter(filter)
	if err != nil {
		return nil, err
	}
	out := []*tandem.RegisteredModel{}
	err = r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindRegisteredModel})
		if err != nil {
			return err
		}
		for _, res := range list {
			if !match(res.Name) {
				continue
			}
			m, err := registeredModelFromResource(res)
			if err != nil {
				return err
			}
			if err := withLatest(ctx, tx, ws.ID, m); err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, err
}

// reservedAlias reports MLflow's reserved aliases: "latest" and v<digits>.
var reservedAlias = regexp.MustCompile(`(?i)^(latest|v\d+)$`)

// UpdateRegisteredModel changes a registered model's description, tags or
// aliases in one write. An alias must name a live version.
func (r *Service) UpdateRegisteredModel(ctx context.Context, workspace, name string, ch tandem.RegistryChange) (*tandem.RegisteredModel, error) {
	if err := noJobToken(ctx); err != nil {
		return nil, err
	}
	var m *tandem.RegisteredModel
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if m, err = findRegisteredModel(ctx, tx, ws.ID, name); err != nil {
			return err
		}
		if ch.Description != nil {
			m.Description = *ch.Description
		}
		m.Tags = applyTags(m.Tags, ch)
		for alias, v := range ch.SetAliases {
			if alias == "" || reservedAlias.MatchString(alias) || tandem.ValidateAssetName(alias) != nil {
				return tandem.Errorf(tandem.EInvalid, "invalid alias %q: use letters, digits, '.', '-' and '_'; 'latest' and v<number> are reserved", alias).WithTarget("alias")
			}
			a, err := FindAssetTx(ctx, tx, ws.ID, tandem.KindModel, name, v, "")
			if err != nil {
				return err
			}
			if a.Archived {
				return tandem.Errorf(tandem.ENotFound, "registered model %q has no version %q", name, v).WithTarget("version")
			}
			if m.Aliases == nil {
				m.Aliases = map[string]string{}
			}
			m.Aliases[alias] = v
		}
		for _, alias := range ch.DeleteAliases {
			delete(m.Aliases, alias)
		}
		m.UpdatedAt = r.Timestamp()
		if err := r.putRegisteredModel(ctx, tx, ws.ID, m, tandem.OpUpdate); err != nil {
			return err
		}
		return withLatest(ctx, tx, ws.ID, m)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// applyTags returns tags with ch's tag changes.
func applyTags(tags map[string]string, ch tandem.RegistryChange) map[string]string {
	if len(ch.SetTags)+len(ch.DeleteTags) == 0 {
		return tags
	}
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, ch.SetTags)
	for _, k := range ch.DeleteTags {
		delete(out, k)
	}
	return out
}

// DeleteRegisteredModel archives the model's versions, each one write,
// then deletes the registered model.
func (r *Service) DeleteRegisteredModel(ctx context.Context, workspace, name string) error {
	if err := noJobToken(ctx); err != nil {
		return err
	}
	var live []string
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if _, err := findRegisteredModel(ctx, tx, ws.ID, name); err != nil {
			return err
		}
		versions, err := listVersions(ctx, tx, ws.ID, tandem.KindModel, name, false)
		for _, a := range versions {
			live = append(live, a.Version)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, v := range slices.Backward(live) {
		if err := r.ArchiveAsset(ctx, workspace, tandem.KindModel, name, v, true); err != nil {
			return err
		}
	}
	return r.deleteRegisteredModel(ctx, workspace, name)
}

func (r *Service) deleteRegisteredModel(ctx context.Context, workspace, name string) error {
	return r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if _, err := findRegisteredModel(ctx, tx, ws.ID, name); err != nil {
			return err
		}
		if err := tx.DeleteResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindRegisteredModel, Name: name}); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindRegisteredModel, name, "", tandem.OpDelete, nil)
	})
}
