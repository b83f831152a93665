// Package cli is the tandem command tree: the region server and `tandem up`,
// and the client verbs (workspace, notebook, token, version) that talk to a
// server through httpapi.Client, programmed against the root package's
// service interfaces.
//
// It also finds connection settings (flags, then TANDEM_* variables, then a
// config.json found the way Azure ML finds it), renders output as a table,
// JSON or YAML, and turns error codes into exit statuses through one table.
//
// It holds no business rules: validation, permissions and state changes
// belong to the server. Everything a run needs from the outside world
// (arguments, standard streams, environment, working directory) is passed in,
// so tests can run commands side by side; nothing here calls os.Exit or
// keeps state between runs.
package cli
