package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Document is one parsed, validated YAML file.
type Document struct {
	File        string
	Kind        string
	Type        string // sub-type, lower case: custom_model, uri_folder, command, azure_blob, amlcompute, ...; "" for kinds without one (environment, batch_endpoint)
	Name        string
	Version     string // always a string ("1" for version: 1); "" when omitted
	Description string
	Tags        map[string]string
	// Fields is the whole normalized document, JSON-compatible
	// (map[string]any, []any, string, int64, float64, bool, nil): keys as
	// Azure spells them; $schema and read-only keys dropped; enum values in
	// lower case; version a string; the default type filled in; `file:`
	// includes inlined; local paths as written (paths written in an included
	// file are made relative to this document's directory).
	Fields map[string]any
	Paths  []LocalPath // every local path in the document (not URIs, references or inline content)
	Refs   []Ref       // every azureml: reference and azureml://datastores/<ds>/paths/<p> URI
}

// Options change how a document is read.
type Options struct {
	// Kind forces a kind when $schema is absent: a kind ("model",
	// "online_endpoint", "online-endpoint") or an Azure schema name
	// ("commandJob").
	Kind string
	// Set holds --set overrides, "dotted.path=value" as Azure's CLI takes
	// them (settings.default_compute=local, tags.a=b, jobs.train.inputs.x=3,
	// additional_includes[0]=src). Values are read as YAML scalars.
	Set []string
	// NoFS keeps Parse off the filesystem: no existence checks, no file:
	// includes (they stay as paths). The server validates JSON this way.
	NoFS bool
}

// Load reads the file at path and parses it; relative paths in it resolve
// against the file's directory. An unreadable file is an error from the
// os package (errors.Is(err, fs.ErrNotExist) for a missing one); anything
// wrong with its content is Problems.
func Load(path string, opts Options) (*Document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return Parse(data, path, opts)
}

// Parse parses and validates one YAML (or JSON) document. file names it in
// problems and is the base for relative paths. The error, when not nil, is
// Problems.
func Parse(data []byte, file string, opts Options) (*Document, error) {
	if file == "" {
		file = "<input>"
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	c := &checker{opts: opts, top: file, topDir: filepath.Dir(abs), dirs: map[string]string{}}
	if !opts.NoFS {
		c.including = []string{abs}
	}
	root, probs := parseYAML(data, file)
	if len(probs) > 0 {
		return nil, sortProblems(probs, file)
	}
	if root = c.applySets(root); len(c.probs) > 0 {
		return nil, sortProblems(c.probs, file)
	}
	kt, ok := c.detectKind(root)
	if !ok {
		return nil, sortProblems(c.probs, file)
	}
	doc := &Document{File: file, Kind: kt.kind}
	fields, typ := c.checkRoot(root, kt)
	if len(c.probs) > 0 {
		return nil, sortProblems(c.probs, file)
	}
	doc.Type, doc.Fields, doc.Paths, doc.Refs = typ, fields, c.paths, c.refs
	doc.Name, _ = fields["name"].(string)
	doc.Version, _ = fields["version"].(string)
	doc.Description, _ = fields["description"].(string)
	if t, ok := fields["tags"].(map[string]any); ok {
		doc.Tags = make(map[string]string, len(t))
		for k, v := range t {
			doc.Tags[k], _ = v.(string)
		}
	}
	return doc, nil
}

// detectKind finds the kind from $schema or Options.Kind.
func (c *checker) detectKind(root *node) (kindType, bool) {
	var fromOpt kindType
	if c.opts.Kind != "" {
		kt, ok := lookupKind(c.opts.Kind)
		if !ok {
			c.problem(nil, "", "unknown kind %q: use one of %s", c.opts.Kind, strings.Join(Kinds, ", "))
			return kindType{}, false
		}
		fromOpt = kt
	}
	e := root.get("$schema")
	if e == nil || e.value.isNull() {
		if fromOpt.kind == "" {
			c.problem(root, "", "cannot tell what kind of document this is: it has no $schema; give the kind with --kind (%s)", strings.Join(Kinds, ", "))
			return kindType{}, false
		}
		return fromOpt, true
	}
	s, ok := e.value.str()
	if !ok {
		c.problem(e.value, "$schema", "must be a schema URL, not %s", e.value.describe())
		return kindType{}, false
	}
	kt, _, ok := lookupSchema(schemaName(s))
	if !ok {
		c.problem(e.value, "$schema", "unknown schema %q; known Azure ML schemas: %s", s, schemaNames())
		return kindType{}, false
	}
	if fromOpt.kind != "" && fromOpt.kind != kt.kind {
		c.problem(e.value, "$schema", "the schema is for a %s, but --kind says %s", kt.kind, fromOpt.kind)
		return kindType{}, false
	}
	if kt.unsupported != "" {
		c.problem(e.value, "$schema", "%s", kt.unsupported)
		return kindType{}, false
	}
	return kt, true
}

// checkRoot checks the document against its kind's rule and returns the
// fields and the type.
func (c *checker) checkRoot(root *node, kt kindType) (map[string]any, string) {
	switch r := documentRule(kt.kind).(type) {
	case *objRule:
		out, _ := r.checkDropping(c, root, "", readOnlyKeys).(map[string]any)
		return out, kt.typ
	case *typedRule:
		typ, ok := c.rootType(root, r, kt)
		if !ok {
			return nil, ""
		}
		out, _ := r.variants[typ].checkDropping(c, root, "", readOnlyKeys).(map[string]any)
		if out != nil {
			if _, has := out["type"]; !has {
				out["type"] = typ
			}
		}
		return out, typ
	}
	c.problem(root, "", "unknown kind %q", kt.kind)
	return nil, ""
}

// rootType decides the type of a document from its `type` key and the type
// its $schema implies, which must agree.
func (c *checker) rootType(root *node, r *typedRule, kt kindType) (string, bool) {
	te := root.get("type")
	if kt.typ == "" || (te != nil && !te.value.isNull()) {
		typ, tnode, ok := r.pick(c, root, "")
		if ok && kt.typ != "" && typ != kt.typ {
			c.problem(tnode, "type", "%q does not match the $schema, which is for type %s", typ, kt.typ)
			return "", false
		}
		return typ, ok
	}
	at := root
	if e := root.get("$schema"); e != nil {
		at = e.value
	}
	if msg, bad := r.unsupported[kt.typ]; bad {
		c.problem(at, "$schema", "%s", msg)
		return "", false
	}
	if _, ok := r.variants[kt.typ]; !ok {
		c.problem(at, "$schema", "%s documents of type %s are not supported yet", kt.kind, kt.typ)
		return "", false
	}
	return kt.typ, true
}
