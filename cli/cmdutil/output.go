package cmdutil

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

// OutputFormat is the value of -o/--output.
type OutputFormat string

const (
	FormatTable OutputFormat = "table"
	FormatJSON  OutputFormat = "json"
	FormatYAML  OutputFormat = "yaml"
)

var outputFormats = []string{string(FormatTable), string(FormatJSON), string(FormatYAML)}

// FormatNames lists the output formats for help texts: "table, json, yaml".
func FormatNames() string { return strings.Join(outputFormats, ", ") }

// String and Type make OutputFormat a pflag.Value.
func (f *OutputFormat) String() string { return string(*f) }
func (f *OutputFormat) Type() string   { return "format" }

// Set accepts table, json or yaml, in any case.
func (f *OutputFormat) Set(s string) error {
	v := strings.ToLower(s)
	if !slices.Contains(outputFormats, v) {
		return fmt.Errorf("must be one of %s", FormatNames())
	}
	*f = OutputFormat(v)
	return nil
}

// AddOutputFlag adds -o/--output to cmd and returns its value.
func AddOutputFlag(cmd *cobra.Command) *OutputFormat {
	f := FormatTable
	cmd.Flags().VarP(&f, "output", "o", "output format: "+FormatNames())
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	return &f
}

// TableView is the table form of what a command prints.
type TableView interface {
	WriteTable(w io.Writer) error
}

// WriteOutput prints v, the API form of a result, as JSON or YAML, or its
// table form t. YAML is converted from the JSON form so that field names are
// the API's in every format.
func WriteOutput(w io.Writer, f OutputFormat, v any, t TableView) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	case FormatYAML:
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
	return t.WriteTable(w)
}

// Table is a list: a header row and one row per item. Empty cells show "-".
type Table struct {
	Header []string
	rows   [][]string
}

// Add appends a row.
func (t *Table) Add(cells ...string) { t.rows = append(t.rows, cells) }

// WriteTable writes the header and the rows in aligned columns.
func (t *Table) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeRow(tw, t.Header)
	for _, r := range t.rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = OrDash(c)
	}
	fmt.Fprintln(w, strings.Join(out, "\t"))
}

// Details is one item shown as "Field:  value" lines. Empty values show "-".
type Details [][2]string

// WriteTable writes one aligned "Field:  value" line per field.
func (d Details) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range d {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], OrDash(f[1]))
	}
	return tw.Flush()
}

// OrDash is s, or "-" when s is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// FormatTime formats t for tables, in local time; the zero time is "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// FormatTimePtr formats an optional time.
func FormatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return FormatTime(*t)
}

// FormatTags formats tags as k=v pairs, sorted by key.
func FormatTags(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ", ")
}

// FormatSize formats a byte count for people.
func FormatSize(n int64) string {
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

// NonNil returns s, or an empty slice for nil, so that an empty list prints
// as [] rather than null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
