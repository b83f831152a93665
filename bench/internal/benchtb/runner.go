// Package benchtb lets the benchmark programs under bench/ drive package
// e2e, whose helpers take a testing.TB, outside of a test.
package benchtb

import (
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
)

// Runner lets a program drive package e2e, whose helpers take a
// testing.TB, outside of a test: it implements the methods e2e calls
// (Helper, Cleanup, TempDir, Log*, Error*, Fatal*, Failed, Name). The
// embedded testing.TB is nil, so a method e2e starts calling later panics
// loudly instead of doing nothing.
//
// A Runner may have a parent: bench/failover gives each trial its own
// Runner, whose cleanups (stopping that trial's regions) run when the
// trial ends (Finish). Fatal and Fatalf run the cleanups of the Runner and
// of its parents, then exit the program with status 1; Error and Errorf
// mark the Runner and its parents failed.
type Runner struct {
	testing.TB

	name   string // what Name returns: the program's
	root   string // temp dirs are made under it
	parent *Runner

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	finished bool
}

// New returns a Runner named name (the program's, e.g. "bench/failover")
// making its temp dirs under root, with parent nil or the Runner whose
// failures and fatal exits it shares.
func New(name, root string, parent *Runner) *Runner {
	return &Runner{name: name, root: root, parent: parent}
}

func (r *Runner) Helper()      {}
func (r *Runner) Name() string { return r.name }

func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *Runner) TempDir() string {
	dir, err := os.MkdirTemp(r.root, "tmp-")
	if err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	return dir
}

func (r *Runner) Log(args ...any)                 { log.Print(args...) }
func (r *Runner) Logf(format string, args ...any) { log.Printf(format, args...) }

func (r *Runner) Error(args ...any) { r.fail(); log.Print(append([]any{"ERROR: "}, args...)...) }
func (r *Runner) Errorf(format string, args ...any) {
	r.fail()
	log.Printf("ERROR: "+format, args...)
}

func (r *Runner) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *Runner) Fatalf(format string, args ...any) {
	r.fail()
	log.Printf("FATAL: "+format, args...)
	for p := r; p != nil; p = p.parent {
		p.Finish()
	}
	os.Exit(1)
}

func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *Runner) fail() {
	for p := r; p != nil; p = p.parent {
		p.mu.Lock()
		p.failed = true
		p.mu.Unlock()
	}
}

// Finish runs the cleanups, last registered first, once.
func (r *Runner) Finish() {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return
	}
	r.finished = true
	fns := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
