// Package sqlstore is the region's metadata database: it implements
// tandem.Store on database/sql, with SQLite (modernc.org/sqlite, no cgo) as
// the embedded default and PostgreSQL (pgx) for production. The SQL is
// written once; placeholders are rewritten for PostgreSQL, and only the
// schema migrations that need different column types come in one file per
// dialect.
//
// What it guarantees:
//
//   - Invariant 1: an Update that writes rows of a workspace must append
//     exactly one change-log entry for it, or it is rolled back with an
//     EInternal error. Seq numbers are gapless per workspace.
//   - Writers run one at a time on both backends (a write lock in the
//     process and BEGIN IMMEDIATE on SQLite, a transaction-scoped advisory
//     lock on PostgreSQL), so a read-modify-write inside Update is never
//     lost to a concurrent writer. Views never wait for writers. Keep Update
//     functions short and free of network calls, and never nest them.
//   - Times come back in UTC, truncated to microseconds; write methods
//     normalise the times of their argument in place to what was stored.
//   - Text sorts by bytes on both backends (COLLATE "C" on PostgreSQL).
//   - A NotFound or Conflict error from a Tx method leaves the transaction
//     usable, on PostgreSQL too (the statements check before they write).
//
// What it must not do: carry business rules. Validation of names and
// fields, permissions, soft-delete and retention policy, fencing and
// versioning live in package region, once, above both backends. This
// package stores what it is given and enforces only the integrity of its
// own tables: keys, uniqueness, references and the change log.
package sqlstore
