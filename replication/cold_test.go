package replication

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestReadSnapshot checks that a snapshot's metadata is refused, with a
// message saying what is wrong, unless it is well formed and matches its
// manifest.
func TestReadSnapshot(t *testing.T) {
	const ws = `{"type":"workspace","workspace":{"id":"W","name":"a","region":"eastus"}}`
	const res = `{"type":"resource","resource":{"workspace_id":"OTHER","kind":"notebook","name":"a.ipynb","blobs":[{"key":"workspaces/W/notebooks/a.ipynb","sha256":"00","size":1}]}}`
	const tok = `{"type":"token","token":{"id":"T","name":"ci","workspace_id":"OTHER","hash":"abc"}}`
	man := func(counts map[string]int64) *tandem.SnapshotManifest {
		return &tandem.SnapshotManifest{WorkspaceID: "W", Counts: counts}
	}
	full := map[string]int64{"workspace": 1, "notebook": 1, "token": 1}
	cases := []struct {
		name, data string
		counts     map[string]int64
		err        string
	}{
		{"good", ws + "\n" + res + "\n" + tok + "\n", full, ""},
		{"empty", "", full, "no workspace record"},
		{"workspace not first", res + "\n" + ws + "\n", full, "record 1: the workspace must be the first record"},
		{"two workspaces", ws + "\n" + ws + "\n", full, "record 2: the workspace must be the first record, and only it"},
		{"other workspace", strings.Replace(ws, `"W"`, `"X"`, 1) + "\n", full, "not the workspace of the manifest"},
		{"unknown type", ws + "\n" + `{"type":"job"}` + "\n", full, `unknown record type "job"`},
		{"resource without name", ws + "\n" + `{"type":"resource","resource":{"kind":"notebook"}}` + "\n", full, "without kind or name"},
		{"token without hash", ws + "\n" + `{"type":"token","token":{"id":"T","name":"ci"}}` + "\n", full, "without id, name or hash"},
		{"truncated", ws + "\n" + res[:40], full, "record 2"},
		{"missing record", ws + "\n" + res + "\n", full, "holds 0 records of token; the manifest says 1"},
		{"extra record", ws + "\n" + res + "\n" + tok + "\n", map[string]int64{"workspace": 1, "notebook": 1}, "holds 1 records of token; the manifest says 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []*tandem.SnapshotRecord
			err := readSnapshot(strings.NewReader(c.data), man(c.counts), func(rec *tandem.SnapshotRecord) error {
				got = append(got, rec)
				return nil
			})
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				// Records are bound to the manifest's workspace whatever
				// they say.
				if len(got) != 3 || got[1].Resource.WorkspaceID != "W" || got[2].Token.WorkspaceID != "W" || got[2].Token.Token.Hash != "abc" {
					t.Fatalf("records %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got %v, want an error saying %q", err, c.err)
			}
		})
	}
}
