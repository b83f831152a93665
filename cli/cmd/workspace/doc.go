// Package workspace is `tandem workspace`: the group and its lifecycle verbs
// (create, list, show, update, delete, recover, purge), with their tables.
// The group's other verbs (digest, export, import, ...) live in their own
// packages and are passed in by package cli, so that this package does not
// import them. It imports cmdutil and the root package's types; it must not
// import other cli/cmd packages.
package workspace
