// Package asset is the versioned asset groups `tandem data`, `model`,
// `environment` and `component`: one implementation of create, list,
// show, update, archive, restore and download for all four kinds. It
// imports cmdutil (uploads, documents, verified downloads), spec and the
// root package; it must not import other cli/cmd packages: what jobs share
// with it is in cmdutil.
package asset
