// Package job is `tandem job`: command and pipeline jobs from Azure ML YAML
// (create with code and input uploads, list, show with metrics and a
// create-ready YAML document, stream, cancel, metrics, download). It
// imports cmdutil (uploads, documents, verified downloads), httpapi's
// client, spec and the root package; it must not import other cli/cmd
// packages (what it shares with asset is in cmdutil), compute or agent.
package job
