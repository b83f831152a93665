package cmdutil

import (
	"io"

	"github.com/tandemml/tandem/spec"
)

// WriteDocument prints a resource whose YAML form is its Azure ML document
// (with $schema), so that `create -f` accepts the output of `show -o yaml`.
func WriteDocument(w io.Writer, f OutputFormat, record any, kind, typ string, fields map[string]any, t TableView) error {
	if f != FormatYAML {
		return WriteOutput(w, f, record, t)
	}
	data, err := DocumentYAML(kind, typ, fields)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// DocumentYAML returns an Azure ML document with its $schema.
func DocumentYAML(kind, typ string, fields map[string]any) ([]byte, error) {
	doc := map[string]any{}
	for k, v := range fields {
		doc[k] = v
	}
	if u := spec.SchemaURL(kind, typ); u != "" {
		doc["$schema"] = u
	}
	return spec.Marshal(doc)
}
