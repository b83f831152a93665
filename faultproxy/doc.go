// Package faultproxy is a TCP proxy that injects network faults between two
// processes on loopback: added latency, limited bandwidth, dropped
// connections, connection resets and a full cut of the link. Tests put it
// between two regions (or between a client and a region) and change its
// faults while traffic flows, to check that replication, failover and
// clients survive a bad network with nothing lost.
//
// It is for tests and benchmarks only. It is not a production proxy: it
// trusts both ends, listens on loopback by default, buffers data in memory
// to model latency, and its faults are global to the proxy, not per
// connection.
//
// The faults are live controls, safe to call from any goroutine at any time:
//
//   - SetDelay adds latency to every chunk of data, in each direction; a
//     change applies to data already held, so lowering the delay releases
//     it.
//   - SetBandwidth limits each direction of the link (all connections
//     share it) to a number of bytes per second; 0 is unlimited.
//   - SetDropRate makes each new connection, with that probability, be
//     accepted and then closed without ever reaching the target.
//   - ResetAll aborts every open connection with a TCP RST on both sides
//     (SO_LINGER 0), as a crashed middlebox would.
//   - Cut severs every open connection with a RST and resets every new one
//     at once until Restore.
//
// Stats counts connections and the bytes delivered each way.
//
// What it must not do: import Tandem's packages (it is protocol-agnostic and
// knows nothing of HTTP or of the replication protocol), or be used outside
// tests and benchmarks.
package faultproxy
