// Package cli is the tandem command tree. Run and Main build the tree from
// the command packages, one per command group under cli/cmd/<noun> (each
// exposes NewCmd<Noun>(*cmdutil.Factory)), run it, and turn the error of a
// run into one line on stderr and an exit status through cmdutil's table.
// Code the groups share (connection settings and config.json, output
// formats, progress bars, uploads) is in cli/cmdutil. The end-to-end tests
// that drive the whole tree against servers in the test process live here.
//
// The commands hold no business rules: validation, permissions and state
// changes belong to the server. Everything a run needs from the outside
// world (arguments, standard streams, environment, working directory) is
// passed in, so tests can run commands side by side; nothing here calls
// os.Exit or keeps state between runs.
package cli
