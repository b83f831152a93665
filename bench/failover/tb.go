package main

import (
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
)

// runner lets this program drive package e2e, whose helpers take a
// testing.TB, outside of a test: it implements the methods e2e calls
// (Helper, Cleanup, TempDir, Log*, Error*, Fatal*, Failed, Name). The
// embedded testing.TB is nil, so a method e2e starts calling later panics
// loudly instead of doing nothing.
//
// A runner may have a parent: each trial has its own runner, whose
// cleanups (stopping that trial's regions) run when the trial ends. Fatal
// and Fatalf run the cleanups of the runner and of its parents, then exit
// the program with status 1.
type runner struct {
	testing.TB

	root   string // temp dirs are made under it
	parent *runner

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	finished bool
}

func newRunner(root string, parent *runner) *runner { return &runner{root: root, parent: parent} }

func (r *runner) Helper()      {}
func (r *runner) Name() string { return "bench/failover" }

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp(r.root, "tmp-")
	if err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	return dir
}

func (r *runner) Log(args ...any)                 { log.Print(args...) }
func (r *runner) Logf(format string, args ...any) { log.Printf(format, args...) }

func (r *runner) Error(args ...any) { r.fail(); log.Print(append([]any{"ERROR: "}, args...)...) }
func (r *runner) Errorf(format string, args ...any) {
	r.fail()
	log.Printf("ERROR: "+format, args...)
}

func (r *runner) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *runner) Fatalf(format string, args ...any) {
	r.fail()
	log.Printf("FATAL: "+format, args...)
	for p := r; p != nil; p = p.parent {
		p.finish()
	}
	os.Exit(1)
}

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *runner) fail() {
	for p := r; p != nil; p = p.parent {
		p.mu.Lock()
		p.failed = true
		p.mu.Unlock()
	}
}

// finish runs the cleanups, last registered first, once.
func (r *runner) finish() {
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
