package cmdutil

import (
	"testing"
)

func TestOutputFormatSet(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    OutputFormat
		wantErr bool
	}{
		{in: "table", want: FormatTable},
		{in: "json", want: FormatJSON},
		{in: "YAML", want: FormatYAML},
		{in: "xml", wantErr: true},
		{in: "", wantErr: true},
	} {
		f := FormatTable
		err := f.Set(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && f != tt.want) {
			t.Errorf("Set(%q) = %q, %v; want %q, error %v", tt.in, f, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		if got := FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}
