package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// Pos is a position in a file: 1-based line and column. The zero Pos means
// the position is unknown (a value given with --set, say).
type Pos struct{ Line, Col int }

// Known reports whether p is a real position.
func (p Pos) Known() bool { return p.Line > 0 }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Problem is one thing wrong with a document. Field is the dotted path of the
// field it is about ("" for the document as a whole).
type Problem struct {
	File    string
	Pos     Pos
	Field   string
	Message string
}

// Error reads "FILE:LINE:COL: field: message", without LINE:COL when the
// position is unknown and without "field: " when Field is empty.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Pos.Known() {
		fmt.Fprintf(&b, ":%d:%d", p.Pos.Line, p.Pos.Col)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is an error holding every problem found in a document, in file
// order. Load and Parse return it for any invalid input.
type Problems []Problem

// Error lists the problems, one per line.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, pr := range p {
		lines[i] = pr.Error()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As see Problems as a *tandem.Error with code EInvalid, so
// that the API answers 400 and the CLI exits with the status for invalid
// input without knowing this type.
func (p Problems) As(target any) bool {
	t, ok := target.(**tandem.Error)
	if !ok {
		return false
	}
	*t = &tandem.Error{Code: tandem.EInvalid, Message: p.Error()}
	return true
}

// AsProblems returns the Problems in err's chain, if any.
func AsProblems(err error) (Problems, bool) {
	var p Problems
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}

// sortProblems orders problems by file (the document first, then included
// files in the order their problems were found) and
// then by position, and drops exact duplicates (a shared YAML anchor can make
// the same node fail twice).
func sortProblems(ps Problems, top string) Problems {
	order := map[string]int{top: 0}
	for _, p := range ps {
		if _, ok := order[p.File]; !ok {
			order[p.File] = len(order)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return order[a.File] < order[b.File]
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
	out := ps[:0]
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
