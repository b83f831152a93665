// Package jobs runs command jobs from Azure ML CLI v2 documents: it records
// them (one change per status change), runs them on the built-in local
// compute (package compute) or hands them to agents of a cluster, serves
// their logs and files, resolves their inputs (data, models, datastore
// URIs, earlier jobs' outputs) and registers their named outputs as asset
// versions. It owns computes and the region's core quota, the
// content-addressed code store, job tokens, and what happens to jobs at a
// failover (interrupted in the old primary, resubmitted in the new one;
// runs of a demoted region stopped).
//
// It may import the root package, the kernel (region), spec, compute and
// assets (asset helpers). Pipelines reach it through the Pipelines
// interface (package pipelines implements it); failover calls
// RecoverFailoverJobs and StopDemotedJobs through hooks app connects. It
// must not import a backend, httpapi, cli or server.
package jobs
