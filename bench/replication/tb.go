package main

import "github.com/tandemml/tandem/bench/internal/benchtb"

// runner drives package e2e outside of a test (see benchtb.Runner).
type runner = benchtb.Runner

func newRunner(root string) *runner { return benchtb.New("bench/replication", root, nil) }
