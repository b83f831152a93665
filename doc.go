// Package tandem holds Tandem's vocabulary and the interfaces the rest of the
// program implements: workspaces, resources, the change log, blobs, tokens and
// the error type shared by every layer.
//
// It imports none of Tandem's own packages. Adapters (sqlstore, blobstore,
// httpapi, ...) depend on it; business rules live in package region, above
// the adapters, so that each rule is written once.
package tandem
