package spec

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/goccy/go-yaml"
)

// keyOrder is the order in which Marshal writes the keys it knows; other
// keys follow in alphabetical order. It follows the layout of Azure's own
// examples: identity first, then what the asset is, then its content.
var keyOrder = []string{
	"$schema", "name", "version", "type", "display_name", "description", "endpoint_name",
	"experiment_name", "tags", "properties",
	"path", "image", "conda_file", "build", "account_name", "container_name", "filesystem",
	"file_share_name", "bucket", "endpoint", "region", "protocol", "credentials",
	"code", "command", "environment", "environment_variables", "model", "code_configuration",
	"component", "compute", "inputs", "outputs", "settings", "jobs",
}

var keyRank = func() map[string]int {
	m := make(map[string]int, len(keyOrder))
	for i, k := range keyOrder {
		m[k] = i
	}
	return m
}()

// Marshal writes fields (a Document's Fields, possibly with "$schema" added)
// as YAML with a stable key order. Parse reads the output back to the same
// fields.
func Marshal(fields map[string]any) ([]byte, error) {
	v, err := ordered(fields)
	if err != nil {
		return nil, err
	}
	return yaml.MarshalWithOptions(v, marshalOptions...)
}

var marshalOptions = []yaml.EncodeOption{yaml.Indent(2), yaml.IndentSequence(true), yaml.UseLiteralStyleIfMultiline(true)}

// ordered turns maps into yaml.MapSlice with sorted keys, recursively.
func ordered(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			ri, iok := keyRank[keys[i]]
			rj, jok := keyRank[keys[j]]
			switch {
			case iok && jok:
				return ri < rj
			case iok != jok:
				return iok
			}
			return keys[i] < keys[j]
		})
		ms := make(yaml.MapSlice, 0, len(keys))
		for _, k := range keys {
			ov, err := ordered(x[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			ms = append(ms, yaml.MapItem{Key: k, Value: ov})
		}
		return ms, nil
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return ordered(m)
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			o, err := ordered(it)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = o
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%v cannot be written", x)
		}
		return x, nil
	case string:
		if !literalSafe(x) {
			return quoted(x), nil
		}
		return x, nil
	case nil, bool, int, int64, int32, uint64:
		return x, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// quoted is a string written in double quotes with escapes, for strings the
// YAML library would write in a style that does not read back the same
// (a multi-line string with trailing spaces in a literal block, say).
type quoted string

// MarshalYAML writes q as a double-quoted scalar. Go's escapes are YAML's
// for valid UTF-8, which Parse guarantees.
func (q quoted) MarshalYAML() ([]byte, error) { return []byte(strconv.Quote(string(q))), nil }

// literalSafe reports whether s, written the library's way, reads back as s.
func literalSafe(s string) bool {
	out, err := yaml.MarshalWithOptions(yaml.MapSlice{{Key: "k", Value: s}}, marshalOptions...)
	if err != nil {
		return false
	}
	root, probs := parseYAML(out, "")
	if len(probs) > 0 {
		return false
	}
	e := root.get("k")
	return e != nil && e.value.value == s
}
