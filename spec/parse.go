package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// nodeKind is the shape of a YAML node after anchors, aliases, merge keys
// and tags have been resolved.
type nodeKind int

const (
	scalarNode nodeKind = iota
	mapNode
	seqNode
)

// node is one YAML value with the file and position it came from. Scalars
// hold string, int64, float64, bool or nil. Nodes may be shared (aliases
// point to the anchored node), so they are never changed after parsing,
// except by --set, which replaces whole entries.
type node struct {
	kind    nodeKind
	file    string
	pos     Pos
	off     int // byte offset in src of the node's first token, -1 when unknown
	src     []byte
	value   any    // scalars
	text    string // a scalar's source text (1.10 for the float 1.1)
	entries []entry
	items   []*node
	size    int // number of nodes under this one, counting aliases in full
}

// entry is one key of a mapping.
type entry struct {
	key    string
	keyPos Pos
	value  *node
}

// get returns the entry for key, or nil.
func (n *node) get(key string) *entry {
	if n == nil || n.kind != mapNode {
		return nil
	}
	for i := range n.entries {
		if n.entries[i].key == key {
			return &n.entries[i]
		}
	}
	return nil
}

// str returns the node's value when it is a string scalar.
func (n *node) str() (string, bool) {
	if n == nil || n.kind != scalarNode {
		return "", false
	}
	s, ok := n.value.(string)
	return s, ok
}

// isNull reports whether n is absent or an explicit null.
func (n *node) isNull() bool { return n == nil || (n.kind == scalarNode && n.value == nil) }

// describe names the node's YAML type for error messages.
func (n *node) describe() string {
	switch {
	case n == nil:
		return "nothing"
	case n.kind == mapNode:
		return "a mapping"
	case n.kind == seqNode:
		return "a list"
	}
	switch n.value.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	}
	return "a value"
}

// Limits that keep hostile input from exhausting memory or time.
const (
	maxNodes = 200_000 // nodes in a document, counting alias expansions
	maxDepth = 200     // nesting of mappings and lists
)

// yamlReader turns goccy/go-yaml's syntax tree into nodes.
type yamlReader struct {
	file    string
	src     []byte
	anchors map[string]*node
	probs   Problems
	depth   int
}

// parseYAML parses one YAML document. A file with no document, or with more
// than one, is a problem; so is a root that is not a mapping.
func parseYAML(data []byte, file string) (root *node, probs Problems) {
	if !utf8.Valid(data) {
		return nil, Problems{{File: file, Message: "the file is not valid UTF-8 text"}}
	}
	f, err := parseSyntax(data)
	if err != nil {
		return nil, Problems{syntaxProblem(file, err)}
	}
	r := &yamlReader{file: file, src: data, anchors: map[string]*node{}}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, Problems{{File: file, Message: "the file holds no YAML document"}}
	}
	if len(docs) > 1 {
		second := (&yamlReader{file: file, anchors: map[string]*node{}}).convert(docs[1].Body)
		return nil, Problems{{File: file, Pos: second.pos,
			Message: "the file holds more than one YAML document; put each in its own file"}}
	}
	root = r.convert(docs[0].Body)
	if len(r.probs) > 0 {
		return nil, r.probs
	}
	if root.kind != mapNode {
		return nil, Problems{{File: file, Pos: root.pos,
			Message: fmt.Sprintf("the document must be a mapping of fields, not %s", root.describe())}}
	}
	return root, nil
}

// parseSyntax runs the YAML parser. It is a third-party parser fed with
// untrusted input, so a panic inside it is turned into an error rather than
// taking down a server that validates a request.
func parseSyntax(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this input: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

// syntaxProblem turns a parser error into a Problem at its position.
func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Message: "malformed YAML: " + err.Error()}
	if se, ok := err.(interface {
		GetMessage() string
		GetToken() *token.Token
	}); ok {
		p.Message = "malformed YAML: " + se.GetMessage()
		p.Pos = tokenPos(se.GetToken())
	}
	return p
}

func tokenPos(t *token.Token) Pos {
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{Line: t.Position.Line, Col: t.Position.Column}
}

func (r *yamlReader) problem(pos Pos, format string, args ...any) {
	r.probs = append(r.probs, Problem{File: r.file, Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// newNode returns a node positioned at n's token.
func (r *yamlReader) newNode(kind nodeKind, n ast.Node) *node {
	nd := &node{kind: kind, file: r.file, src: r.src, off: -1, size: 1}
	if t := n.GetToken(); t != nil && t.Position != nil {
		nd.pos = tokenPos(t)
		nd.off = t.Position.Offset
	}
	return nd
}

// tooBig records that the document exceeds maxNodes, once.
func (r *yamlReader) tooBig(pos Pos) *node {
	if len(r.probs) == 0 || !strings.Contains(r.probs[len(r.probs)-1].Message, "too large") {
		r.problem(pos, "the document is too large (more than %d values, counting aliases)", maxNodes)
	}
	return &node{kind: scalarNode, file: r.file, pos: pos, off: -1}
}

// convert turns an AST node into a node.
func (r *yamlReader) convert(n ast.Node) *node {
	if n == nil {
		return &node{kind: scalarNode, file: r.file, off: -1, size: 1}
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxDepth {
		r.problem(tokenPos(n.GetToken()), "values are nested more than %d levels deep", maxDepth)
		return &node{kind: scalarNode, file: r.file, off: -1, size: 1}
	}
	switch v := n.(type) {
	case *ast.MappingNode:
		return r.mapping(n, v.Values)
	case *ast.MappingValueNode:
		return r.mapping(n, []*ast.MappingValueNode{v})
	case *ast.SequenceNode:
		nd := r.newNode(seqNode, n)
		for _, it := range v.Values {
			c := r.convert(it)
			nd.items = append(nd.items, c)
			nd.size += c.size
			if nd.size > maxNodes {
				return r.tooBig(nd.pos)
			}
		}
		return nd
	case *ast.AnchorNode:
		c := r.convert(v.Value)
		if v.Name != nil {
			r.anchors[v.Name.GetToken().Value] = c
		}
		return c
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		c, ok := r.anchors[name]
		if !ok {
			r.problem(tokenPos(v.GetToken()), "alias *%s refers to no anchor defined before it", name)
			return &node{kind: scalarNode, file: r.file, pos: tokenPos(v.GetToken()), off: -1, size: 1}
		}
		return c
	case *ast.TagNode:
		return r.tagged(v)
	case *ast.DocumentNode:
		return r.convert(v.Body)
	case *ast.CommentGroupNode, *ast.CommentNode:
		return &node{kind: scalarNode, file: r.file, off: -1, size: 1}
	}
	nd := r.newNode(scalarNode, n)
	nd.value = r.scalar(n)
	if t := n.GetToken(); t != nil {
		nd.text = t.Value
	}
	return nd
}

// sourceText is how a scalar was written: numbers keep their spelling
// (version 1.10 is not version 1.1), other values their text form.
func (n *node) sourceText() string {
	switch n.value.(type) {
	case int64, float64:
		if n.text != "" {
			return n.text
		}
	}
	return scalarText(n.value)
}

// scalar returns the value of a scalar node.
func (r *yamlReader) scalar(n ast.Node) any {
	switch v := n.(type) {
	case *ast.NullNode:
		return nil
	case *ast.BoolNode:
		return v.Value
	case *ast.IntegerNode:
		switch i := v.Value.(type) {
		case int64:
			return i
		case uint64:
			if i <= math.MaxInt64 {
				return int64(i)
			}
			return float64(i)
		}
		return v.GetToken().Value
	case *ast.FloatNode:
		return v.Value
	case *ast.InfinityNode:
		return v.Value
	case *ast.NanNode:
		return math.NaN()
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		if v.Value == nil {
			return ""
		}
		return v.Value.Value
	case *ast.MergeKeyNode:
		return "<<"
	}
	if t := n.GetToken(); t != nil {
		return t.Value
	}
	return nil
}

// tagged resolves the standard tags; other tags are problems.
func (r *yamlReader) tagged(v *ast.TagNode) *node {
	tag := v.Start.Value
	c := r.convert(v.Value)
	switch tag {
	case "!!str":
		if c.kind == scalarNode {
			s := *c
			s.value = scalarText(c.value)
			if v.Value != nil {
				if t := v.Value.GetToken(); t != nil && c.value != nil {
					s.value = t.Value
				}
			}
			return &s
		}
	case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!omap", "!!binary", "!!timestamp":
		return c
	}
	if tag == "!!str" {
		r.problem(tokenPos(v.Start), "tag !!str needs a scalar value")
		return c
	}
	r.problem(tokenPos(v.Start), "unsupported YAML tag %s", tag)
	return c
}

// scalarText is the text form of a scalar value.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// mapping converts the key/value pairs of a mapping, resolving merge keys
// (`<<: *anchor`) and reporting duplicate keys.
func (r *yamlReader) mapping(n ast.Node, values []*ast.MappingValueNode) *node {
	nd := r.newNode(mapNode, n)
	if len(values) > 0 && values[0].Key != nil {
		if t := values[0].Key.GetToken(); t != nil && t.Position != nil {
			nd.pos = tokenPos(t)
			nd.off = t.Position.Offset
		}
	}
	seen := map[string]Pos{}
	var merged []entry
	for _, mv := range values {
		if mv == nil {
			continue
		}
		val := r.convert(mv.Value)
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok || isMergeKey(mv.Key) {
			merged = append(merged, r.mergeEntries(val)...)
			continue
		}
		key, keyPos, ok := r.key(mv.Key)
		if !ok {
			continue
		}
		if first, dup := seen[key]; dup {
			r.problem(keyPos, "duplicate key %q (first at line %d)", key, first.Line)
			continue
		}
		seen[key] = keyPos
		nd.entries = append(nd.entries, entry{key: key, keyPos: keyPos, value: val})
		nd.size += val.size
		if nd.size > maxNodes {
			return r.tooBig(nd.pos)
		}
	}
	for _, e := range merged {
		if _, dup := seen[e.key]; !dup {
			seen[e.key] = e.keyPos
			nd.entries = append(nd.entries, e)
			nd.size += e.value.size
			if nd.size > maxNodes {
				return r.tooBig(nd.pos)
			}
		}
	}
	return nd
}

func isMergeKey(k ast.MapKeyNode) bool {
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		return mk.IsMergeKey()
	}
	return false
}

// mergeEntries returns the entries a merge key brings in: those of a
// mapping, or of each mapping in a list (earlier ones win).
func (r *yamlReader) mergeEntries(val *node) []entry {
	switch val.kind {
	case mapNode:
		return val.entries
	case seqNode:
		var out []entry
		have := map[string]bool{}
		for _, it := range val.items {
			if it.kind != mapNode {
				r.problem(it.pos, "a merge key (<<) takes mappings, not %s", it.describe())
				continue
			}
			for _, e := range it.entries {
				if !have[e.key] {
					have[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	r.problem(val.pos, "a merge key (<<) takes a mapping, not %s", val.describe())
	return nil
}

// key returns a mapping key's text. Keys must be scalars.
func (r *yamlReader) key(k ast.MapKeyNode) (string, Pos, bool) {
	if k == nil {
		return "", Pos{}, false
	}
	var kn ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		kn = mk.Value
	}
	pos := tokenPos(k.GetToken())
	c := r.convert(kn)
	if c.kind != scalarNode {
		r.problem(pos, "a key must be a plain value, not %s", c.describe())
		return "", pos, false
	}
	if c.value == nil {
		if t := kn.GetToken(); t != nil {
			return t.Value, pos, true
		}
		return "", pos, true
	}
	if s, ok := c.value.(string); ok {
		return s, pos, true
	}
	if t := kn.GetToken(); t != nil {
		return t.Value, pos, true
	}
	return scalarText(c.value), pos, true
}
