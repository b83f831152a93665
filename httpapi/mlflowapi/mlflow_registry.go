package mlflowapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/tandemml/tandem"
)

// MLflow's model registry: registered models (one per name, with tags and
// aliases) whose versions are the workspace's Tandem model versions of the
// same name, READY as soon as they are created.

// mlflowRegistryHandlers are the model registry's MLflow endpoints,
// relative to an MLflow prefix.
func (h *Handler) mlflowRegistryHandlers() map[string]mlflowHandler {
	return map[string]mlflowHandler{
		"POST registered-models/create":              h.mlflowCreateRegisteredModel,
		"GET registered-models/get":                  h.mlflowGetRegisteredModel,
		"GET registered-models/search":               h.mlflowSearchRegisteredModels,
		"PATCH registered-models/update":             h.mlflowUpdateRegisteredModel,
		"POST registered-models/rename":              h.mlflowRenameRegisteredModel,
		"DELETE registered-models/delete":            h.mlflowDeleteRegisteredModel,
		"POST registered-models/set-tag":             h.mlflowSetModelTag,
		"DELETE registered-models/delete-tag":        h.mlflowDeleteModelTag,
		"POST registered-models/alias":               h.mlflowSetAlias,
		"DELETE registered-models/alias":             h.mlflowDeleteAlias,
		"GET registered-models/alias":                h.mlflowGetByAlias,
		"POST registered-models/get-latest-versions": h.mlflowLatestVersions,
		"GET registered-models/get-latest-versions":  h.mlflowLatestVersions,
		"POST model-versions/create":                 h.mlflowCreateModelVersion,
		"GET model-versions/get":                     h.mlflowGetModelVersion,
		"GET model-versions/search":                  h.mlflowSearchModelVersions,
		"PATCH model-versions/update":                h.mlflowUpdateModelVersion,
		"DELETE model-versions/delete":               h.mlflowDeleteModelVersion,
		"GET model-versions/get-download-uri":        h.mlflowDownloadURI,
		"POST model-versions/set-tag":                h.mlflowSetVersionTag,
		"DELETE model-versions/delete-tag":           h.mlflowDeleteVersionTag,
		"POST logged-models/search":                  h.mlflowSearchLoggedModels,
	}
}

// registryRequest holds the fields of every registry request; GETs carry
// them in the query, the others in a JSON body (or, for a DELETE without
// one, in the query).
type registryRequest struct {
	Name        string        `json:"name"`
	NewName     string        `json:"new_name"`
	Description *string       `json:"description"`
	Key         string        `json:"key"`
	Value       *string       `json:"value"`
	Alias       string        `json:"alias"`
	Version     string        `json:"version"`
	Source      string        `json:"source"`
	RunID       string        `json:"run_id"`
	Tags        []mlflowParam `json:"tags"`
}

func readRegistry(r *http.Request) (*registryRequest, error) {
	var req registryRequest
	if r.Method == http.MethodGet || (r.Method == http.MethodDelete && r.ContentLength == 0) {
		q := r.URL.Query()
		req = registryRequest{Name: q.Get("name"), Key: q.Get("key"), Alias: q.Get("alias"), Version: q.Get("version")}
		return &req, nil
	}
	if err := decodeMLflow(r, &req); err != nil {
		return nil, err
	}
	return &req, nil
}

// need reads a request and checks that the named fields are set.
func needRegistry(r *http.Request, fields ...string) (*registryRequest, error) {
	req, err := readRegistry(r)
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		v := map[string]string{"name": req.Name, "new_name": req.NewName, "key": req.Key, "alias": req.Alias,
			"version": req.Version, "source": req.Source}[f]
		if v == "" {
			return nil, missing(f)
		}
	}
	return req, nil
}

func (req *registryRequest) tags() (map[string]string, error) {
	if len(req.Tags) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for i, t := range req.Tags {
		p, err := t.param("tags[" + strconv.Itoa(i) + "].")
		if err != nil {
			return nil, err
		}
		out[p.Key] = p.Value
	}
	return out, nil
}

func (h *Handler) registry() (tandem.ModelRegistry, error) {
	if h.Registry == nil {
		return nil, tandem.Errorf(tandem.EUnavailable, "this server has no model registry")
	}
	return h.Registry, nil
}

// keyValues is MLflow's list of tags.
func keyValues(m map[string]string) []map[string]string {
	out := []map[string]string{}
	for _, k := range sortedKeys(m) {
		out = append(out, map[string]string{"key": k, "value": m[k]})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mlflowModelVersion is MLflow's ModelVersion.
func mlflowModelVersion(mv *tandem.ModelVersion) map[string]any {
	aliases := mv.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	return map[string]any{
		"name": mv.Name, "version": mv.Version,
		"creation_timestamp": mv.CreatedAt.UnixMilli(), "last_updated_timestamp": mv.UpdatedAt.UnixMilli(),
		"user_id": "", "current_stage": "None", "description": mv.Description,
		"source": mv.Source, "run_id": mv.RunID, "run_link": "",
		"status": "READY", "status_message": "", "tags": keyValues(mv.Tags), "aliases": aliases,
	}
}

// mlflowRegisteredModel is MLflow's RegisteredModel.
func mlflowRegisteredModel(m *tandem.RegisteredModel) map[string]any {
	aliases := []map[string]string{}
	for _, a := range sortedKeys(m.Aliases) {
		aliases = append(aliases, map[string]string{"alias": a, "version": m.Aliases[a]})
	}
	out := map[string]any{
		"name": m.Name, "creation_timestamp": m.CreatedAt.UnixMilli(), "last_updated_timestamp": m.UpdatedAt.UnixMilli(),
		"user_id": "", "description": m.Description, "tags": keyValues(m.Tags), "aliases": aliases,
	}
	if m.Latest != nil {
		out["latest_versions"] = []any{mlflowModelVersion(m.Latest)}
	}
	return out
}

// page cuts one page out of n items by MLflow's max_results and
// page_token (an opaque offset), returning the bounds and the next token.
func page(q url.Values, n, defaultMax, limit int) (from, to int, next string, err error) {
	size := defaultMax
	if v := q.Get("max_results"); v != "" {
		size, err = strconv.Atoi(v)
		if err != nil || size <= 0 || size > limit {
			return 0, 0, "", tandem.Errorf(tandem.EInvalid, "max_results must be an integer from 1 to %d, got %q", limit, v).WithTarget("max_results")
		}
	}
	if tok := q.Get("page_token"); tok != "" {
		b, derr := base64.RawURLEncoding.DecodeString(tok)
		off, aerr := strconv.Atoi(string(b))
		if derr != nil || aerr != nil || off < 0 {
			return 0, 0, "", tandem.Errorf(tandem.EInvalid, "invalid page_token %q", tok).WithTarget("page_token")
		}
		from = min(off, n)
	}
	to = min(from+size, n)
	if to < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to)))
	}
	return from, to, next, nil
}
