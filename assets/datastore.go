package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/spec"
)

// secretCredentials lists the credential fields whose values are secrets
// and go to the vault; other credential fields (tenant_id, client_id,
// access_key_id) are identifiers and stay in the document.
var secretCredentials = map[string]bool{
	"account_key":       true,
	"sas_token":         true,
	"client_secret":     true,
	"secret_access_key": true,
	"certificate":       true,
}

var datastoreNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,255}$`)

// credentialSecretName is the vault secret holding one credential field.
func credentialSecretName(datastore, field string) string {
	return "datastore-" + strings.ReplaceAll(datastore, "_", "-") + "-" + strings.ReplaceAll(field, "_", "-")
}

func (r *Service) defaultDatastore(ws *tandem.Workspace) *tandem.Datastore {
	return &tandem.Datastore{
		Name:        DefaultDatastore,
		Type:        "tandem_default",
		Description: "The workspace's default storage (workspaces/" + ws.ID + "/ in the region's blob store).",
		Spec:        map[string]any{"name": DefaultDatastore, "type": "tandem_default", "path": ws.Resources.Storage},
		Default:     true,
		CreatedAt:   ws.CreatedAt,
		UpdatedAt:   ws.CreatedAt,
	}
}

// CreateDatastore validates the document, stores its secret credentials in
// the vault (one secret per value), then records the datastore. If the
// record cannot be written, the secrets are removed again.
func (r *Service) CreateDatastore(ctx context.Context, workspace string, fields map[string]any) (*tandem.Datastore, error) {
	raw, err := json.Marshal(fields)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "spec is not a JSON document: %v", err)
	}
	doc, err := spec.Parse(raw, "request", spec.Options{Kind: spec.KindDatastore, NoFS: true})
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "%v", err)
	}
	if doc.Kind != spec.KindDatastore {
		return nil, tandem.Errorf(tandem.EInvalid, "the document describes a %s, not a datastore", doc.Kind)
	}
	if !datastoreNameRE.MatchString(doc.Name) {
		return nil, tandem.Errorf(tandem.EInvalid, "invalid datastore name %q: use letters, digits and '_'", doc.Name).WithTarget("name")
	}
	if strings.EqualFold(doc.Name, DefaultDatastore) {
		return nil, tandem.Errorf(tandem.EConflict, "%q is the workspace's default datastore and cannot be replaced", DefaultDatastore).WithTarget(doc.Name)
	}
	ws, err := r.FindWorkspace(ctx, workspace)
	if err != nil {
		return nil, err
	}
	if _, err := r.FindDatastore(ctx, workspace, doc.Name); err == nil {
		return nil, tandem.Errorf(tandem.EConflict, "datastore %q already exists in workspace %q; delete it first to change it", doc.Name, workspace).WithTarget(doc.Name)
	} else if !tandem.IsCode(err, tandem.ENotFound) {
		return nil, err
	}

	ds := &tandem.Datastore{Name: doc.Name, Type: doc.Type, Description: doc.Description, Tags: doc.Tags, Spec: CloneMap(doc.Fields)}
	creds, _ := ds.Spec["credentials"].(map[string]any)
	secrets := map[string][]byte{}
	for k, v := range creds {
		if !secretCredentials[k] {
			continue
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, tandem.Errorf(tandem.EInvalid, "credentials.%s must be a non-empty string", k).WithTarget("credentials." + k)
		}
		secrets[k] = []byte(s)
		delete(creds, k)
	}
	if len(creds) == 0 {
		delete(ds.Spec, "credentials")
	}

	ds.Credentials = map[string]string{}
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var written []string
	undo := func() {
		for _, name := range written {
			if err := r.Secrets.DeleteSecret(context.WithoutCancel(ctx), workspace, name); err != nil {
				r.Logger.Error("remove credential of failed datastore", "datastore", ds.Name, "secret", name, "err", err)
			}
		}
	}
	for _, k := range keys {
		name := credentialSecretName(ds.Name, k)
		if _, err := r.Secrets.SetSecret(ctx, workspace, name, secrets[k]); err != nil {
			undo()
			return nil, fmt.Errorf("store credential %s of datastore %q: %w", k, ds.Name, err)
		}
		written = append(written, name)
		ds.Credentials[k] = name
	}

	now := r.Timestamp()
	ds.CreatedAt, ds.UpdatedAt = now, now
	body, err := json.Marshal(ds)
	if err == nil {
		res := &tandem.Resource{WorkspaceID: ws.ID, Kind: tandem.KindDatastore, Name: ds.Name, Spec: body, CreatedAt: now, UpdatedAt: now}
		err = r.Store.Update(ctx, func(tx tandem.Tx) error {
			if _, err := tx.FindResource(ctx, res.Key()); err == nil {
				return tandem.Errorf(tandem.EConflict, "datastore %q already exists in workspace %q", ds.Name, workspace).WithTarget(ds.Name)
			} else if !tandem.IsCode(err, tandem.ENotFound) {
				return err
			}
			if err := tx.PutResource(ctx, res); err != nil {
				return err
			}
			return r.LogChange(ctx, tx, ws.ID, tandem.KindDatastore, ds.Name, "", tandem.OpCreate, res)
		})
	}
	if err != nil {
		undo()
		return nil, err
	}
	r.Logger.Info("datastore created", "workspace", ws.Name, "datastore", ds.Name, "type", ds.Type, "credentials", len(keys))
	return ds, nil
}

// FindDatastore returns one datastore, the default one included.
func (r *Service) FindDatastore(ctx context.Context, workspace, name string) (*tandem.Datastore, error) {
	var ds *tandem.Datastore
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		if name == DefaultDatastore {
			ds = r.defaultDatastore(ws)
			return nil
		}
		res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindDatastore, Name: name})
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "datastore %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		ds, err = datastoreFromResource(res)
		return err
	})
	return ds, err
}

func datastoreFromResource(res *tandem.Resource) (*tandem.Datastore, error) {
	var ds tandem.Datastore
	if err := json.Unmarshal(res.Spec, &ds); err != nil {
		return nil, fmt.Errorf("decode datastore %s: %w", res.Name, err)
	}
	return &ds, nil
}

// ListDatastores returns the workspace's datastores, the default first.
func (r *Service) ListDatastores(ctx context.Context, workspace string) ([]*tandem.Datastore, error) {
	var out []*tandem.Datastore
	err := r.Store.View(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		out = append(out, r.defaultDatastore(ws))
		list, err := tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: ws.ID, Kind: tandem.KindDatastore})
		for _, res := range list {
			ds, err := datastoreFromResource(res)
			if err != nil {
				return err
			}
			out = append(out, ds)
		}
		return err
	})
	return out, err
}

// DeleteDatastore removes the record, then its credential secrets.
func (r *Service) DeleteDatastore(ctx context.Context, workspace, name string) error {
	if name == DefaultDatastore {
		return tandem.Errorf(tandem.EConflict, "%q is the workspace's default datastore and cannot be deleted", name).WithTarget(name)
	}
	var ds *tandem.Datastore
	err := r.Store.Update(ctx, func(tx tandem.Tx) error {
		ws, err := r.LiveWorkspace(ctx, tx, workspace)
		if err != nil {
			return err
		}
		key := tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindDatastore, Name: name}
		res, err := tx.FindResource(ctx, key)
		if tandem.IsCode(err, tandem.ENotFound) {
			return tandem.Errorf(tandem.ENotFound, "datastore %q not found in workspace %q", name, workspace).WithTarget(name)
		} else if err != nil {
			return err
		}
		if ds, err = datastoreFromResource(res); err != nil {
			return err
		}
		if err := tx.DeleteResource(ctx, key); err != nil {
			return err
		}
		return r.LogChange(ctx, tx, ws.ID, tandem.KindDatastore, name, "", tandem.OpDelete, nil)
	})
	if err != nil {
		return err
	}
	for _, secret := range ds.Credentials {
		if err := r.Secrets.DeleteSecret(ctx, workspace, secret); err != nil && !tandem.IsCode(err, tandem.ENotFound) {
			return fmt.Errorf("datastore %q deleted, but its credential secret %q remains: %w", name, secret, err)
		}
	}
	return nil
}
