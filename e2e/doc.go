// Package e2e runs Tandem as real processes for end-to-end tests: it builds
// the tandem binary once per test binary, starts `tandem server` regions on
// loopback, kills them with SIGKILL or stops them with SIGTERM, restarts
// them on the same data and port, and runs the CLI against them.
//
// A typical multi-region test:
//
//	bin := e2e.Build(t)
//	east := e2e.StartRegion(t, bin, e2e.RegionOptions{Name: "eastus"})
//	west := e2e.StartRegion(t, bin, e2e.RegionOptions{Name: "westus"})
//	link := faultproxy.New(west.Addr) // east reaches west through faults
//	...
//	east.MustCLI(t, "workspace", "create", "--name", "mlw")
//	west.Kill()        // kill -9 of the whole process group
//	west.Restart(t)    // same data dir, same port
//
// Every process is stopped when the test ends; a server's stdout and stderr
// go to files beside its data directory and into the test log when the test
// fails, and a data race the race detector reports in a server fails the
// test. With TestMain calling Main, the built binary is removed at exit.
//
// The processes run on Linux (other Unix systems work with weaker
// guarantees on process-group cleanup). The package is for tests only: it
// calls t.Fatal, and its helpers, like those of package testing, must be
// called from the test's goroutine unless their comment says otherwise. It
// must not import Tandem's server, httpapi or cli packages: it drives the
// binary, so that end-to-end tests exercise exactly what users run.
package e2e
