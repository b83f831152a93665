package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem/backup"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
)

// readSnapshot returns a snapshot's manifest as stored and its records,
// checking metadata.jsonl against the manifest's sha256 and size.
func readSnapshot(t *testing.T, r *apptest.Region, info *tandem.SnapshotInfo) (*tandem.SnapshotManifest, []tandem.SnapshotRecord) {
	t.Helper()
	ctx := context.Background()
	read := func(file string) []byte {
		rc, err := r.Blobs.Open(ctx, info.Prefix+file)
		if err != nil {
			t.Fatalf("open %s%s: %v", info.Prefix, file, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var man tandem.SnapshotManifest
	if err := json.Unmarshal(read(tandem.SnapshotManifestFile), &man); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	meta := read(tandem.SnapshotMetadataFile)
	f := man.File(tandem.SnapshotMetadataFile)
	sum := sha256.Sum256(meta)
	if f == nil || f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(meta)) {
		t.Fatalf("manifest entry of metadata.jsonl %+v does not match its %d bytes", f, len(meta))
	}
	var recs []tandem.SnapshotRecord
	for i, line := range strings.Split(strings.TrimSuffix(string(meta), "\n"), "\n") {
		var rec tandem.SnapshotRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metadata.jsonl line %d is not one JSON object: %v\n%s", i+1, err, line)
		}
		recs = append(recs, rec)
	}
	return &man, recs
}

func TestSnapshot_Write(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		ws := populate(t, f.Region)
		before := mustDigest(t, f.Region, ctx, ws.Name, false)
		logBefore := apptest.Changes(t, f.Region, ws.ID)

		info, err := f.WriteSnapshot(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantPrefix := "workspaces/" + ws.ID + "/snapshots/20261101T120000.000000Z/"
		if info.Prefix != wantPrefix || info.Name != "20261101T120000.000000Z" {
			t.Fatalf("snapshot at %q named %q, want %q", info.Prefix, info.Name, wantPrefix)
		}
		man, recs := readSnapshot(t, f.Region, info)
		if man.Format != tandem.SnapshotFormat || man.WorkspaceID != ws.ID || man.Workspace != "mlw" || man.Region != "eastus" ||
			man.LastSeq != int64(len(logBefore)) || man.LastChangeAt == nil || !man.LastChangeAt.Equal(logBefore[len(logBefore)-1].Time) {
			t.Fatalf("manifest %+v does not describe workspace %s at entry %d", man, ws.ID, len(logBefore))
		}
		// One workspace line first, then every resource, then the tokens
		// with their hashes; counts as in the manifest.
		if recs[0].Type != tandem.SnapshotRecordWorkspace || recs[0].Workspace.ID != ws.ID || recs[0].Workspace.Description != ws.Description {
			t.Fatalf("first record %+v, want the workspace", recs[0])
		}
		counts := map[string]int64{}
		for _, rec := range recs {
			switch rec.Type {
			case tandem.SnapshotRecordResource:
				counts[string(rec.Resource.Kind)]++
			default:
				counts[rec.Type]++
			}
			if rec.Type == tandem.SnapshotRecordToken && (rec.Token.Name != "mlw-ci" || len(rec.Token.Hash) != 64) {
				t.Fatalf("token record %+v, want mlw-ci with its hash (and no region admin token)", rec.Token)
			}
		}
		for k, v := range man.Counts {
			if counts[k] != v || before.Counts[k] != v && k != "workspace" {
				t.Fatalf("kind %s: %d records, manifest says %d, digest counts %d", k, counts[k], v, before.Counts[k])
			}
		}
		if man.BlobRefs == 0 || man.BlobBytes == 0 {
			t.Fatalf("manifest counts no blob references: %+v", man)
		}

		// Not a workspace write: no log entry, same digest (snapshots/ is
		// excluded from it).
		if got := apptest.Changes(t, f.Region, ws.ID); len(got) != len(logBefore) {
			t.Fatalf("a snapshot appended %d change-log entries", len(got)-len(logBefore))
		}
		if after := mustDigest(t, f.Region, ctx, ws.Name, false); after.Digest != before.Digest {
			t.Fatal("writing a snapshot changed the workspace's digest")
		}

		// A soft-deleted workspace is snapshotted too, with its state.
		if _, err := f.DeleteWorkspace(ctx, ws.Name, tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.Clock.Advance(time.Minute)
		info, err = f.WriteSnapshot(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, recs := readSnapshot(t, f.Region, info); recs[0].Workspace.DeletedAt == nil {
			t.Fatal("snapshot of a soft-deleted workspace does not say so")
		}
		_, err = f.WriteSnapshot(ctx, "00000000-0000-0000-0000-000000000000")
		apptest.WantCode(t, err, tandem.ENotFound)
		// Nothing of a failed snapshot is left in storage.
		if keys := apptest.BlobKeys(t, f.Region, "workspaces/00000000-0000-0000-0000-000000000000/"); len(keys) != 0 {
			t.Fatalf("failed snapshot left %v", keys)
		}
	})
}

func TestSnapshot_ListAndRetention(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		prefix := "workspaces/" + ws.ID + "/snapshots/"
		// Two snapshots in the same microsecond get distinct names.
		a, err := f.WriteSnapshot(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.WriteSnapshot(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Name == b.Name || b.Name < a.Name {
			t.Fatalf("snapshots in one microsecond named %q then %q", a.Name, b.Name)
		}
		// Folders without a manifest are incomplete: ignored, and removed
		// once they are old. Other files under snapshots/ are left alone.
		putBlob(t, f.Region, prefix+"20261101T100000.000000Z/metadata.jsonl", "{}\n") // crashed two hours ago
		putBlob(t, f.Region, prefix+"20261101T115900.000000Z/metadata.jsonl", "{}\n") // still being written
		putBlob(t, f.Region, prefix+"exports/x.tar", "not a snapshot")

		var names []string
		for i := 0; i < backup.SnapshotsKept+3; i++ {
			f.Clock.Advance(time.Second)
			if _, err := f.UpdateWorkspace(ctx, "mlw", tandem.WorkspaceUpdate{Description: ptr(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
			info, err := f.WriteSnapshot(ctx, ws.ID)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, info.Name)
		}
		list, err := f.ListSnapshots(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != backup.SnapshotsKept {
			t.Fatalf("%d snapshots kept, want %d", len(list), backup.SnapshotsKept)
		}
		for i, info := range list {
			if want := names[len(names)-1-i]; info.Name != want {
				t.Fatalf("snapshot %d is %s, want %s (newest first)", i, info.Name, want)
			}
			if info.Prefix != prefix+info.Name+"/" {
				t.Fatalf("prefix %q", info.Prefix)
			}
		}
		if list[0].LastSeq <= list[1].LastSeq {
			t.Fatalf("newest snapshot at seq %d, the one before at %d", list[0].LastSeq, list[1].LastSeq)
		}
		keys := strings.Join(apptest.BlobKeys(t, f.Region, prefix), "\n")
		for _, gone := range []string{a.Name, b.Name, names[0], names[1], names[2], "20261101T100000.000000Z"} {
			if strings.Contains(keys, gone) {
				t.Errorf("snapshot folder %s not removed:\n%s", gone, keys)
			}
		}
		for _, kept := range []string{names[3], "20261101T115900.000000Z", "exports/x.tar"} {
			if !strings.Contains(keys, kept) {
				t.Errorf("%s removed:\n%s", kept, keys)
			}
		}

		// Access: a workspace token may not list snapshots.
		tok, _, err := f.CreateToken(ctx, "ci", "mlw")
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ListSnapshots(tandem.NewContextWithPrincipal(ctx, tok), ws.ID)
		apptest.WantCode(t, err, tandem.EForbidden)
	})
}

// TestSnapshot_ConsistentCut takes snapshots while writes run and checks
// that each holds exactly the state the log's prefix up to its last_seq
// describes.
func TestSnapshot_ConsistentCut(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		ws := apptest.MustCreate(t, f.Region, "mlw")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var writeErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 4 {
				case 0:
					_, err = f.UploadNotebook(ctx, "mlw", fmt.Sprintf("nb/%03d.ipynb", i%40), strings.NewReader(fmt.Sprint("v", i)))
				case 1:
					_, err = f.UpdateWorkspace(ctx, "mlw", tandem.WorkspaceUpdate{Description: ptr(fmt.Sprint("d", i))})
				case 2:
					_, _, err = f.CreateToken(ctx, fmt.Sprintf("t%d", i), "mlw")
				case 3:
					err = f.RevokeToken(ctx, fmt.Sprintf("t%d", i-5))
					if tandem.IsCode(err, tandem.ENotFound) {
						err = nil
					}
				}
				if err != nil {
					writeErr = err
					return
				}
			}
		}()
		var infos []*tandem.SnapshotInfo
		for len(infos) < 15 {
			info, err := f.WriteSnapshot(ctx, ws.ID)
			if err != nil {
				close(stop)
				wg.Wait()
				t.Fatal(err)
			}
			infos = append(infos, info)
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if writeErr != nil {
			t.Fatal(writeErr)
		}
		log := apptest.Changes(t, f.Region, ws.ID)
		for len(log) < int(infos[len(infos)-1].LastSeq) {
			t.Fatalf("log has %d entries, a snapshot claims %d", len(log), infos[len(infos)-1].LastSeq)
		}
		distinct := map[int64]bool{}
		for _, info := range infos {
			distinct[info.LastSeq] = true
			_, recs := readSnapshot(t, f.Region, info)
			got := stateOfRecords(t, recs)
			want := replayLog(t, log[:info.LastSeq])
			if got != want {
				t.Fatalf("snapshot %s (last_seq %d) is not the log's state at that entry:\n--- snapshot\n%s\n--- log\n%s", info.Name, info.LastSeq, got, want)
			}
		}
		if len(distinct) < 3 {
			t.Fatalf("only %d distinct cuts among %d snapshots: the writes did not run alongside", len(distinct), len(infos))
		}
	})
}

// stateOfRecords renders a snapshot's records as comparable text.
func stateOfRecords(t *testing.T, recs []tandem.SnapshotRecord) string {
	t.Helper()
	var out []string
	for _, rec := range recs {
		switch rec.Type {
		case tandem.SnapshotRecordWorkspace:
			b, _ := json.Marshal(rec.Workspace)
			out = append(out, "workspace "+string(b))
		case tandem.SnapshotRecordResource:
			b, _ := json.Marshal(rec.Resource)
			out = append(out, "resource "+string(b))
		case tandem.SnapshotRecordToken:
			out = append(out, "token "+rec.Token.Name+" "+rec.Token.Hash)
		}
	}
	return strings.Join(sortedLines(out), "\n")
}

// replayLog renders the state a log prefix describes, as stateOfRecords.
func replayLog(t *testing.T, log []*tandem.Change) string {
	t.Helper()
	var ws string
	resources := map[string]string{}
	tokens := map[string]string{}
	for _, c := range log {
		switch c.Kind {
		case tandem.KindWorkspace:
			var w tandem.Workspace
			if err := json.Unmarshal(c.Body, &w); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(&w)
			ws = "workspace " + string(b)
		case tandem.KindToken:
			if c.Op == tandem.OpDelete {
				delete(tokens, c.Name)
				continue
			}
			var rec struct {
				Name string `json:"name"`
				Hash string `json:"hash"`
			}
			if err := json.Unmarshal(c.Body, &rec); err != nil {
				t.Fatal(err)
			}
			tokens[c.Name] = "token " + rec.Name + " " + rec.Hash
		default:
			key := string(c.Kind) + "/" + c.Name + "/" + c.Version
			if c.Op == tandem.OpDelete && len(c.Body) == 0 {
				delete(resources, key)
				continue
			}
			var res tandem.Resource
			if err := json.Unmarshal(c.Body, &res); err != nil {
				t.Fatal(err)
			}
			res.WorkspaceID = c.WorkspaceID
			b, _ := json.Marshal(&res)
			resources[key] = "resource " + string(b)
		}
	}
	out := []string{ws}
	for _, v := range resources {
		out = append(out, v)
	}
	for _, v := range tokens {
		out = append(out, v)
	}
	return strings.Join(sortedLines(out), "\n")
}

func sortedLines(lines []string) []string {
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j] < lines[j-1]; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	return lines
}

// TestRunSnapshots checks the loop: a first snapshot at once, none while
// the log stands still, a new one once it advanced and the interval passed.
func TestRunSnapshots(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		f.Now = time.Now // the loop runs on real time
		ctx, cancel := context.WithCancel(context.Background())
		ws := apptest.MustCreate(t, f.Region, "mlw")
		done := make(chan struct{})
		go func() { defer close(done); f.RunSnapshots(ctx, 50*time.Millisecond) }()
		defer func() { cancel(); <-done }()

		list := waitSnapshots(t, f.Region, ws.ID, 1)
		time.Sleep(300 * time.Millisecond) // six intervals, nothing written
		if again, _ := f.ListSnapshots(context.Background(), ws.ID); len(again) != 1 {
			t.Fatalf("%d snapshots while the log stood still, want 1", len(again))
		}
		if _, err := f.UpdateWorkspace(context.Background(), "mlw", tandem.WorkspaceUpdate{Description: ptr("new")}); err != nil {
			t.Fatal(err)
		}
		list = waitSnapshots(t, f.Region, ws.ID, 2)
		if list[0].LastSeq != list[1].LastSeq+1 {
			t.Fatalf("new snapshot at seq %d after %d", list[0].LastSeq, list[1].LastSeq)
		}
	})
}

func waitSnapshots(t *testing.T, r *apptest.Region, wsID string, n int) []*tandem.SnapshotInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := r.ListSnapshots(context.Background(), wsID)
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshots after 10s, want %d", len(list), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
