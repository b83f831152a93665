// Package cmdutil is the code the command packages under cli/cmd share:
// the Factory of one run (its Env, the connection flags, API clients,
// notes, confirmation prompts and progress bars), connection settings
// (flags, then TANDEM_* variables, then a config.json found the way Azure
// ML finds it), output as a table, JSON or YAML, the flags several groups
// use, uploads of local files (asset and job code, with .amlignore rules)
// and verified downloads, and the one table that turns error codes into
// exit statuses. It may import the root package, httpapi's client and
// spec, and must not import server, region, archive, agent or any package
// under cli/cmd: it sits below every command package. Code goes here only
// when two command groups need it.
package cmdutil
