package conformance

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// Store runs the conformance suite of tandem.Store. open must return a
// fresh, empty store for the test it is given and close it when that test
// ends. Subtests run in parallel, each on its own store.
//
// Beyond the interface's doc comments, the suite holds a store to these
// contracts: Update transactions do not lose read-modify-write updates to
// each other; a NotFound or Conflict error from a Tx method leaves the
// transaction usable; text sorts by bytes; times come back in UTC,
// truncated to microseconds; JSON documents come back as given, up to
// insignificant white space.
func Store(t *testing.T, open func(t *testing.T) tandem.Store) {
	for _, c := range storeCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

type storeCase struct {
	name string
	fn   func(t *testing.T, s tandem.Store)
}

func storeCases() []storeCase {
	cases := []storeCase{
		{"CreateWorkspace/OK", testStoreCreateWorkspace},
		{"CreateWorkspace/ErrConflictName", testStoreCreateWorkspaceConflictName},
		{"CreateWorkspace/ErrConflictID", testStoreCreateWorkspaceConflictID},
		{"CreateWorkspace/ErrConflictSoftDeletedName", testStoreCreateWorkspaceConflictDeleted},
		{"CreateWorkspace/ConflictLeavesTxUsable", testStoreCreateWorkspaceConflictUsable},
		{"FindWorkspaceByID/ErrNotFound", testStoreFindWorkspaceByIDNotFound},
		{"FindWorkspaceByName/OK", testStoreFindWorkspaceByName},
		{"FindWorkspaceByName/ErrNotFound", testStoreFindWorkspaceByNameNotFound},
		{"ListWorkspaces/OrderedByName", testStoreListWorkspacesOrder},
		{"ListWorkspaces/Deleted", testStoreListWorkspacesDeleted},
		{"ListWorkspaces/ID", testStoreListWorkspacesID},
		{"UpdateWorkspace/OK", testStoreUpdateWorkspace},
		{"UpdateWorkspace/ErrNotFound", testStoreUpdateWorkspaceNotFound},
		{"UpdateWorkspace/ErrConflictName", testStoreUpdateWorkspaceConflictName},
		{"Workspace/TimesUTCMicroseconds", testStoreWorkspaceTimes},
		{"PurgeWorkspace/OK", testStorePurgeWorkspace},
		{"PurgeWorkspace/AfterWriteInSameTx", testStorePurgeAfterWrite},
		{"PurgeWorkspace/ErrNotFound", testStorePurgeWorkspaceNotFound},

		{"PutResource/OK", testStorePutResource},
		{"PutResource/Replace", testStorePutResourceReplace},
		{"PutResource/ErrWorkspaceNotFound", testStorePutResourceNoWorkspace},
		{"Resource/JSONRoundTrip", testStoreResourceJSON},
		{"FindResource/ErrNotFound", testStoreFindResourceNotFound},
		{"FindResource/VersionsDistinct", testStoreFindResourceVersions},
		{"DeleteResource/OK", testStoreDeleteResource},
		{"DeleteResource/ErrNotFound", testStoreDeleteResourceNotFound},
		{"ListResources/Ordered", testStoreListResourcesOrder},
		{"ListResources/Filter", testStoreListResourcesFilter},
		{"ListResources/NamePrefix", testStoreListResourcesPrefix},

		{"CreateToken/OK", testStoreCreateToken},
		{"CreateToken/ErrConflictName", testStoreCreateTokenConflictName},
		{"CreateToken/ErrConflictHash", testStoreCreateTokenConflictHash},
		{"CreateToken/ErrWorkspaceNotFound", testStoreCreateTokenNoWorkspace},
		{"CreateToken/ConflictLeavesTxUsable", testStoreCreateTokenConflictUsable},
		{"FindTokenByHash/ErrNotFound", testStoreFindTokenNotFound},
		{"ListTokens/Filter", testStoreListTokens},
		{"DeleteToken/OK", testStoreDeleteToken},
		{"DeleteToken/ErrNotFound", testStoreDeleteTokenNotFound},

		{"AppendChange/OK", testStoreAppendChange},
		{"AppendChange/TimeWhenZero", testStoreAppendChangeTime},
		{"AppendChange/SeqPerWorkspace", testStoreAppendChangeSeqPerWorkspace},
		{"AppendChange/NoGapAfterRollback", testStoreAppendChangeNoGap},
		{"AppendChange/WithoutRowWrite", testStoreAppendChangeAlone},
		{"AppendChange/ErrWorkspaceNotFound", testStoreAppendChangeNoWorkspace},
		{"AppendChange/Concurrent", testStoreAppendChangeConcurrent},
		{"ListChanges/Paging", testStoreListChangesPaging},
		{"LastChangeSeq/None", testStoreLastChangeSeqNone},
		{"ApplyChange/Batch", testStoreApplyChangeBatch},
		{"ApplyChange/ErrGapOrRepeat", testStoreApplyChangeGap},
		{"ApplyChange/ErrMixedWithLocal", testStoreApplyMixedWithLocal},
		{"Settings/OK", testStoreSettings},
		{"ChangeSignal/CommitsOfItsWorkspace", testStoreChangeSignal},

		{"Update/RollbackOnError", testStoreUpdateRollback},
		{"Update/ErrTwoChanges", testStoreUpdateTwoChanges},
		{"Update/TwoWorkspaces", testStoreUpdateTwoWorkspaces},
		{"Update/ErrTwoWorkspacesOneChange", testStoreUpdateTwoWorkspacesOneChange},
		{"Update/AdminTokenNeedsNoChange", testStoreUpdateAdminToken},
		{"Update/UsableAfterNotFound", testStoreUpdateUsableAfterNotFound},
		{"Update/NoLostUpdates", testStoreUpdateNoLostUpdates},
	}
	for _, op := range storeWriteOps() {
		if op.logged {
			cases = append(cases, storeCase{"Update/ErrWithoutChange/" + op.name, storeGuardCase(op)})
		}
		cases = append(cases, storeCase{"View/ErrWrite/" + op.name, storeViewCase(op)})
	}
	return cases
}

// storeT0 is a time as a store returns it: UTC, whole microseconds.
var storeT0 = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func storeWorkspace(name string) *tandem.Workspace {
	id := "id-" + name
	return &tandem.Workspace{
		ID: id, Name: name, DisplayName: "The " + name, Description: "about " + name,
		Tags: map[string]string{"team": "vision", "cost-center": "42"}, Region: "eastus",
		Resources: tandem.WorkspaceResources{Storage: tandem.StoragePrefix(id), KeyVault: "vault/" + id,
			ApplicationInsights: "insights/" + id, ContainerRegistry: "registry/" + id},
		CreatedAt: storeT0, UpdatedAt: storeT0,
	}
}

func storeResource(wsID string, kind tandem.Kind, name, version string) *tandem.Resource {
	return &tandem.Resource{
		WorkspaceID: wsID, Kind: kind, Name: name, Version: version,
		Spec:      json.RawMessage(`{"name":` + strconv.Quote(name) + `}`),
		Blobs:     []tandem.BlobRef{{Key: "workspaces/" + wsID + "/assets/" + name, SHA256: strings.Repeat("ab", 32), Size: 7}},
		CreatedAt: storeT0, UpdatedAt: storeT0,
	}
}

func storeToken(name, wsID string) *tandem.Token {
	return &tandem.Token{ID: "tok-" + name, Name: name, WorkspaceID: wsID, Hash: "hash-" + name, CreatedAt: storeT0}
}

func storeChange(wsID string, kind tandem.Kind, name string, op tandem.Op) *tandem.Change {
	return &tandem.Change{WorkspaceID: wsID, Kind: kind, Name: name, Op: op, Origin: "eastus", Epoch: 1, Time: storeT0}
}

func storeUpdate(t *testing.T, s tandem.Store, fn func(tx tandem.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: got error %v, want nil", err)
	}
}

func storeView(t *testing.T, s tandem.Store, fn func(tx tandem.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: got error %v, want nil", err)
	}
}

func storeWantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// storeJSONEqual compares got and want by their JSON, which also compares
// times with their zones and JSON documents without insignificant space.
func storeJSONEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: encode got: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: encode want: %v", what, err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s: got %s, want %s", what, g, w)
	}
}

func storeCreateWorkspace(t *testing.T, s tandem.Store, w *tandem.Workspace) {
	t.Helper()
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.CreateWorkspace(t.Context(), w); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpCreate))
	})
}

func storePutResource(t *testing.T, s tandem.Store, r *tandem.Resource) {
	t.Helper()
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), r); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(r.WorkspaceID, r.Kind, r.Name, tandem.OpCreate))
	})
}

func storeCreateToken(t *testing.T, s tandem.Store, tok *tandem.Token) {
	t.Helper()
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.CreateToken(t.Context(), tok); err != nil || tok.Admin() {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(tok.WorkspaceID, tandem.KindToken, tok.Name, tandem.OpCreate))
	})
}

func storeFindWorkspace(t *testing.T, s tandem.Store, id string) (w *tandem.Workspace, err error) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) error {
		w, err = tx.FindWorkspaceByID(t.Context(), id)
		return nil
	})
	return w, err
}

func storeListChanges(t *testing.T, s tandem.Store, wsID string, after int64, limit int) (list []*tandem.Change) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) (err error) {
		list, err = tx.ListChanges(t.Context(), wsID, after, limit)
		return err
	})
	return list
}

func storeLastSeq(t *testing.T, s tandem.Store, wsID string) (seq int64) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) (err error) {
		seq, err = tx.LastChangeSeq(t.Context(), wsID)
		return err
	})
	return seq
}

func storeSeqs(list []*tandem.Change) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.Seq
	}
	return out
}

func storeNames[T any](list []T, name func(T) string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = name(v)
	}
	return out
}

func storeWorkspaceName(w *tandem.Workspace) string { return w.Name }
func storeTokenName(t *tandem.Token) string         { return t.Name }
func storeResourceName(r *tandem.Resource) string {
	return string(r.Kind) + "/" + r.Name + ":" + r.Version
}

// storeSnapshot returns everything the store holds, as JSON, to check that a
// failed transaction changed nothing.
func storeSnapshot(t *testing.T, s tandem.Store) string {
	t.Helper()
	type wsState struct {
		Workspace *tandem.Workspace
		Resources []*tandem.Resource
		Changes   []*tandem.Change
		LastSeq   int64
	}
	var state struct {
		Workspaces []wsState
		Tokens     []*tandem.Token
		Hashes     []string
	}
	storeView(t, s, func(tx tandem.Tx) error {
		ctx := t.Context()
		for _, deleted := range []bool{false, true} {
			list, err := tx.ListWorkspaces(ctx, tandem.WorkspaceFilter{Deleted: deleted})
			if err != nil {
				return err
			}
			for _, w := range list {
				st := wsState{Workspace: w}
				if st.Resources, err = tx.ListResources(ctx, tandem.ResourceFilter{WorkspaceID: w.ID}); err != nil {
					return err
				}
				if st.Changes, err = tx.ListChanges(ctx, w.ID, 0, 0); err != nil {
					return err
				}
				if st.LastSeq, err = tx.LastChangeSeq(ctx, w.ID); err != nil {
					return err
				}
				state.Workspaces = append(state.Workspaces, st)
			}
		}
		var err error
		state.Tokens, err = tx.ListTokens(ctx, tandem.TokenFilter{})
		for _, tok := range state.Tokens {
			state.Hashes = append(state.Hashes, tok.Hash)
		}
		return err
	})
	b, err := json.Marshal(state)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return string(b)
}
