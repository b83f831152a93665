package spec

import (
	"fmt"
	"strings"
)

// checker holds the state of one Parse: options, what was found, and the
// problems.
type checker struct {
	opts      Options
	top       string // the document's file name, as given
	topDir    string // its directory, absolute
	probs     Problems
	paths     []LocalPath
	refs      []Ref
	including []string          // files being read through file: includes, outermost first
	dirs      map[string]string // directory of each included file, by the name problems give it
}

func (c *checker) problem(n *node, field, format string, args ...any) {
	file, pos := c.top, Pos{}
	if n != nil {
		file, pos = n.file, n.pos
	}
	c.problemAt(file, pos, field, format, args...)
}

func (c *checker) problemAt(file string, pos Pos, field, format string, args ...any) {
	if file == "" {
		file = c.top
	}
	c.probs = append(c.probs, Problem{File: file, Pos: pos, Field: field, Message: fmt.Sprintf(format, args...)})
}

// addRef records a reference to a registered asset of kind written in n.
func (c *checker) addRef(n *node, field, kind, s string) {
	r, ok := ParseRef(s)
	switch {
	case !ok:
		c.problem(n, field, "%q is not a valid reference: use azureml:NAME:VERSION or azureml:NAME@latest", s)
	case r.Kind == KindModel && kind == KindData:
		c.problem(n, field, "%q refers to a model; %s is needed here (for a model input, give type custom_model, mlflow_model or triton_model)", s, article(kind))
	case r.Kind != "" && r.Kind != kind:
		c.problem(n, field, "%q refers to %s; %s is needed here", s, article(r.Kind), article(kind))
	default:
		r.Kind, r.Field, r.File, r.Pos = kind, field, n.file, n.pos
		c.refs = append(c.refs, r)
	}
}

// withInclude runs fn with abs on the include stack.
func (c *checker) withInclude(abs string, fn func()) {
	c.including = append(c.including, abs)
	defer func() { c.including = c.including[:len(c.including)-1] }()
	fn()
}

// readOnlyKeys are keys Azure writes in `show` output that a create ignores.
var readOnlyKeys = map[string]bool{
	"$schema": true, "id": true, "creation_context": true, "provisioning_state": true,
	"latest_version": true, "status": true, "scoring_uri": true, "openapi_uri": true,
	"swagger_uri": true, "provisioning_errors": true, "created_on": true, "state": true,
	"last_operation": true, "services_endpoints": true, "studio_url": true,
}

// assetOrRef is a field holding a registered asset of kind (a reference),
// an inline mapping checked with inline, or file:PATH naming a YAML file
// with that mapping. bare allows "name:version" without azureml:.
// pathIsFile makes any string that is not a reference a YAML file, as
// pipeline steps read `component: ./train.yml`.
func assetOrRef(kind string, inline func() rule, bare, pathIsFile bool) rule {
	what := fmt.Sprintf("%s: azureml:NAME:VERSION, azureml:NAME@latest, file:PATH or an inline mapping", article(kind))
	return funcRule{what: what, fn: func(c *checker, n *node, field string) any {
		if n.kind == mapNode {
			return checkDocument(c, inline(), n, field)
		}
		s, ok := n.str()
		if !ok || s == "" {
			c.problem(n, field, "must be %s, not %s", what, n.describe())
			return nil
		}
		if hasExpr(s) {
			c.problem(n, field, "must be %s; an expression is not allowed here", what)
			return s
		}
		if IsRefString(s) {
			if strings.HasPrefix(s, "azureml://") {
				c.checkAzureMLURI(n, field, s)
				return s
			}
			c.addRef(n, field, kind, s)
			return s
		}
		path, isFile := strings.CutPrefix(s, "file:")
		if !isFile && !pathIsFile {
			if _, isRef := ParseRef(s); bare && isRef {
				c.addRef(n, field, kind, s)
				return s
			}
			c.problem(n, field, "%q is not %s", s, what)
			return s
		}
		if c.opts.NoFS {
			// Not read: the include stays a path, written as it was.
			kept := c.localPath(n, field, path, mustBeFile, "")
			if isFile {
				return "file:" + kept.(string)
			}
			return kept
		}
		return c.include(n, field, path, kind, inline)
	}}
}

// include reads the YAML file path names and checks it as an inline value,
// with problems reported in that file.
func (c *checker) include(n *node, field, path, kind string, inline func() rule) any {
	root, ok := c.readInclude(n, field, path)
	if !ok {
		return nil
	}
	if e := root.get("$schema"); e != nil {
		if s, isStr := e.value.str(); isStr {
			kt, _, known := lookupSchema(schemaName(s))
			if known && kt.kind != kind {
				c.problem(e.value, join(field, "$schema"), "the file is %s; %s is needed here", article(kt.kind), article(kind))
				return nil
			}
			if known && kt.typ != "" && root.get("type") == nil {
				// The schema says the type: an included commandComponent
				// is a command component whatever step includes it.
				typ := &node{kind: scalarNode, file: root.file, pos: e.value.pos, off: -1, size: 1, value: kt.typ}
				root, _ = setIn(root, []setStep{{key: "type", index: -1}}, typ)
			}
		}
	}
	var out any
	c.withInclude(c.resolve(n, path), func() { out = checkDocument(c, inline(), root, field) })
	return out
}

// checkDocument checks a mapping that may be a whole document of its own
// (an included or inline component, environment or model): $schema and
// read-only keys are dropped, as at the top.
func checkDocument(c *checker, r rule, n *node, field string) any {
	switch r := r.(type) {
	case *objRule:
		return r.checkDropping(c, n, field, readOnlyKeys)
	case *typedRule:
		return r.checkDropping(c, n, field, readOnlyKeys)
	}
	return r.check(c, n, field)
}

// present reports whether mapping n has key with a non-null value (whether
// or not the value passed its rule).
func present(n *node, key string) bool {
	e := n.get(key)
	return e != nil && !e.value.isNull()
}

// article puts "a" or "an" before a kind: "an environment", "a model",
// "a data asset".
func article(kind string) string {
	if kind == KindData {
		return "a data asset"
	}
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
