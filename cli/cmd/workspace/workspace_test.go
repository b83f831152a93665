package workspace

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/cli/cmdutil"
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
		if err := cmdutil.WriteOutput(&buf, cmdutil.FormatJSON, list, workspaceTable(list, false)); err != nil {
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
		cmdutil.WriteOutput(&jbuf, cmdutil.FormatJSON, list[1], nil)
		if err := cmdutil.WriteOutput(&ybuf, cmdutil.FormatYAML, list[1], nil); err != nil {
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
		cmdutil.WriteOutput(&buf, cmdutil.FormatJSON, cmdutil.NonNil([]*tandem.Workspace(nil)), nil)
		if got := strings.TrimSpace(buf.String()); got != "[]" {
			t.Fatalf("got %q, want []", got)
		}
	})
	t.Run("Table", func(t *testing.T) {
		var buf bytes.Buffer
		if err := cmdutil.WriteOutput(&buf, cmdutil.FormatTable, list, workspaceTable(list[:1], false)); err != nil {
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
			!strings.Contains(lines[1], cmdutil.FormatTime(list[0].CreatedAt)) {
			t.Errorf("row = %q", lines[1])
		}
		// Columns line up: every row starts its second column where the header does.
		if col := strings.Index(lines[0], "DISPLAY"); lines[1][col:col+3] != "Dev" {
			t.Errorf("columns not aligned:\n%s", buf.String())
		}
	})
	t.Run("DeletedTable", func(t *testing.T) {
		var buf bytes.Buffer
		cmdutil.WriteOutput(&buf, cmdutil.FormatTable, nil, workspaceTable(list[1:], true))
		out := buf.String()
		for _, want := range []string{"DELETED", "PURGE AT", "mlw-old", cmdutil.FormatTimePtr(list[1].DeletedAt), cmdutil.FormatTimePtr(list[1].PurgeAt)} {
			if !strings.Contains(out, want) {
				t.Errorf("deleted table lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Details", func(t *testing.T) {
		var buf bytes.Buffer
		cmdutil.WriteOutput(&buf, cmdutil.FormatTable, nil, workspaceDetails(list[0]))
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
