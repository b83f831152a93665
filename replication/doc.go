// Package replication holds both sides of the replication protocol. The
// source side (Source, source.go) is what a region serves its peers: the
// change feed of a paired workspace (a long poll woken when a change
// commits), the blobs its entries reference (one by one, or inline in
// batches) and the latest snapshot of a hot/cold pair. The pulling side
// (Manager, replicator.go, apply.go, hothot.go, cold.go) pulls a paired
// workspace's change log from its primary region and applies it in this
// region: the change-feed puller, the blob copier and the idempotent
// applier, with lag figures.
//
// The applier writes each batch, with the entries themselves (keeping the
// primary's seq numbers), in one transaction: the local log is both the
// mirror of the primary's and the checkpoint, so a crash at any point
// neither loses nor duplicates a change. Blobs are copied (sha256-verified)
// before the batch that references them is applied.
//
// It may import the root package and the kernel (region). It must not
// decide who is primary (the kernel's pair and package failover do) nor
// speak HTTP (it calls peers through tandem.PeerClient).
package replication
