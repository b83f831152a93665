// Package compute is `tandem compute`: compute records and amlcompute
// clusters, their scale settings and the region's core quota. It imports
// cmdutil, spec and the root package; it must not import other cli/cmd
// packages or the compute package that runs jobs.
package compute
