package job

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
	"github.com/tandemml/tandem/spec"
)

// jobDocument returns the Azure ML document of a job, ready for `job
// create -f` in this workspace or another of the same region: the job's
// name is left out (the new job gets its own), code stored in this
// workspace is named by its long-form URI (which names the workspace, so
// the server copies it from there), and components a pipeline's steps
// name by registered version are written inline, their code named the
// same way. Data inputs keep their references: register them in the
// target first.
func jobDocument(ctx context.Context, svc *httpapi.Client, region, ws string, j *tandem.Job) (map[string]any, error) {
	b, err := json.Marshal(j.Spec)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	delete(doc, "name")
	// longURI names this workspace's storage in the long form.
	longURI := func(s string) string {
		ds, p, ok := spec.ParseDatastoreURI(s)
		if !ok || ds != "workspaceblobstore" || strings.HasPrefix(s, "azureml://subscriptions/") {
			return s
		}
		return fmt.Sprintf("azureml://subscriptions/tandem/resourcegroups/%s/workspaces/%s/datastores/%s/paths/%s", region, ws, ds, p)
	}
	longForm := func(m map[string]any) {
		if s, ok := m["code"].(string); ok {
			m["code"] = longURI(s)
		}
	}
	// Inputs held in this workspace's storage (files given with the job,
	// earlier outputs) are named in the long form too, so that the server
	// copies them from here.
	longInputs := func(m map[string]any) {
		inputs, _ := m["inputs"].(map[string]any)
		for _, v := range inputs {
			if in, ok := v.(map[string]any); ok {
				if s, ok := in["path"].(string); ok {
					in["path"] = longURI(s)
				}
			}
		}
	}
	longForm(doc)
	longInputs(doc)
	steps, _ := doc["jobs"].(map[string]any)
	names := make([]string, 0, len(steps))
	for n := range steps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		step, _ := steps[n].(map[string]any)
		if step == nil {
			continue
		}
		longForm(step)
		longInputs(step)
		switch c := step["component"].(type) {
		case map[string]any:
			longForm(c)
		case string:
			ref, ok := spec.ParseRef(c)
			if !ok || ref.Registry != "" {
				continue
			}
			a, err := svc.FindAsset(ctx, ws, tandem.KindComponent, ref.Name, ref.Version, ref.Label)
			if err != nil {
				return nil, fmt.Errorf("step %s: component %s: %w", n, c, err)
			}
			inline := map[string]any{}
			for k, v := range a.Spec {
				if k != "$schema" {
					inline[k] = v
				}
			}
			longForm(inline)
			step["component"] = inline
		}
	}
	return doc, nil
}
