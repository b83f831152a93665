// Package token is `tandem token`: create, list and revoke API tokens. It
// imports cmdutil and the root package's types only; it must not import
// other cli/cmd packages.
package token
