package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// --- the storeChange log ---

func testStoreAppendChange(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	zone := time.FixedZone("UTC-8", -8*3600)
	want := &tandem.Change{
		WorkspaceID: w.ID, Kind: "model", Name: "resnet", Version: "3", Op: tandem.OpCreate,
		Origin: "westeurope", Epoch: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 678901234, zone),
		Body: json.RawMessage(`{"name": "resnet",  "version": "3", "tags": {"a": "b"}}`),
	}
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", "resnet", "3")); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), want)
	})
	if want.Seq != 2 {
		t.Fatalf("Seq assigned by AppendChange: got %d, want 2", want.Seq)
	}
	want.Time = time.Date(2026, 1, 2, 11, 4, 5, 678901000, time.UTC)
	got := storeListChanges(t, s, w.ID, 1, 0)
	storeJSONEqual(t, "ListChanges", got, []*tandem.Change{want})
	if got := storeLastSeq(t, s, w.ID); got != 2 {
		t.Fatalf("LastChangeSeq: got %d, want 2", got)
	}
}

func testStoreAppendChangeTime(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	before := time.Now().Add(-time.Minute)
	c := storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpCreate)
	c.Time = time.Time{}
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.CreateWorkspace(t.Context(), w); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), c)
	})
	after := time.Now().Add(time.Minute)
	if c.Time.Before(before) || c.Time.After(after) {
		t.Fatalf("Time assigned by AppendChange: got %s, want about %s", c.Time, time.Now())
	}
	got := storeListChanges(t, s, w.ID, 0, 0)
	if len(got) != 1 || !got[0].Time.Equal(c.Time.Truncate(time.Microsecond)) {
		t.Fatalf("stored Time: got %v, want %s", got, c.Time.Truncate(time.Microsecond))
	}
}

func testStoreAppendChangeSeqPerWorkspace(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storePutResource(t, s, storeResource(a.ID, "model", "m", "1"))
	storeCreateWorkspace(t, s, b)
	storePutResource(t, s, storeResource(a.ID, "model", "m", "2"))
	storePutResource(t, s, storeResource(b.ID, "model", "m", "1"))
	storeJSONEqual(t, "seqs of alpha", storeSeqs(storeListChanges(t, s, a.ID, 0, 0)), []int64{1, 2, 3})
	storeJSONEqual(t, "seqs of beta", storeSeqs(storeListChanges(t, s, b.ID, 0, 0)), []int64{1, 2})
	if got := storeLastSeq(t, s, b.ID); got != 2 {
		t.Fatalf("LastChangeSeq(beta): got %d, want 2", got)
	}
}

func testStoreAppendChangeNoGap(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	failed := errors.New("changed my mind")
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", "m", "1")); err != nil {
			return err
		}
		if err := tx.AppendChange(t.Context(), storeChange(w.ID, "model", "m", tandem.OpCreate)); err != nil {
			return err
		}
		return failed
	})
	if err != failed {
		t.Fatalf("Update: got error %v, want %v", err, failed)
	}
	storePutResource(t, s, storeResource(w.ID, "model", "m", "2"))
	storeJSONEqual(t, "seqs", storeSeqs(storeListChanges(t, s, w.ID, 0, 0)), []int64{1, 2})
}

func testStoreAppendChangeAlone(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindNotebook, "a.ipynb", tandem.OpUpdate))
	})
	storeJSONEqual(t, "seqs", storeSeqs(storeListChanges(t, s, w.ID, 0, 0)), []int64{1, 2})
}

func testStoreAppendChangeNoWorkspace(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		return tx.AppendChange(t.Context(), storeChange("id-missing", tandem.KindNotebook, "a.ipynb", tandem.OpUpdate))
	})
	storeWantCode(t, "AppendChange to a missing workspace", err, tandem.ENotFound)
}

// testStoreAppendChangeConcurrent appends from 16 goroutines per storeWorkspace, each
// in its own Update: every Update must succeed and each log must hold
// exactly the storeSeqs 1..17 (the storeWorkspace's creation is 1).
func testStoreAppendChangeConcurrent(t *testing.T, s tandem.Store) {
	const n = 16
	ws := []*tandem.Workspace{storeWorkspace("alpha"), storeWorkspace("beta")}
	for _, w := range ws {
		storeCreateWorkspace(t, s, w)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n*len(ws))
	assigned := make([][]int64, len(ws))
	var mu sync.Mutex
	for i := range n * len(ws) {
		wg.Go(func() {
			wi := i % len(ws)
			w := ws[wi]
			c := storeChange(w.ID, "model", fmt.Sprintf("m%02d", i), tandem.OpCreate)
			err := s.Update(t.Context(), func(tx tandem.Tx) error {
				if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", c.Name, "1")); err != nil {
					return err
				}
				return tx.AppendChange(t.Context(), c)
			})
			if err != nil {
				errs <- fmt.Errorf("Update of %s: %w", c.Name, err)
				return
			}
			mu.Lock()
			assigned[wi] = append(assigned[wi], c.Seq)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent append: got error %v, want nil", err)
	}
	want := make([]int64, n+1)
	for i := range want {
		want[i] = int64(i + 1)
	}
	for wi, w := range ws {
		sort.Slice(assigned[wi], func(i, j int) bool { return assigned[wi][i] < assigned[wi][j] })
		storeJSONEqual(t, "seqs assigned in "+w.Name, assigned[wi], want[1:])
		storeJSONEqual(t, "seqs listed in "+w.Name, storeSeqs(storeListChanges(t, s, w.ID, 0, 0)), want)
		if got := storeLastSeq(t, s, w.ID); got != n+1 {
			t.Fatalf("LastChangeSeq(%s): got %d, want %d", w.Name, got, n+1)
		}
	}
}

func testStoreListChangesPaging(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	for i := range 4 {
		storePutResource(t, s, storeResource(w.ID, "model", "m", strconv.Itoa(i)))
	}
	for _, c := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 2, []int64{1, 2}},
		{2, 2, []int64{3, 4}},
		{4, 2, []int64{5}},
		{5, 2, []int64{}},
		{0, 0, []int64{1, 2, 3, 4, 5}},
		{3, -1, []int64{4, 5}},
		{0, 100, []int64{1, 2, 3, 4, 5}},
	} {
		got := storeListChanges(t, s, w.ID, c.after, c.limit)
		storeJSONEqual(t, fmt.Sprintf("ListChanges(after %d, limit %d)", c.after, c.limit), storeSeqs(got), c.want)
	}
	if got := storeListChanges(t, s, w.ID, 0, 1); len(got) != 1 || got[0].Name != w.Name || got[0].Kind != tandem.KindWorkspace {
		t.Fatalf("first change: got %+v, want the workspace's creation", got)
	}
}

func testStoreLastChangeSeqNone(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	for _, id := range []string{"id-missing", ""} {
		if got := storeLastSeq(t, s, id); got != 0 {
			t.Fatalf("LastChangeSeq(%q): got %d, want 0", id, got)
		}
	}
	if got := storeLastSeq(t, s, "id-alpha"); got != 1 {
		t.Fatalf("LastChangeSeq(id-alpha): got %d, want 1", got)
	}
}

// --- transactions and invariant 1 ---

func testStoreUpdateRollback(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	before := storeSnapshot(t, s)
	failed := errors.New("boom")
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		w := storeWorkspace("beta")
		if err := tx.CreateWorkspace(t.Context(), w); err != nil {
			return err
		}
		if err := tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpCreate)); err != nil {
			return err
		}
		if err := tx.CreateToken(t.Context(), storeToken("admin", "")); err != nil {
			return err
		}
		return failed
	})
	if err != failed {
		t.Fatalf("Update: got error %v, want fn's error %v as is", err, failed)
	}
	if after := storeSnapshot(t, s); after != before {
		t.Fatalf("store after rollback: got %s, want %s", after, before)
	}
	if got := storeLastSeq(t, s, "id-beta"); got != 0 {
		t.Fatalf("LastChangeSeq of the rolled back workspace: got %d, want 0", got)
	}
}

func testStoreUpdateTwoChanges(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	before := storeSnapshot(t, s)
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", "m", "1")); err != nil {
			return err
		}
		for range 2 {
			if err := tx.AppendChange(t.Context(), storeChange(w.ID, "model", "m", tandem.OpCreate)); err != nil {
				return err
			}
		}
		return nil
	})
	storeWantCode(t, "Update with two changes for one workspace", err, tandem.EInternal)
	if !strings.Contains(err.Error(), w.ID) {
		t.Errorf("error: got %q, want it to name workspace %s", err, w.ID)
	}
	if after := storeSnapshot(t, s); after != before {
		t.Fatalf("store after a refused Update: got %s, want %s", after, before)
	}
}

func testStoreUpdateTwoWorkspaces(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeUpdate(t, s, func(tx tandem.Tx) error {
		for _, w := range []*tandem.Workspace{a, b} {
			if err := tx.CreateWorkspace(t.Context(), w); err != nil {
				return err
			}
			if err := tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpCreate)); err != nil {
				return err
			}
		}
		return nil
	})
	storeJSONEqual(t, "ListWorkspaces", storeListWorkspaces(t, s, tandem.WorkspaceFilter{}), []*tandem.Workspace{a, b})
}

func testStoreUpdateTwoWorkspacesOneChange(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	before := storeSnapshot(t, s)
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource(a.ID, "model", "m", "1")); err != nil {
			return err
		}
		if err := tx.PutResource(t.Context(), storeResource(b.ID, "model", "m", "1")); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(a.ID, "model", "m", tandem.OpCreate))
	})
	storeWantCode(t, "Update that logs one of two workspaces", err, tandem.EInternal)
	if !strings.Contains(err.Error(), b.ID) {
		t.Errorf("error: got %q, want it to name workspace %s", err, b.ID)
	}
	if after := storeSnapshot(t, s); after != before {
		t.Fatalf("store after a refused Update: got %s, want %s", after, before)
	}
}

func testStoreUpdateAdminToken(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	storeUpdate(t, s, func(tx tandem.Tx) error { return tx.DeleteToken(t.Context(), "tok-admin") })
	storeView(t, s, func(tx tandem.Tx) error {
		list, err := tx.ListTokens(t.Context(), tandem.TokenFilter{})
		if len(list) != 0 {
			t.Fatalf("ListTokens: got %v, want none", storeNames(list, storeTokenName))
		}
		return err
	})
}

func testStoreUpdateUsableAfterNotFound(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		ctx := t.Context()
		_, err := tx.FindWorkspaceByID(ctx, "id-missing")
		storeWantCode(t, "FindWorkspaceByID(id-missing)", err, tandem.ENotFound)
		_, err = tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: w.ID, Kind: "model", Name: "m"})
		storeWantCode(t, "FindResource(model m)", err, tandem.ENotFound)
		err = tx.DeleteResource(ctx, tandem.ResourceKey{WorkspaceID: w.ID, Kind: "model", Name: "m"})
		storeWantCode(t, "DeleteResource(model m)", err, tandem.ENotFound)
		err = tx.PutResource(ctx, storeResource("id-missing", "model", "m", "1"))
		storeWantCode(t, "PutResource in a missing workspace", err, tandem.ENotFound)
		err = tx.CreateToken(ctx, storeToken("ci", "id-missing"))
		storeWantCode(t, "CreateToken in a missing workspace", err, tandem.ENotFound)
		err = tx.AppendChange(ctx, storeChange("id-missing", "model", "m", tandem.OpCreate))
		storeWantCode(t, "AppendChange to a missing workspace", err, tandem.ENotFound)
		err = tx.UpdateWorkspace(ctx, storeWorkspace("missing"))
		storeWantCode(t, "UpdateWorkspace of a missing workspace", err, tandem.ENotFound)
		err = tx.DeleteToken(ctx, "tok-missing")
		storeWantCode(t, "DeleteToken of a missing token", err, tandem.ENotFound)
		if err := tx.PutResource(ctx, storeResource(w.ID, "model", "m", "1")); err != nil {
			return fmt.Errorf("PutResource after NotFound errors: %w", err)
		}
		return tx.AppendChange(ctx, storeChange(w.ID, "model", "m", tandem.OpCreate))
	})
	if _, err := storeFindResource(t, s, tandem.ResourceKey{WorkspaceID: w.ID, Kind: "model", Name: "m", Version: "1"}); err != nil {
		t.Fatalf("FindResource: got error %v, want nil", err)
	}
}

// testStoreUpdateNoLostUpdates runs read-modify-write cycles from 16 goroutines
// at once: no increment may be lost.
func testStoreUpdateNoLostUpdates(t *testing.T, s tandem.Store) {
	const n = 16
	w := storeWorkspace("alpha")
	w.Description = "0"
	storeCreateWorkspace(t, s, w)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := s.Update(t.Context(), func(tx tandem.Tx) error {
				cur, err := tx.FindWorkspaceByID(t.Context(), w.ID)
				if err != nil {
					return err
				}
				count, err := strconv.Atoi(cur.Description)
				if err != nil {
					return err
				}
				cur.Description = strconv.Itoa(count + 1)
				if err := tx.UpdateWorkspace(t.Context(), cur); err != nil {
					return err
				}
				return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpUpdate))
			})
			if err != nil {
				t.Errorf("Update: got error %v, want nil", err)
			}
		})
	}
	wg.Wait()
	got, err := storeFindWorkspace(t, s, w.ID)
	if err != nil {
		t.Fatalf("FindWorkspaceByID: got error %v, want nil", err)
	}
	if got.Description != strconv.Itoa(n) {
		t.Fatalf("counter after %d concurrent increments: got %s, want %d", n, got.Description, n)
	}
}

// --- write methods: the invariant guard and read-only views ---

// storeFixture is a storeWorkspace with one storeResource and one storeWorkspace storeToken.
type storeFixture struct {
	ws  *tandem.Workspace
	res *tandem.Resource
	tok *tandem.Token
}

func storeNewFixture(t *testing.T, s tandem.Store) *storeFixture {
	f := &storeFixture{ws: storeWorkspace("alpha")}
	storeCreateWorkspace(t, s, f.ws)
	f.res = storeResource(f.ws.ID, "model", "m", "1")
	storePutResource(t, s, f.res)
	f.tok = storeToken("ci", f.ws.ID)
	storeCreateToken(t, s, f.tok)
	return f
}

type storeWriteOp struct {
	name   string
	logged bool // the write needs a storeChange-log entry
	fn     func(ctx context.Context, tx tandem.Tx, f *storeFixture) error
}

func storeWriteOps() []storeWriteOp {
	return []storeWriteOp{
		{"CreateWorkspace", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.CreateWorkspace(ctx, storeWorkspace("beta"))
		}},
		{"UpdateWorkspace", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			w := *f.ws
			w.Description = "changed"
			return tx.UpdateWorkspace(ctx, &w)
		}},
		{"PutResource", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.PutResource(ctx, storeResource(f.ws.ID, "model", "m", "2"))
		}},
		{"DeleteResource", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.DeleteResource(ctx, f.res.Key())
		}},
		{"CreateToken", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.CreateToken(ctx, storeToken("ci-2", f.ws.ID))
		}},
		{"DeleteToken", true, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.DeleteToken(ctx, f.tok.ID)
		}},
		{"PurgeWorkspace", false, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.PurgeWorkspace(ctx, f.ws.ID)
		}},
		{"AppendChange", false, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.AppendChange(ctx, storeChange(f.ws.ID, tandem.KindNotebook, "a.ipynb", tandem.OpUpdate))
		}},
		{"CreateAdminToken", false, func(ctx context.Context, tx tandem.Tx, f *storeFixture) error {
			return tx.CreateToken(ctx, storeToken("admin", ""))
		}},
	}
}

// storeGuardCase checks that a write without a storeChange-log entry is refused with
// EInternal, naming the storeWorkspace, and leaves the store as it was.
func storeGuardCase(op storeWriteOp) func(*testing.T, tandem.Store) {
	return func(t *testing.T, s tandem.Store) {
		f := storeNewFixture(t, s)
		before := storeSnapshot(t, s)
		err := s.Update(t.Context(), func(tx tandem.Tx) error { return op.fn(t.Context(), tx, f) })
		storeWantCode(t, op.name+" without a change", err, tandem.EInternal)
		want := f.ws.ID
		if op.name == "CreateWorkspace" {
			want = "id-beta"
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error: got %q, want it to name workspace %s", err, want)
		}
		if after := storeSnapshot(t, s); after != before {
			t.Fatalf("store after a refused Update: got %s, want %s", after, before)
		}
	}
}

// storeViewCase checks that a write method fails in a View and writes nothing.
func storeViewCase(op storeWriteOp) func(*testing.T, tandem.Store) {
	return func(t *testing.T, s tandem.Store) {
		f := storeNewFixture(t, s)
		before := storeSnapshot(t, s)
		var opErr error
		err := s.View(t.Context(), func(tx tandem.Tx) error {
			opErr = op.fn(t.Context(), tx, f)
			return nil
		})
		if opErr == nil {
			t.Fatalf("%s in View: got no error (View returned %v), want an error", op.name, err)
		}
		if after := storeSnapshot(t, s); after != before {
			t.Fatalf("store after %s in View: got %s, want %s", op.name, after, before)
		}
	}
}
