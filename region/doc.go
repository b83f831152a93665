// Package region is the kernel of one region: what every service of the
// region builds on, once.
//
// It owns workspaces (create, soft delete, recover, purge after their
// retention), tokens and access checks, the notebook file share, peers and
// pairs with the writable check of invariant 3 (CheckWritable, and again
// inside every write in LogChange), staging of uploaded files, asset locks,
// pending writes that span storage and metadata, and the change log:
// LogChange appends the one entry of a write (invariant 1). Loops is the
// lifecycle helper the services start and stop their loops with.
//
// The domain services (assets, secrets, jobs, pipelines, tracking,
// failover, backup, and the replication feed) embed *Region and use its
// exported helpers; package app wires them. This package imports only the
// root package: it must not know any service, speak HTTP, parse flags or
// know which database or storage backend it runs on.
package region
