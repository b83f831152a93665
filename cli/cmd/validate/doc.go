// Package validate is `tandem validate`: it checks Azure ML YAML files
// offline with spec, without a server or a config. It imports cmdutil and
// spec; it must not import httpapi or other cli/cmd packages.
package validate
