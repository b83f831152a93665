package spec

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// A rule checks one value of a document and returns its normalized,
// JSON-compatible form. Problems go to the checker; the returned value is
// then only a best effort.
type rule interface {
	check(c *checker, n *node, field string) any
	// want says what the value must be, as in "must be a string".
	want() string
}

// field is one key of a mapping rule.
type field struct {
	name     string
	rule     rule
	required bool
}

// opt and req build fields.
func opt(name string, r rule) field { return field{name: name, rule: r} }
func req(name string, r rule) field { return field{name: name, rule: r, required: true} }

// join appends key to a dotted field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// typeProblem reports a value of the wrong type.
func (c *checker) typeProblem(n *node, field string, r rule) {
	c.problem(n, field, "must be %s, not %s", r.want(), n.describe())
}

// --- scalars

type strRule struct {
	pattern  *regexp.Regexp
	explain  string // what the pattern means, for the message
	nonEmpty bool
}

var str = strRule{}

func (r strRule) want() string { return "a string" }

func (r strRule) check(c *checker, n *node, field string) any {
	s, ok := n.str()
	if !ok {
		c.typeProblem(n, field, r)
		return nil
	}
	if r.nonEmpty && strings.TrimSpace(s) == "" {
		c.problem(n, field, "must not be empty")
	}
	if r.pattern != nil && !r.pattern.MatchString(s) {
		c.problem(n, field, "%q is not valid: %s", s, r.explain)
	}
	return s
}

// scalarStr accepts any scalar and keeps it as a string: tag values,
// environment variables and the like, which Azure stores as strings.
type scalarStrRule struct{}

func (scalarStrRule) want() string { return "a string" }

func (r scalarStrRule) check(c *checker, n *node, field string) any {
	if n.kind != scalarNode {
		c.typeProblem(n, field, r)
		return nil
	}
	return n.sourceText()
}

// versionRule accepts a version as a string or a number and returns a
// string: `version: 1` and `version: "1"` are the same version.
type versionRule struct{}

var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (versionRule) want() string { return "a version (a string or a number)" }

func (r versionRule) check(c *checker, n *node, field string) any {
	if n.kind != scalarNode || n.value == nil {
		c.typeProblem(n, field, r)
		return nil
	}
	if _, ok := n.value.(bool); ok {
		c.typeProblem(n, field, r)
		return nil
	}
	v := n.sourceText()
	if f, ok := n.value.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		c.typeProblem(n, field, r)
		return nil
	}
	if !versionPattern.MatchString(v) {
		c.problem(n, field, "%q is not a valid version: use letters, digits, '.', '-' and '_', starting with a letter or digit, at most 64 characters", v)
	}
	return v
}

type intRule struct {
	min, max int64
	bounded  bool
}

var integer = intRule{}

// intRange is an integer between lo and hi inclusive.
func intRange(lo, hi int64) intRule { return intRule{min: lo, max: hi, bounded: true} }

func (intRule) want() string { return "an integer" }

func (r intRule) check(c *checker, n *node, field string) any {
	i, ok := n.value.(int64)
	if n.kind != scalarNode || !ok {
		if f, isF := n.value.(float64); n.kind == scalarNode && isF && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			i, ok = int64(f), true
		}
	}
	if !ok {
		c.typeProblem(n, field, r)
		return nil
	}
	if r.bounded && (i < r.min || i > r.max) {
		c.problem(n, field, "must be between %d and %d, not %d", r.min, r.max, i)
	}
	return i
}

type numRule struct{}

var number = numRule{}

func (numRule) want() string { return "a number" }

func (r numRule) check(c *checker, n *node, field string) any {
	if n.kind == scalarNode {
		switch v := n.value.(type) {
		case int64:
			return v
		case float64:
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				return v
			}
		}
	}
	c.typeProblem(n, field, r)
	return nil
}

type boolRule struct{}

var boolean = boolRule{}

func (boolRule) want() string { return "true or false" }

func (r boolRule) check(c *checker, n *node, field string) any {
	if b, ok := n.value.(bool); ok && n.kind == scalarNode {
		return b
	}
	c.typeProblem(n, field, r)
	return nil
}

// enumRule accepts one of a fixed set of strings, case-insensitively, and
// returns it as listed (lower case for Azure's enums).
type enumRule []string

func enum(values ...string) enumRule { return enumRule(values) }

func (r enumRule) want() string { return "one of: " + strings.Join(r, ", ") }

func (r enumRule) check(c *checker, n *node, field string) any {
	s, ok := n.str()
	if !ok {
		c.typeProblem(n, field, r)
		return nil
	}
	for _, v := range r {
		if strings.EqualFold(s, v) {
			return v
		}
	}
	c.problem(n, field, "%q is not allowed; use %s", s, r.want())
	return s
}

// anyRule accepts any value (free-form settings such as Spark conf).
type anyRule struct{}

func (anyRule) want() string { return "a value" }

func (anyRule) check(c *checker, n *node, field string) any { return plain(n) }

// plain converts a node to plain Go values without checking it.
func plain(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			m[e.key] = plain(e.value)
		}
		return m
	case seqNode:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = plain(it)
		}
		return l
	}
	if f, ok := n.value.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return scalarText(f) // JSON has no NaN or infinity
	}
	return n.value
}

// --- collections

// objRule is a mapping with a fixed set of keys. after, when set, runs
// checks across fields on the normalized result.
type objRule struct {
	fields []field
	after  func(c *checker, n *node, out map[string]any, field string)
	// variant, when set, may pick a narrower rule for a mapping by its
	// content (an automl step by its task); nil keeps this rule, whose
	// fields are then the union of the variants'.
	variant func(n *node) *objRule
}

func obj(fields ...field) *objRule { return &objRule{fields: fields} }

func (r *objRule) want() string { return "a mapping" }

func (r *objRule) lookup(key string) (field, bool) {
	for _, f := range r.fields {
		if f.name == key {
			return f, true
		}
	}
	return field{}, false
}

// allowed lists the keys of the rule, sorted.
func (r *objRule) allowed() string {
	names := make([]string, len(r.fields))
	for i, f := range r.fields {
		names[i] = f.name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (r *objRule) check(c *checker, n *node, path string) any {
	return r.checkDropping(c, n, path, nil)
}

// checkDropping checks a mapping, silently leaving out the keys in drop
// (read-only keys of a whole document).
func (r *objRule) checkDropping(c *checker, n *node, path string, drop map[string]bool) any {
	if n.kind != mapNode {
		c.typeProblem(n, path, r)
		return nil
	}
	if r.variant != nil {
		if v := r.variant(n); v != nil && v != r {
			return v.checkDropping(c, n, path, drop)
		}
	}
	out := make(map[string]any, len(n.entries))
	for _, e := range n.entries {
		fpath := join(path, e.key)
		f, ok := r.lookup(e.key)
		switch {
		case ok && e.value.isNull() && (f.required || !isNullable(f.rule)):
			// `key:` with nothing is the same as leaving it out; a missing
			// required field is reported below.
		case ok:
			if v := f.rule.check(c, e.value, fpath); v != nil || isNullable(f.rule) {
				out[e.key] = v
			}
		case drop[e.key]:
		default:
			c.problemAt(e.value.file, e.keyPos, fpath, "unknown field; allowed fields are: %s", r.allowed())
		}
	}
	var missing []string
	for _, f := range r.fields {
		if e := n.get(f.name); f.required && (e == nil || e.value.isNull()) {
			missing = append(missing, f.name)
		}
	}
	if len(missing) == 1 {
		c.problem(n, path, "missing required field %q", missing[0])
	} else if len(missing) > 1 {
		c.problem(n, path, "missing required fields %s", quoteList(missing))
	}
	if r.after != nil {
		r.after(c, n, out, path)
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// nullableRule marks rules whose null value is meaningful and kept (an
// output declared with nothing under it).
type nullableRule interface{ nullable() }

func isNullable(r rule) bool { _, ok := r.(nullableRule); return ok }

// mapOfRule is a mapping with free keys whose values all follow one rule.
type mapOfRule struct {
	elem    rule
	keyPat  *regexp.Regexp
	keyWhat string
}

func mapOf(elem rule) *mapOfRule { return &mapOfRule{elem: elem} }

func (r *mapOfRule) want() string { return "a mapping" }

func (r *mapOfRule) check(c *checker, n *node, path string) any {
	if n.kind != mapNode {
		c.typeProblem(n, path, r)
		return nil
	}
	out := make(map[string]any, len(n.entries))
	for _, e := range n.entries {
		if r.keyPat != nil && !r.keyPat.MatchString(e.key) {
			c.problemAt(e.value.file, e.keyPos, join(path, e.key), "%q is not a valid name: %s", e.key, r.keyWhat)
		}
		out[e.key] = r.elem.check(c, e.value, join(path, e.key))
	}
	return out
}

// listRule is a list whose items follow one rule.
type listRule struct{ elem rule }

func listOf(elem rule) listRule { return listRule{elem: elem} }

func (r listRule) want() string { return "a list" }

func (r listRule) check(c *checker, n *node, path string) any {
	if n.kind != seqNode {
		c.typeProblem(n, path, r)
		return nil
	}
	out := make([]any, len(n.items))
	for i, it := range n.items {
		out[i] = r.elem.check(c, it, index(path, i))
	}
	return out
}

// funcRule is a rule written as a function, for values whose shape depends
// on their content (a reference string or an inline mapping, say).
type funcRule struct {
	what string
	fn   func(c *checker, n *node, field string) any
}

func (r funcRule) want() string { return r.what }

func (r funcRule) check(c *checker, n *node, field string) any { return r.fn(c, n, field) }

// typed chooses a mapping rule by the value of the mapping's `type` key, as
// Azure does for distributions, identities, schedules and job steps.
type typedRule struct {
	what     string
	def      string // type assumed when `type` is absent; "" makes it required
	variants map[string]*objRule
	// unsupported maps types Azure has and Tandem does not (yet) to the
	// reason given to the user.
	unsupported map[string]string
}

// typed builds a typedRule; each variant gets its `type` key.
func typed(what, def string, variants map[string]*objRule, unsupported map[string]string) *typedRule {
	for t, v := range variants {
		if _, ok := v.lookup("type"); !ok {
			v.fields = append(v.fields, opt("type", enum(t)))
		}
	}
	return &typedRule{what: what, def: def, variants: variants, unsupported: unsupported}
}

func (r *typedRule) want() string { return r.what }

func (r *typedRule) types() []string {
	var ts []string
	for t := range r.variants {
		ts = append(ts, t)
	}
	for t := range r.unsupported {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

func (r *typedRule) check(c *checker, n *node, path string) any {
	return r.checkDropping(c, n, path, nil)
}

// checkDropping checks n with the variant its type picks, leaving out the
// keys in drop; the type Azure assumes is filled in when n has none.
func (r *typedRule) checkDropping(c *checker, n *node, path string, drop map[string]bool) any {
	if n.kind != mapNode {
		c.typeProblem(n, path, r)
		return nil
	}
	typ, tnode, ok := r.pick(c, n, path)
	if !ok {
		return nil
	}
	v := r.variants[typ].checkDropping(c, n, path, drop)
	if m, isMap := v.(map[string]any); isMap && tnode == nil {
		m["type"] = typ
	}
	return v
}

// pick returns the type of mapping n, reporting a missing, unknown or
// unsupported type.
func (r *typedRule) pick(c *checker, n *node, path string) (typ string, tnode *node, ok bool) {
	e := n.get("type")
	if e == nil || e.value.isNull() {
		if r.def == "" {
			c.problem(n, path, "missing required field \"type\" (one of: %s)", strings.Join(r.types(), ", "))
			return "", nil, false
		}
		return r.def, nil, true
	}
	s, isStr := e.value.str()
	if !isStr {
		c.problem(e.value, join(path, "type"), "must be one of: %s, not %s", strings.Join(r.types(), ", "), e.value.describe())
		return "", e.value, false
	}
	s = strings.ToLower(s)
	if msg, bad := r.unsupported[s]; bad {
		c.problem(e.value, join(path, "type"), "%s", msg)
		return "", e.value, false
	}
	if _, known := r.variants[s]; !known {
		c.problem(e.value, join(path, "type"), "%q is not allowed; use one of: %s", s, strings.Join(r.types(), ", "))
		return "", e.value, false
	}
	return s, e.value, true
}
