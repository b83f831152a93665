package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestMarshalKeyOrder(t *testing.T) {
	out, err := Marshal(map[string]any{
		"path": "model.pkl", "zeta": "z", "type": "custom_model", "version": "1", "name": "m",
		"$schema": SchemaURL(KindModel, "custom_model"), "description": "d", "alpha": "a",
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		keys = append(keys, strings.SplitN(line, ":", 2)[0])
	}
	want := []string{"$schema", "name", "version", "type", "description", "path", "alpha", "zeta"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("got keys %v, want %v\n%s", keys, want, out)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	// Values that YAML would read as another type must come back as written.
	fields := map[string]any{
		"$schema": SchemaURL(KindComponent, "command"),
		"name":    "c", "version": "1.0", "type": "command", "description": "true",
		"command":     "python train.py \\\n  --x ${{inputs.x}}\n  --y 'q'\n",
		"environment": "azureml:env:2",
		"tags":        map[string]any{"n": "007", "b": "yes", "empty": "", "colon": "a: b", "hash": "# not a comment"},
		"inputs": map[string]any{
			"x": map[string]any{"type": "number", "default": 1e-3},
			"i": map[string]any{"type": "integer", "default": int64(-5)},
			"s": map[string]any{"type": "string", "default": "null"},
			"f": map[string]any{"type": "boolean", "default": false, "optional": true},
		},
	}
	out, err := Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(out, "c.yml", Options{NoFS: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	delete(fields, "$schema")
	if !reflect.DeepEqual(d.Fields, fields) {
		t.Fatalf("got\n%#v\nwant\n%#v\nYAML:\n%s", d.Fields, fields, out)
	}
}

func TestMarshalRejectsOddValues(t *testing.T) {
	if _, err := Marshal(map[string]any{"x": struct{}{}}); err == nil {
		t.Fatal("got no error for a struct value")
	}
}
