// Package datastore is `tandem datastore`: datastores created from Azure ML
// YAML, whose credentials the server keeps in the workspace vault. It
// imports cmdutil, spec and the root package; it must not import other
// cli/cmd packages.
package datastore
