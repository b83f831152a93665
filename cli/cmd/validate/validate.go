package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem/cli/cmdutil"
	"github.com/tandemml/tandem/spec"
)

// NewCmdValidate returns `tandem validate`, which checks Azure ML CLI v2 YAML
// files offline: no server, no config. Each file gets "FILE: ok (KIND/TYPE)"
// or one line per problem on stdout.
func NewCmdValidate(f *cmdutil.Factory) *cobra.Command {
	var (
		files []string
		kind  string
		sets  []string
	)
	cmd := &cobra.Command{
		Use:   "validate -f FILE [-f FILE ...] [--kind KIND] [--set key=value ...]",
		Short: "Check Azure ML YAML files offline",
		Long: "Check Azure ML CLI v2 YAML files without a server: their kind, fields, local paths,\n" +
			"references and ${{...}} expressions. Prints 'FILE: ok (KIND)' for each good file and\n" +
			"'FILE:LINE:COL: field: message' for each problem; exits 1 when any file has a problem.\n\n" +
			"Kinds: " + strings.Join(spec.Kinds, ", ") + ". docs/compatibility.md lists what is supported.",
		Example: "  tandem validate -f model.yml\n" +
			"  tandem validate -f job.yml --set compute=azureml:cpu-cluster\n" +
			"  tandem validate -f conda-less.yml --kind environment",
		Args: cobra.NoArgs,
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&files, "file", "f", nil, "YAML file to check; repeat for several")
	flags.StringVar(&kind, "kind", "", "kind of the files that have no $schema (e.g. job, environment, commandJob)")
	flags.StringArrayVar(&sets, "set", nil, "override a field before checking, e.g. --set settings.default_compute=local")
	cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		bad, problems := 0, 0
		for _, file := range files {
			lines := validateFile(f, file, spec.Options{Kind: kind, Set: sets})
			if len(lines) > 0 {
				bad++
				problems += len(lines)
			}
			for _, l := range lines {
				fmt.Fprintln(f.Env.Stdout, l)
			}
		}
		if bad == 0 {
			return nil
		}
		// A plain error: the exit-code table maps it to 1, the status of a
		// check that found problems (a usage error exits 2).
		return fmt.Errorf("%s in %d of %s", countNoun(problems, "problem"), bad, countNoun(len(files), "file"))
	}
	return cmd
}

// validateFile checks one file and returns its problem lines; on success it
// prints the ok line itself and returns nil.
func validateFile(f *cmdutil.Factory, file string, opts spec.Options) []string {
	abs := f.Path(file)
	doc, err := spec.Load(abs, opts)
	if err != nil {
		var ps spec.Problems
		if !errors.As(err, &ps) {
			return []string{fmt.Sprintf("%s: %s", file, readError(err))}
		}
		lines := make([]string, len(ps))
		for i, p := range ps {
			p.File = shownPath(f, file, p.File)
			lines[i] = p.Error()
		}
		return lines
	}
	what := doc.Kind
	if doc.Type != "" {
		what += "/" + doc.Type
	}
	fmt.Fprintf(f.Env.Stdout, "%s: ok (%s)\n", file, what)
	return nil
}

// shownPath names a file in a problem the way the user named the document:
// relative to the working directory when they gave a relative path.
func shownPath(f *cmdutil.Factory, given, file string) string {
	if filepath.IsAbs(given) || !filepath.IsAbs(file) {
		return file
	}
	if rel, err := filepath.Rel(f.Env.Dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

// readError is the reason a file could not be read, without the path the
// line already starts with.
func readError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// countNoun is "1 file", "2 files".
func countNoun(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
