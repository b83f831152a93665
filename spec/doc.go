// Package spec reads and writes Azure ML CLI v2 YAML, Tandem's asset format.
//
// Load and Parse turn one YAML (or JSON) file into a Document: its kind
// (model, data, environment, component, datastore, job, compute, online and
// batch endpoints and deployments) and sub-type, a normalized copy of its
// fields, the local paths it refers to (to be uploaded) and the references
// it makes to other assets and datastores. Everything wrong with a file is
// reported at once as Problems, each one "FILE:LINE:COL: field: message",
// with positions in the file that holds the problem, also for YAML loaded
// through `file:` references.
//
// The rules follow Azure's CLI: $schema picks the kind and is otherwise
// ignored, unknown keys are errors that list the allowed keys, read-only keys
// (id, creation_context, ...) are dropped, enum values are case-insensitive,
// version numbers become strings, relative paths resolve against the file's
// own directory. Kinds and fields Tandem does not support are rejected with a
// message that names them; docs/compatibility.md lists them. Sweep, automl,
// spark and parallel steps of pipelines are checked like the rest (steps.go)
// although Tandem cannot run them yet: Document.Fields keeps each step's
// type, so that submitting such a pipeline can be refused naming the step.
//
// Marshal writes fields back as YAML that Parse reads to the same fields.
//
// Job code does not dig through Fields: jobdoc.ReadJob and ReadComponent
// (package spec/jobdoc)
// turn the normalized map of a job or component, as Parse gives it or as it
// comes back from JSON (tandem.Job.Spec, numbers float64), into typed
// values: Job (command and pipeline), Step, Component, ComponentRef (a
// reference, a local path or an inline component), Input (a literal, a
// mapping, or a binding) and Output. They read shapes only, reporting a
// wrong one as a FieldError that names the field (jobs.train.inputs.lr),
// and keep every key they do not model in Extra, so that Job.Map gives back
// a map that encodes to the same JSON: a stored spec read, changed and
// written keeps what it had. Expr, ParseExpr, Exprs and ReplaceExprs read
// the ${{...}} expressions of commands and bindings; SubstituteInputs,
// Step.Deps, Job.StepCompute and the other helpers do what job code used
// to do with type assertions.
//
// The package only reads the local filesystem (and not even that with
// Options.NoFS). It must not talk to a server, resolve references against a
// workspace or upload anything: those are the callers' jobs, done with the
// Paths and Refs a Document lists.
package spec
