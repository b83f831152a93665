// Package secret is `tandem secret`: the secrets of a workspace's vault.
// Only `secret get` prints a value. It imports cmdutil and the root
// package; it must not import other cli/cmd packages or the vault package:
// encryption happens in the server.
package secret
