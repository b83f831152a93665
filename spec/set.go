package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// --set overrides: "dotted.path=value", with [N] for list items, applied to
// the document before it is checked, as Azure's CLI does.

// setStep is one step of a --set path: a key or a list index.
type setStep struct {
	key   string
	index int // -1 for a key
}

var setSegment = regexp.MustCompile(`^([^.\[\]]+)((?:\[[0-9]+\])*)$`)

// parseSetPath splits "a.b[0].c" into steps.
func parseSetPath(p string) ([]setStep, error) {
	if p == "" {
		return nil, fmt.Errorf("empty field path")
	}
	var steps []setStep
	for _, seg := range strings.Split(p, ".") {
		m := setSegment.FindStringSubmatch(seg)
		if m == nil {
			return nil, fmt.Errorf("%q is not a valid field path: use dotted keys with [N] for list items", p)
		}
		steps = append(steps, setStep{key: m[1], index: -1})
		for _, ix := range regexp.MustCompile(`[0-9]+`).FindAllString(m[2], -1) {
			i, err := strconv.Atoi(ix)
			if err != nil || i > maxNodes {
				return nil, fmt.Errorf("%q: list index too large", p)
			}
			steps = append(steps, setStep{index: i})
		}
	}
	return steps, nil
}

// applySets applies Options.Set to root and returns the new root. Problems
// go to c.
func (c *checker) applySets(root *node) *node {
	for _, s := range c.opts.Set {
		k, v, ok := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !ok {
			c.problem(nil, "", "--set %q: use key=value", s)
			continue
		}
		steps, err := parseSetPath(k)
		if err != nil {
			c.problem(nil, "", "--set: %v", err)
			continue
		}
		val := c.setValue(v)
		next, err := setIn(root, steps, val)
		if err != nil {
			c.problem(nil, k, "--set: %v", err)
			continue
		}
		root = next
	}
	return root
}

// setValue reads a --set value as a YAML scalar ("3" is a number, "true" a
// boolean), or as a flow list or mapping when it starts with [ or {.
func (c *checker) setValue(v string) *node {
	str := &node{kind: scalarNode, file: c.top, off: -1, size: 1, value: v}
	t := strings.TrimSpace(v)
	if t == "" {
		return str
	}
	f, err := parseSyntax([]byte(t))
	if err != nil || f == nil || len(f.Docs) != 1 || f.Docs[0] == nil || f.Docs[0].Body == nil {
		return str
	}
	r := &yamlReader{file: c.top, anchors: map[string]*node{}}
	n := r.convert(f.Docs[0].Body)
	if len(r.probs) > 0 || (n.kind != scalarNode && !strings.ContainsAny(t[:1], "[{")) {
		return str
	}
	clearPos(n)
	return n
}

// clearPos removes positions from a --set value: they would point into the
// command line, not the file.
func clearPos(n *node) {
	n.pos, n.src, n.off = Pos{}, nil, -1
	for i := range n.entries {
		n.entries[i].keyPos = Pos{}
		clearPos(n.entries[i].value)
	}
	for _, it := range n.items {
		clearPos(it)
	}
}

// setIn returns a copy of n with the value at steps replaced by val,
// creating mappings on the way. Nodes are copied, not changed, because
// aliases share them.
func setIn(n *node, steps []setStep, val *node) (*node, error) {
	if len(steps) == 0 {
		return val, nil
	}
	st := steps[0]
	if st.index >= 0 {
		if n == nil || n.kind != seqNode {
			return nil, fmt.Errorf("[%d] needs a list here", st.index)
		}
		if st.index > len(n.items) {
			return nil, fmt.Errorf("index %d is past the end of the list (%d items)", st.index, len(n.items))
		}
		cp := *n
		cp.items = append([]*node(nil), n.items...)
		var cur *node
		if st.index < len(cp.items) {
			cur = cp.items[st.index]
		}
		v, err := setIn(cur, steps[1:], val)
		if err != nil {
			return nil, err
		}
		if st.index == len(cp.items) {
			cp.items = append(cp.items, v)
		} else {
			cp.items[st.index] = v
		}
		return &cp, nil
	}
	var cp node
	switch {
	case n == nil || n.isNull():
		cp = node{kind: mapNode, off: -1, size: 1}
		if n != nil {
			cp.file, cp.pos = n.file, n.pos
		}
	case n.kind == mapNode:
		cp = *n
		cp.entries = append([]entry(nil), n.entries...)
	default:
		return nil, fmt.Errorf("%q needs a mapping here, not %s", st.key, n.describe())
	}
	for i := range cp.entries {
		if cp.entries[i].key == st.key {
			v, err := setIn(cp.entries[i].value, steps[1:], val)
			if err != nil {
				return nil, err
			}
			cp.entries[i].value = v
			return &cp, nil
		}
	}
	v, err := setIn(nil, steps[1:], val)
	if err != nil {
		return nil, err
	}
	if v.file == "" {
		v.file = cp.file
	}
	cp.entries = append(cp.entries, entry{key: st.key, value: v})
	return &cp, nil
}
