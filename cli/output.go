package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
)

// outputFormat is the value of -o/--output.
type outputFormat string

const (
	formatTable outputFormat = "table"
	formatJSON  outputFormat = "json"
	formatYAML  outputFormat = "yaml"
)

var outputFormats = []string{string(formatTable), string(formatJSON), string(formatYAML)}

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "format" }

// Set accepts table, json or yaml, in any case.
func (f *outputFormat) Set(s string) error {
	v := strings.ToLower(s)
	if !slices.Contains(outputFormats, v) {
		return fmt.Errorf("must be one of %s", strings.Join(outputFormats, ", "))
	}
	*f = outputFormat(v)
	return nil
}

// addOutputFlag adds -o/--output to cmd and returns its value.
func addOutputFlag(cmd *cobra.Command) *outputFormat {
	f := formatTable
	cmd.Flags().VarP(&f, "output", "o", "output format: "+strings.Join(outputFormats, ", "))
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	return &f
}

// tableView is the table form of what a command prints.
type tableView interface {
	writeTable(w io.Writer) error
}

// writeOutput prints v, the API form of a result, as JSON or YAML, or its
// table form t. YAML is converted from the JSON form so that field names are
// the API's in every format.
func writeOutput(w io.Writer, f outputFormat, v any, t tableView) error {
	switch f {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	case formatYAML:
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return t.writeTable(w)
}

// table is a list: a header row and one row per item. Empty cells show "-".
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeRow(tw, t.header)
	for _, r := range t.rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = orDash(c)
	}
	fmt.Fprintln(w, strings.Join(out, "\t"))
}

// details is one item shown as "Field:  value" lines. Empty values show "-".
type details [][2]string

func (d details) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range d {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], orDash(f[1]))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// formatTime formats t for tables, in local time; the zero time is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// formatTimePtr formats an optional time.
func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

// formatTags formats tags as k=v pairs, sorted by key.
func formatTags(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ", ")
}

// formatSize formats a byte count for people.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// nonNil returns s, or an empty slice for nil, so that an empty list prints
// as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
