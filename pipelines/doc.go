// Package pipelines runs pipeline jobs: it records a pipeline and its graph
// of steps, binds each step's inputs and outputs (parent inputs, upstream
// outputs, registered or inline components), and coordinates the run,
// creating each step as a child command job of the job service once its
// upstream steps completed.
//
// Service embeds *jobs.Service and implements jobs.Pipelines. It may import
// the root package, the kernel, spec, jobs and assets; it must not import a
// backend, httpapi, cli or server.
package pipelines
