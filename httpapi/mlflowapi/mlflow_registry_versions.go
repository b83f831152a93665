package mlflowapi

import (
	"net/http"

	"github.com/tandemml/tandem"
)

// The model-versions endpoints of MLflow's model registry.

func (h *Handler) mlflowCreateModelVersion(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "source")
	if err != nil {
		return err
	}
	tags, err := req.tags()
	if err != nil {
		return err
	}
	mv := &tandem.ModelVersion{Tags: tags, Description: deref(req.Description)}
	if mv, err = reg.CreateModelVersion(r.Context(), ws, req.Name, req.Source, req.RunID, mv); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_version": mlflowModelVersion(mv)})
	return nil
}

func (h *Handler) mlflowGetModelVersion(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "version")
	if err != nil {
		return err
	}
	mv, err := reg.GetModelVersion(r.Context(), ws, req.Name, req.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_version": mlflowModelVersion(mv)})
	return nil
}

func (h *Handler) mlflowDownloadURI(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "version")
	if err != nil {
		return err
	}
	mv, err := reg.GetModelVersion(r.Context(), ws, req.Name, req.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"artifact_uri": mv.DownloadURI})
	return nil
}

func (h *Handler) mlflowSearchModelVersions(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := reg.SearchModelVersions(r.Context(), ws, q.Get("filter"))
	if err != nil {
		return err
	}
	from, to, next, err := page(q, len(list), 10000, 200000)
	if err != nil {
		return err
	}
	out := []any{}
	for _, mv := range list[from:to] {
		out = append(out, mlflowModelVersion(mv))
	}
	body := map[string]any{"model_versions": out}
	if next != "" {
		body["next_page_token"] = next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// mlflowChangeVersion applies one change to a model version and answers
// with it, or with {} when empty is set.
func (h *Handler) mlflowChangeVersion(w http.ResponseWriter, r *http.Request, ws string, empty bool, fields []string, ch func(*registryRequest) tandem.RegistryChange) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, fields...)
	if err != nil {
		return err
	}
	mv, err := reg.UpdateModelVersion(r.Context(), ws, req.Name, req.Version, ch(req))
	if err != nil {
		return err
	}
	if empty {
		writeEmpty(w)
	} else {
		writeJSON(w, http.StatusOK, map[string]any{"model_version": mlflowModelVersion(mv)})
	}
	return nil
}

func (h *Handler) mlflowUpdateModelVersion(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeVersion(w, r, ws, false, []string{"name", "version"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{Description: req.Description}
	})
}

func (h *Handler) mlflowSetVersionTag(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeVersion(w, r, ws, true, []string{"name", "version", "key"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{SetTags: map[string]string{req.Key: deref(req.Value)}}
	})
}

func (h *Handler) mlflowDeleteVersionTag(w http.ResponseWriter, r *http.Request, ws string) error {
	return h.mlflowChangeVersion(w, r, ws, true, []string{"name", "version", "key"}, func(req *registryRequest) tandem.RegistryChange {
		return tandem.RegistryChange{DeleteTags: []string{req.Key}}
	})
}

func (h *Handler) mlflowDeleteModelVersion(w http.ResponseWriter, r *http.Request, ws string) error {
	reg, err := h.registry()
	if err != nil {
		return err
	}
	req, err := needRegistry(r, "name", "version")
	if err != nil {
		return err
	}
	if err := reg.DeleteModelVersion(r.Context(), ws, req.Name, req.Version); err != nil {
		return err
	}
	writeEmpty(w)
	return nil
}
