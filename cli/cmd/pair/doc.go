// Package pair is `tandem region` (the peer regions a region replicates
// with) and `tandem pair`: pairing, replication status, failover and
// failback, history, conflicts and divergences. It imports cmdutil,
// httpapi's client (to find a secondary among the endpoints) and the root
// package; it must not import other cli/cmd packages, replication or
// region: the servers do the work.
package pair
