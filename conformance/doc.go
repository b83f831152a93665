// Package conformance holds the exported test suites every backend of an
// interface must pass. A backend's tests call the suite with a function
// that opens a fresh instance; the suite names its subtests for the cases
// it checks.
//
// It must not depend on any backend: only on package tandem and the
// standard library, so that every backend can import it from its tests.
package conformance
