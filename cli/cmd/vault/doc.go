// Package vault is `tandem vault`: rotation of the region's vault keys,
// which the server performs. It imports cmdutil and the root package; it
// must not import the vault package or other cli/cmd packages.
package vault
