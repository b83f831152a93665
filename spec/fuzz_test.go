package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes. It must never panic; every
// failure must be Problems, each with a file and a message; and every
// document it accepts must survive Marshal and Parse unchanged. It runs
// with NoFS: paths the fuzzer invents must not walk the machine's disks.
func FuzzParse(f *testing.F) {
	for _, c := range badCases {
		f.Add([]byte(c.yaml))
	}
	for _, c := range okCases {
		f.Add([]byte(c.yaml))
	}
	for _, c := range stepBadCases {
		f.Add([]byte(c.yaml))
	}
	for _, c := range stepOkCases {
		f.Add([]byte(c.yaml))
	}
	filepath.WalkDir(filepath.Join(corpusDir, "cli"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Ext(p) == ".yml" || filepath.Ext(p) == ".yaml") {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data, "fuzz.yml", Options{NoFS: true})
		if err != nil {
			ps, ok := AsProblems(err)
			if !ok || len(ps) == 0 {
				t.Fatalf("got %T %v, want Problems", err, err)
			}
			for _, p := range ps {
				if p.File == "" || p.Message == "" {
					t.Fatalf("problem %+v lacks a file or a message", p)
				}
			}
			return
		}
		fields := map[string]any{"$schema": SchemaURL(d.Kind, d.Type)}
		for k, v := range d.Fields {
			fields[k] = v
		}
		out, err := Marshal(fields)
		if err != nil {
			t.Fatalf("Marshal of accepted fields: %v", err)
		}
		again, err := Parse(out, "fuzz.yml", Options{NoFS: true})
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again.Fields, d.Fields) {
			t.Fatalf("round trip changed the fields\nfirst:  %#v\nsecond: %#v\nYAML:\n%s", d.Fields, again.Fields, out)
		}
	})
}
