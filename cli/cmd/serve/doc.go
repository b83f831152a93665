// Package serve is the commands that run region servers in this process:
// `tandem server` and `tandem up` (one local region, or two paired ones,
// with a workspace and a config.json). They share the code that opens and
// closes a server. It is the only command package that may import server
// and region (for the server's flag defaults); it imports cmdutil and
// httpapi's client too, and must not import other cli/cmd packages.
package serve
