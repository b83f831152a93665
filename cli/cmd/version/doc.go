// Package version is `tandem version`: the client's version and, when one
// answers, the server's. It imports cmdutil, httpapi's client and the root
// package; it must not import other cli/cmd packages.
package version
