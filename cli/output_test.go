package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/tandemml/tandem"
)

func testWorkspaces() []*tandem.Workspace {
	created := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	deleted := created.Add(24 * time.Hour)
	purge := deleted.Add(14 * 24 * time.Hour)
	return []*tandem.Workspace{
		{
			ID: "ws-1", Name: "mlw-dev", DisplayName: "Dev", Description: "dev work", Region: "eastus",
			Tags:      map[string]string{"team": "vision", "stage": "dev"},
			Resources: tandem.WorkspaceResources{Storage: "workspaces/ws-1/", KeyVault: "kv-1"},
			CreatedAt: created, UpdatedAt: created,
		},
		{
			ID: "ws-2", Name: "mlw-old", Region: "eastus",
			CreatedAt: created, UpdatedAt: created, DeletedAt: &deleted, PurgeAt: &purge,
		},
	}
}

func TestWriteOutput(t *testing.T) {
	list := testWorkspaces()
	t.Run("JSON", func(t *testing.T) {
		var buf bytes.Buffer
		if err := writeOutput(&buf, formatJSON, list, workspaceTable(list, false)); err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, buf.String())
		}
		if len(got) != 2 || got[0]["name"] != "mlw-dev" || got[0]["display_name"] != "Dev" {
			t.Fatalf("got %v, want the two workspaces with API field names", got)
		}
		if _, ok := got[0]["associated_resources"]; !ok {
			t.Fatalf("got keys %v, want associated_resources", got[0])
		}
	})
	t.Run("YAMLHasJSONFieldNames", func(t *testing.T) {
		var jbuf, ybuf bytes.Buffer
		writeOutput(&jbuf, formatJSON, list[1], nil)
		if err := writeOutput(&ybuf, formatYAML, list[1], nil); err != nil {
			t.Fatal(err)
		}
		var fromJSON, fromYAML map[string]any
		if err := json.Unmarshal(jbuf.Bytes(), &fromJSON); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(ybuf.Bytes(), &fromYAML); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, ybuf.String())
		}
		for k := range fromJSON {
			if _, ok := fromYAML[k]; !ok {
				t.Errorf("YAML lacks field %q of the JSON form:\n%s", k, ybuf.String())
			}
		}
		if len(fromYAML) != len(fromJSON) {
			t.Errorf("YAML has %d fields, want %d as in JSON", len(fromYAML), len(fromJSON))
		}
		if !strings.Contains(ybuf.String(), "purge_at:") || !strings.Contains(ybuf.String(), "deleted_at:") {
			t.Errorf("YAML lacks purge_at or deleted_at:\n%s", ybuf.String())
		}
	})
	t.Run("EmptyListIsEmptyArray", func(t *testing.T) {
		var buf bytes.Buffer
		writeOutput(&buf, formatJSON, nonNil([]*tandem.Workspace(nil)), nil)
		if got := strings.TrimSpace(buf.String()); got != "[]" {
			t.Fatalf("got %q, want []", got)
		}
	})
	t.Run("Table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := writeOutput(&buf, formatTable, list, workspaceTable(list[:1], false)); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("got %d lines, want header and one row:\n%s", len(lines), buf.String())
		}
		if f := strings.Fields(lines[0]); strings.Join(f, " ") != "NAME DISPLAY NAME REGION CREATED" {
			t.Errorf("header = %q", lines[0])
		}
		if !strings.HasPrefix(lines[1], "mlw-dev") || !strings.Contains(lines[1], "eastus") ||
			!strings.Contains(lines[1], formatTime(list[0].CreatedAt)) {
			t.Errorf("row = %q", lines[1])
		}
		// Columns line up: every row starts its second column where the header does.
		if col := strings.Index(lines[0], "DISPLAY"); lines[1][col:col+3] != "Dev" {
			t.Errorf("columns not aligned:\n%s", buf.String())
		}
	})
	t.Run("DeletedTable", func(t *testing.T) {
		var buf bytes.Buffer
		writeOutput(&buf, formatTable, nil, workspaceTable(list[1:], true))
		out := buf.String()
		for _, want := range []string{"DELETED", "PURGE AT", "mlw-old", formatTimePtr(list[1].DeletedAt), formatTimePtr(list[1].PurgeAt)} {
			if !strings.Contains(out, want) {
				t.Errorf("deleted table lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Details", func(t *testing.T) {
		var buf bytes.Buffer
		writeOutput(&buf, formatTable, nil, workspaceDetails(list[0]))
		out := buf.String()
		for _, want := range []string{"Name:", "mlw-dev", "Tags:", "stage=dev, team=vision", "Storage:", "workspaces/ws-1/"} {
			if !strings.Contains(out, want) {
				t.Errorf("details lack %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Purge at") {
			t.Errorf("details of a live workspace show a purge time:\n%s", out)
		}
		if !strings.Contains(out, "Container registry:") || !strings.Contains(out, "  -\n") {
			t.Errorf("empty values should show as -:\n%s", out)
		}
	})
}

func TestTokenSecretJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := writeOutput(&buf, formatJSON, tokenSecret{Name: "ci", Token: "s3cret"}, nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["name"] != "ci" || got["token"] != "s3cret" {
		t.Fatalf("got %v, want exactly {name: ci, token: s3cret}", got)
	}
}

func TestOutputFormatSet(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    outputFormat
		wantErr bool
	}{
		{in: "table", want: formatTable},
		{in: "json", want: formatJSON},
		{in: "YAML", want: formatYAML},
		{in: "xml", wantErr: true},
		{in: "", wantErr: true},
	} {
		f := formatTable
		err := f.Set(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && f != tt.want) {
			t.Errorf("Set(%q) = %q, %v; want %q, error %v", tt.in, f, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB"} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
}
