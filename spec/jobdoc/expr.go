package jobdoc

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ExprKind says what an expression refers to.
type ExprKind int

// The expressions of commands and step bindings.
const (
	ExprOther            ExprKind = iota // anything else, kept as written
	ExprInput                            // ${{inputs.NAME}}, in a command
	ExprOutput                           // ${{outputs.NAME}}, in a command
	ExprParentInput                      // ${{parent.inputs.NAME}}, in a step binding
	ExprParentOutput                     // ${{parent.outputs.NAME}}, in a step binding
	ExprStepOutput                       // ${{parent.jobs.STEP.outputs.NAME}}, in a step binding
	ExprName                             // ${{name}}: the pipeline job's name, in an output path
	ExprDefaultDatastore                 // ${{default_datastore}}: the datastore outputs go to, in an output path
)

// Expr is one ${{...}} expression.
type Expr struct {
	Kind ExprKind
	Step string // the step of an ExprStepOutput
	Name string // the input or output named
	Text string // as written, spaces and all: "${{ parent.inputs.x }}"
}

// String writes the expression in its canonical form; Text for
// ExprOther.
func (e Expr) String() string {
	switch e.Kind {
	case ExprInput:
		return "${{inputs." + e.Name + "}}"
	case ExprOutput:
		return "${{outputs." + e.Name + "}}"
	case ExprParentInput:
		return "${{parent.inputs." + e.Name + "}}"
	case ExprParentOutput:
		return "${{parent.outputs." + e.Name + "}}"
	case ExprStepOutput:
		return "${{parent.jobs." + e.Step + ".outputs." + e.Name + "}}"
	case ExprName:
		return "${{name}}"
	case ExprDefaultDatastore:
		return "${{default_datastore}}"
	}
	return e.Text
}

// exprRe matches one ${{...}} expression, as spec's does.
var exprRe = regexp.MustCompile(`\$\{\{([^}]*)\}\}`)

var exprName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// readExpr reads the inside of ${{...}}.
func readExpr(inside, text string) Expr {
	e := Expr{Text: text}
	p := strings.Split(strings.TrimSpace(inside), ".")
	for _, s := range p {
		if !exprName.MatchString(s) {
			return e
		}
	}
	switch {
	case len(p) == 1 && p[0] == "name":
		e.Kind = ExprName
	case len(p) == 1 && p[0] == "default_datastore":
		e.Kind = ExprDefaultDatastore
	case len(p) == 2 && p[0] == "inputs":
		e.Kind, e.Name = ExprInput, p[1]
	case len(p) == 2 && p[0] == "outputs":
		e.Kind, e.Name = ExprOutput, p[1]
	case len(p) == 3 && p[0] == "parent" && p[1] == "inputs":
		e.Kind, e.Name = ExprParentInput, p[2]
	case len(p) == 3 && p[0] == "parent" && p[1] == "outputs":
		e.Kind, e.Name = ExprParentOutput, p[2]
	case len(p) == 5 && p[0] == "parent" && p[1] == "jobs" && p[3] == "outputs":
		e.Kind, e.Step, e.Name = ExprStepOutput, p[2], p[4]
	}
	return e
}

// ParseExpr reads s as one whole expression (spaces around it are
// ignored): "${{parent.jobs.train.outputs.model}}" is one, "x ${{name}}"
// and "${{bogus}}" are not.
func ParseExpr(s string) (Expr, bool) {
	s = strings.TrimSpace(s)
	m := exprRe.FindStringSubmatchIndex(s)
	if m == nil || m[0] != 0 || m[1] != len(s) {
		return Expr{}, false
	}
	e := readExpr(s[m[2]:m[3]], s)
	return e, e.Kind != ExprOther
}

// Exprs returns every expression in s, in order (ExprOther for those of
// no known kind).
func Exprs(s string) []Expr {
	var out []Expr
	for _, m := range exprRe.FindAllStringSubmatch(s, -1) {
		out = append(out, readExpr(m[1], m[0]))
	}
	return out
}

// ReplaceExprs returns s with each expression fn gives a replacement for
// (ok) replaced; the others stay as written.
func ReplaceExprs(s string, fn func(e Expr) (repl string, ok bool)) string {
	return exprRe.ReplaceAllStringFunc(s, func(text string) string {
		m := exprRe.FindStringSubmatch(text)
		if r, ok := fn(readExpr(m[1], text)); ok {
			return r
		}
		return text
	})
}

// FormatLiteral writes a literal input value as it goes into a command or
// an environment variable: strings as they are, numbers without exponent
// or trailing zeros (1e-3 is 0.001, 20.0 is 20), true and false.
func FormatLiteral(v any) string {
	switch x := normalizeValue(v).(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// ComputeName is the compute a compute field names: azureml:NAME is NAME.
func ComputeName(s string) string { return strings.TrimPrefix(s, "azureml:") }

var (
	commandInputRE = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_.-]+)\s*\}\}`)
	optionalPartRE = regexp.MustCompile(`\$\[\[(.*?)\]\]`)
)

// UndefinedInputError is a command's ${{inputs.NAME}} for an input with no
// value.
type UndefinedInputError struct{ Name string }

func (e *UndefinedInputError) Error() string {
	return fmt.Sprintf("command refers to undefined input %q", e.Name)
}

// SubstituteInputs returns command with each ${{inputs.x}} replaced by
// the input's CommandValue (a data input's expression stays, for the run
// to replace with its local path), and each optional part $[[...]] kept
// (without its brackets) when every input it names has a value, dropped
// otherwise. An expression naming an input without a value is an
// *UndefinedInputError.
func SubstituteInputs(command string, inputs map[string]*Input) (string, error) {
	values := map[string]string{}
	for name, in := range inputs {
		if v, ok := in.CommandValue(name); ok {
			values[name] = v
		}
	}
	command = optionalPartRE.ReplaceAllStringFunc(command, func(m string) string {
		inner := optionalPartRE.FindStringSubmatch(m)[1]
		for _, ref := range commandInputRE.FindAllStringSubmatch(inner, -1) {
			if _, ok := values[ref[1]]; !ok {
				return ""
			}
		}
		return inner
	})
	var missing []string
	command = commandInputRE.ReplaceAllStringFunc(command, func(m string) string {
		name := commandInputRE.FindStringSubmatch(m)[1]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", &UndefinedInputError{Name: missing[0]}
	}
	return command, nil
}
