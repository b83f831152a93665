// Package failover moves the primary role of a pair between its regions:
// planned failover (no acknowledged write lost), forced failover, failback,
// fencing, the epoch announcer, the demotion of a returning old primary
// with its unreplicated entries set aside as a divergence, and the re-apply
// or discard of a divergence. It keeps each pair's failover history.
//
// It may import the root package, the kernel and replication (to decode and
// apply log entries). What a promotion or demotion means for jobs is the
// job service's: it is told through OnPromoted and OnDemoted, which app
// connects. It must not import jobs, a backend, httpapi, cli or server.
package failover
