// Package replication pulls a paired workspace's change log from its
// primary region and applies it in this region: the change-feed puller,
// the blob copier and the idempotent applier, with lag figures.
//
// The applier writes each batch, with the entries themselves (keeping the
// primary's seq numbers), in one transaction: the local log is both the
// mirror of the primary's and the checkpoint, so a crash at any point
// neither loses nor duplicates a change. Blobs are copied (sha256-verified)
// before the batch that references them is applied.
//
// This package must not decide who is primary (package region does) nor
// speak HTTP (it calls peers through tandem.PeerClient).
package replication
