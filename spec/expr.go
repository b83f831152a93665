package spec

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Expressions: ${{inputs.x}} and ${{outputs.y}} in commands, and
// ${{parent.inputs.x}}, ${{parent.outputs.y}} and ${{parent.jobs.a.outputs.b}}
// in the bindings of pipeline steps.

var exprRe = regexp.MustCompile(`\$\{\{([^}]*)\}\}`)

// hasExpr reports whether s holds an expression.
func hasExpr(s string) bool { return strings.Contains(s, "${{") }

// names returns the keys of a normalized mapping as a set.
func names(v any) map[string]bool {
	m, _ := v.(map[string]any)
	set := make(map[string]bool, len(m))
	for k := range m {
		set[k] = true
	}
	return set
}

func sortedNames(set map[string]bool) string {
	var l []string
	for k := range set {
		l = append(l, k)
	}
	if len(l) == 0 {
		return "none"
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// exprPos finds where expr is written in the source of n, so that a problem
// points at the expression rather than at the start of a long command. It
// falls back to n's own position.
func exprPos(n *node, expr string) Pos {
	if n.src == nil || !n.pos.Known() {
		return n.pos
	}
	start, line := 0, 1
	for line < n.pos.Line {
		i := bytes.IndexByte(n.src[start:], '\n')
		if i < 0 {
			return n.pos
		}
		start += i + 1
		line++
	}
	i := bytes.Index(n.src[start:], []byte(expr))
	if i < 0 {
		return n.pos
	}
	before := n.src[start : start+i]
	nl := bytes.Count(before, []byte("\n"))
	if nl > 0 {
		before = before[bytes.LastIndexByte(before, '\n')+1:]
	}
	return Pos{Line: line + nl, Col: utf8.RuneCount(before) + 1}
}

// eachExpr calls fn with every expression in s (its trimmed inside and its
// whole text) and reports a "${{" that is never closed.
func (c *checker) eachExpr(n *node, field, s string, fn func(inside, whole string)) {
	for _, m := range exprRe.FindAllStringSubmatch(s, -1) {
		fn(strings.TrimSpace(m[1]), m[0])
	}
	if strings.Count(s, "${{") > len(exprRe.FindAllString(s, -1)) {
		c.problemAt(n.file, exprPos(n, "${{"), field, "an expression is not closed: write ${{inputs.NAME}}")
	}
}

// checkCommand checks the expressions of a command (or of Spark's args)
// against the inputs and outputs declared next to it.
func (c *checker) checkCommand(n *node, field string, inputs, outputs map[string]bool) {
	s, ok := n.str()
	if !ok {
		return
	}
	c.eachExpr(n, field, s, func(inside, whole string) {
		parts := strings.Split(inside, ".")
		pos := exprPos(n, whole)
		switch {
		case len(parts) == 2 && parts[0] == "inputs":
			if !inputs[parts[1]] {
				c.problemAt(n.file, pos, field, "%s refers to an undeclared input %q (declared: %s)", whole, parts[1], sortedNames(inputs))
			}
		case len(parts) == 2 && parts[0] == "outputs":
			if !outputs[parts[1]] {
				c.problemAt(n.file, pos, field, "%s refers to an undeclared output %q (declared: %s)", whole, parts[1], sortedNames(outputs))
			}
		default:
			c.problemAt(n.file, pos, field, "unknown expression %s: a command can use ${{inputs.NAME}} and ${{outputs.NAME}}", whole)
		}
	})
}

// pipelineScope is what the bindings of a pipeline's steps can refer to.
type pipelineScope struct {
	inputs, outputs map[string]bool
	// steps maps each step to its outputs; a nil set means the outputs are
	// not known here (a registered component).
	steps map[string]map[string]bool
}

// checkBinding checks the expressions in a binding value of step `from`
// and returns the steps it depends on.
func (c *checker) checkBinding(n *node, field, s string, sc pipelineScope, from string) (deps []string) {
	c.eachExpr(n, field, s, func(inside, whole string) {
		parts := strings.Split(inside, ".")
		pos := exprPos(n, whole)
		bad := func(format string, args ...any) {
			c.problemAt(n.file, pos, field, "%s: %s", whole, fmt.Sprintf(format, args...))
		}
		switch {
		case inside == "name", inside == "default_datastore":
		case len(parts) == 3 && parts[0] == "parent" && parts[1] == "inputs":
			if !sc.inputs[parts[2]] {
				bad("the pipeline has no input %q (inputs: %s)", parts[2], sortedNames(sc.inputs))
			}
		case len(parts) == 3 && parts[0] == "parent" && parts[1] == "outputs":
			if !sc.outputs[parts[2]] {
				bad("the pipeline has no output %q (outputs: %s)", parts[2], sortedNames(sc.outputs))
			}
		case len(parts) == 5 && parts[0] == "parent" && parts[1] == "jobs" && parts[3] == "outputs":
			outs, ok := sc.steps[parts[2]]
			switch {
			case !ok:
				bad("the pipeline has no step %q (steps: %s)", parts[2], sortedNames(stepNames(sc.steps)))
			case parts[2] == from:
				bad("a step cannot take its own output")
			case outs != nil && !outs[parts[4]]:
				bad("step %q has no output %q (outputs: %s)", parts[2], parts[4], sortedNames(outs))
			default:
				deps = append(deps, parts[2])
			}
		default:
			bad("unknown expression: a step binding can use ${{parent.inputs.NAME}}, ${{parent.outputs.NAME}} and ${{parent.jobs.STEP.outputs.NAME}}")
		}
	})
	return deps
}

func stepNames(steps map[string]map[string]bool) map[string]bool {
	set := make(map[string]bool, len(steps))
	for k := range steps {
		set[k] = true
	}
	return set
}
