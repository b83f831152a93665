// Package backup exports and imports whole workspaces (the tar archive of
// docs/archive-format.md, secrets re-sealed for a passphrase or a
// recipient key), writes metadata snapshots into a workspace's storage and
// restores a workspace from them (from its own or another storage), and
// computes a workspace's digest, the fingerprint two regions compare.
//
// It may import the root package, the kernel, archive, spec and secrets
// (sealed-value helpers); it must not import a backend, httpapi, cli or
// server.
package backup
