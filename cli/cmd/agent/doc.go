// Package agent is `tandem agent`: it checks the cluster and runs the agent
// package's Agent (imported as tandemagent) in this process until it is
// stopped. It imports cmdutil, the agent package and the root package; it
// must not import other cli/cmd packages, server or region.
package agent
