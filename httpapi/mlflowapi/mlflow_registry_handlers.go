package mlflowapi

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// The handlers of MLflow's model registry endpoints (mlflow_registry.go).

func (h *Handler) mlflowCreateRegisteredModel(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name")
	if err != nil {
		return err
	}
	tags, err := req.tags()
	if err != nil {
		return err
	}
	m := &tandem.RegisteredModel{Name: req.Name, Tags: tags}
	if req.Description != nil {
		m.Description = *req.Description
	}
	if m, err = reg.CreateRegisteredModel(r.Context(), ws, m); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"registered_model": mlflowRegisteredModel(m)})
	return nil
}

func (h *Handler) mlflowGetRegisteredModel(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name")
	if err != nil {
		return err
	}
	m, err := reg.GetRegisteredModel(r.Context(), ws, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"registered_model": mlflowRegisteredModel(m)})
	return nil
}

func (h *Handler) mlflowSearchRegisteredModels(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := reg.SearchRegisteredModels(r.Context(), ws, q.Get("filter"))
	if err != nil {
		return err
	}
	from, to, next, err := page(q, len(list), 100, 1000)
	if err != nil {
		return err
	}
	out := []any{}
	for _, m := range list[from:to] {
		out = append(out, mlflowRegisteredModel(m))
	}
	body := map[string]any{"registered_models": out}
	if next != "" {
		body["next_page_token"] = next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// mlflowChangeModel applies one change to a registered model and answers
// with it, or with {} when empty is set.
func (h *Handler) mlflowChangeModel(w http.ResponseWriter, r *http.Request, ws string, empty bool, fields []string, ch func(*registryRequest) tandem.RegistryChange) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, fields...)
	if err != nil {
		return err
	}
	m, err := reg.UpdateRegisteredModel(r.Context(), ws, req.Name, ch(req))
	if err != nil {
		return err
	}
	if empty {
		writeEmpty(w)
	} else {
		writeJSON(w, http.StatusOK, map[string]any{"registered_model": mlflowRegisteredModel(m)})
	}
	return nil
}

func (h *Handler) mlflowUpdateRegisteredModel(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeModel(w, r, ws, false, []string{"name"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{Description: req.Description}
	})
}

func (h *Handler) mlflowSetModelTag(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeModel(w, r, ws, true, []string{"name", "key"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{SetTags: map[string]string{req.Key: deref(req.Value)}}
	})
}

func (h *Handler) mlflowDeleteModelTag(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeModel(w, r, ws, true, []string{"name", "key"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{DeleteTags: []string{req.Key}}
	})
}

func (h *Handler) mlflowSetAlias(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeModel(w, r, ws, true, []string{"name", "alias", "version"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{SetAliases: map[string]string{req.Alias: req.Version}}
	})
}

func (h *Handler) mlflowDeleteAlias(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeModel(w, r, ws, true, []string{"name", "alias"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{DeleteAliases: []string{req.Alias}}
	})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (h *Handler) mlflowRenameRegisteredModel(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "new_name")
	if err != nil {
		return err
	}
	m, err := reg.RenameRegisteredModel(r.Context(), ws, req.Name, req.NewName)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"registered_model": mlflowRegisteredModel(m)})
	return nil
}

func (h *Handler) mlflowDeleteRegisteredModel(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name")
	if err != nil {
		return err
	}
	if err := reg.DeleteRegisteredModel(r.Context(), ws, req.Name); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}

func (h *Handler) mlflowGetByAlias(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "alias")
	if err != nil {
		return err
	}
	mv, err := reg.GetModelVersion(r.Context(), ws, req.Name, "@"+req.Alias)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_version": mlflowModelVersion(mv)})
	return nil
}

func (h *Handler) mlflowLatestVersions(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name")
	if err != nil {
		return err
	}
	m, err := reg.GetRegisteredModel(r.Context(), ws, req.Name)
	if err != nil {
		return err
	}
	out := []any{}
	if m.Latest != nil {
		out = append(out, mlflowModelVersion(m.Latest))
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_versions": out})
	return nil
}

// mlflowSearchLoggedModels answers as a server without logged models, so
// that MLflow 3's register_model goes on to register the run's artifacts.
func (h *Handler) mlflowSearchLoggedModels(w http.ResponseWriter, r *http.Request, ws string) error {
	writeJSON(w, http.StatusOK, map[string]any{"models": []any{}})
	return nil
}
