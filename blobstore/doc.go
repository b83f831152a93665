// Package blobstore implements tandem.BlobStore on gocloud.dev/blob: the
// bytes behind resources (notebooks, model files, data, job outputs), each
// recorded with its sha256 and size.
//
// Open takes a URL: file:///abs/dir (the default), azblob://container, or
// mem:// for tests. Instrument wraps any tandem.BlobStore with Prometheus
// metrics; package blobtest opens stores for other packages' tests, and
// package conformance holds the suite every backend passes.
//
// What the package guarantees:
//
//   - Keys are checked once, here: relative, slash-separated, no empty, "."
//     or ".." segment, no backslash, control character or any of "#%?,
//     nothing gocloud would escape, at most 1024 bytes. So a blob lies under
//     exactly its key on every backend and is readable with ordinary tools:
//     the file backend stores key a/b.txt as DIR/a/b.txt, with gocloud's
//     sidecar DIR/a/b.txt.attrs beside it (JSON; it holds the recorded
//     sha256 and size under "user.metadata"). Keys ending in ".attrs" or in
//     ".<16 hex digits>.tmp" are reserved for those sidecars and for the
//     temp files of writes in progress.
//   - Put streams: it never holds a whole blob in memory (except on mem://,
//     which is memory). It commits only bytes that read to the end without
//     error and match the caller's expectation; otherwise the write is
//     aborted and any previous blob stays. The file backend writes a temp
//     file next to the target and renames it; Azure commits a block list.
//   - The sha256 and size are recorded with the blob as metadata. On Azure
//     they are committed with the blob. On the file backend, when the caller
//     did not give them in advance, they are written to the sidecar just
//     after the rename; Stat computes them from the bytes of any blob that
//     lacks them (one written by another tool, or one caught by a crash in
//     that instant).
//   - List returns keys in byte order and reads each blob's recorded ref.
//   - Hashing is the root package's (verify.go): Put, OpenVerified and Stat
//     read through tandem.VerifyReader or tandem.HashReader. A copy from a
//     blob into a store is tandem.CopyBlob, never Open and Put by hand.
//
// Known limits: the file backend cannot hold both a/b and a/b/c (Put
// returns EConflict); it serialises its commits within one process, but two
// processes writing one key at once may leave one's bytes with the other's
// digest, which OpenVerified then reports as ECorrupt. Deleting leaves empty
// directories behind.
//
// What it must not do: know about workspaces, resources or any other
// domain notion. Callers choose the keys (see the storage layout in
// DESIGN.md); this package only checks that they are well formed.
package blobstore
