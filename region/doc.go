// Package region holds the business rules of one region: workspace
// lifecycle (create, soft delete, recover, purge), tokens and permissions,
// and the notebook file share. It implements the services of package tandem
// on top of a tandem.Store and a tandem.BlobStore.
//
// Every rule lives here once, so the SQLite and PostgreSQL backends never
// each carry a copy. This package must not speak HTTP, parse flags or know
// which database or storage backend it runs on.
package region
