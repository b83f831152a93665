// Package digest is `tandem workspace digest`: it asks the server for a
// workspace's digest and prints it. It imports cmdutil and the root
// package's types only; it must not import other cli/cmd packages.
package digest
