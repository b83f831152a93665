// Package archive is the workspace verbs that move a workspace in and out of
// a region: export and import of archives (docs/archive-format.md), restore
// from the snapshots in storage, snapshot, and archive-key for encrypted
// secrets. It imports cmdutil, httpapi's client and the archive format
// package (for key generation only, as archivefmt); it must not import
// server, region or other cli/cmd packages: the server does the work.
package archive
