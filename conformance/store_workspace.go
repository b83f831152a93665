package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// --- workspaces ---

func testStoreCreateWorkspace(t *testing.T, s tandem.Store) {
	want := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, want)
	got, err := storeFindWorkspace(t, s, want.ID)
	if err != nil {
		t.Fatalf("FindWorkspaceByID: got error %v, want nil", err)
	}
	storeJSONEqual(t, "FindWorkspaceByID", got, want)
}

func testStoreCreateWorkspaceConflictName(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	dup := storeWorkspace("alpha")
	dup.ID = "another-id"
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.CreateWorkspace(t.Context(), dup) })
	storeWantCode(t, "CreateWorkspace with a taken name", err, tandem.EConflict)
}

func testStoreCreateWorkspaceConflictID(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	dup := storeWorkspace("beta")
	dup.ID = "id-alpha"
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.CreateWorkspace(t.Context(), dup) })
	storeWantCode(t, "CreateWorkspace with a taken id", err, tandem.EConflict)
}

func testStoreCreateWorkspaceConflictDeleted(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storeSoftDelete(t, s, w)
	dup := storeWorkspace("alpha")
	dup.ID = "another-id"
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.CreateWorkspace(t.Context(), dup) })
	storeWantCode(t, "CreateWorkspace with the name of a soft-deleted workspace", err, tandem.EConflict)
}

func storeSoftDelete(t *testing.T, s tandem.Store, w *tandem.Workspace) {
	t.Helper()
	deleted, purge := storeT0.Add(time.Hour), storeT0.Add(14*24*time.Hour)
	w.DeletedAt, w.PurgeAt = &deleted, &purge
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.UpdateWorkspace(t.Context(), w); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpDelete))
	})
}

func testStoreCreateWorkspaceConflictUsable(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	dup := storeWorkspace("alpha")
	dup.ID = "another-id"
	storeUpdate(t, s, func(tx tandem.Tx) error {
		err := tx.CreateWorkspace(t.Context(), dup)
		storeWantCode(t, "CreateWorkspace with a taken name", err, tandem.EConflict)
		w := storeWorkspace("beta")
		if err := tx.CreateWorkspace(t.Context(), w); err != nil {
			return fmt.Errorf("CreateWorkspace after a conflict: %w", err)
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, w.Name, tandem.OpCreate))
	})
	if _, err := storeFindWorkspace(t, s, "id-beta"); err != nil {
		t.Fatalf("FindWorkspaceByID(id-beta): got error %v, want nil", err)
	}
}

func testStoreFindWorkspaceByIDNotFound(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	_, err := storeFindWorkspace(t, s, "id-missing")
	storeWantCode(t, "FindWorkspaceByID(id-missing)", err, tandem.ENotFound)
}

func testStoreFindWorkspaceByName(t *testing.T, s tandem.Store) {
	live, deleted := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, live)
	storeCreateWorkspace(t, s, deleted)
	storeSoftDelete(t, s, deleted)
	for _, want := range []*tandem.Workspace{live, deleted} {
		storeView(t, s, func(tx tandem.Tx) error {
			got, err := tx.FindWorkspaceByName(t.Context(), want.Name)
			if err != nil {
				t.Fatalf("FindWorkspaceByName(%s): got error %v, want nil", want.Name, err)
			}
			storeJSONEqual(t, "FindWorkspaceByName("+want.Name+")", got, want)
			return nil
		})
	}
}

func testStoreFindWorkspaceByNameNotFound(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	storeView(t, s, func(tx tandem.Tx) error {
		_, err := tx.FindWorkspaceByName(t.Context(), "Alpha")
		storeWantCode(t, "FindWorkspaceByName(Alpha)", err, tandem.ENotFound)
		return nil
	})
}

func storeListWorkspaces(t *testing.T, s tandem.Store, filter tandem.WorkspaceFilter) (list []*tandem.Workspace) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) (err error) {
		list, err = tx.ListWorkspaces(t.Context(), filter)
		return err
	})
	return list
}

func testStoreListWorkspacesOrder(t *testing.T, s tandem.Store) {
	for _, name := range []string{"beta", "alpha", "Zulu", "gamma-2", "gamma_1"} {
		storeCreateWorkspace(t, s, storeWorkspace(name))
	}
	got := storeNames(storeListWorkspaces(t, s, tandem.WorkspaceFilter{}), storeWorkspaceName)
	want := []string{"Zulu", "alpha", "beta", "gamma-2", "gamma_1"} // byte order
	storeJSONEqual(t, "ListWorkspaces names", got, want)
}

func testStoreListWorkspacesDeleted(t *testing.T, s tandem.Store) {
	a, b, c := storeWorkspace("alpha"), storeWorkspace("beta"), storeWorkspace("gamma")
	for _, w := range []*tandem.Workspace{a, b, c} {
		storeCreateWorkspace(t, s, w)
	}
	storeSoftDelete(t, s, c)
	storeSoftDelete(t, s, a)
	storeJSONEqual(t, "ListWorkspaces live", storeNames(storeListWorkspaces(t, s, tandem.WorkspaceFilter{}), storeWorkspaceName), []string{"beta"})
	deleted := storeListWorkspaces(t, s, tandem.WorkspaceFilter{Deleted: true})
	storeJSONEqual(t, "ListWorkspaces deleted", deleted, []*tandem.Workspace{a, c})
}

func testStoreListWorkspacesID(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	storeJSONEqual(t, "ListWorkspaces ID=id-beta", storeListWorkspaces(t, s, tandem.WorkspaceFilter{ID: b.ID}), []*tandem.Workspace{b})
	storeSoftDelete(t, s, a)
	storeJSONEqual(t, "ListWorkspaces ID=id-alpha live", storeNames(storeListWorkspaces(t, s, tandem.WorkspaceFilter{ID: a.ID}), storeWorkspaceName), []string{})
	storeJSONEqual(t, "ListWorkspaces ID=id-alpha deleted", storeListWorkspaces(t, s, tandem.WorkspaceFilter{ID: a.ID, Deleted: true}), []*tandem.Workspace{a})
}

func testStoreUpdateWorkspace(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	want := *w
	want.Name, want.DisplayName, want.Description = "alpha-2", "", "new words"
	want.Tags = map[string]string{"stage": "prod"}
	want.UpdatedAt = storeT0.Add(time.Minute)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.UpdateWorkspace(t.Context(), &want); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindWorkspace, want.Name, tandem.OpUpdate))
	})
	got, err := storeFindWorkspace(t, s, w.ID)
	if err != nil {
		t.Fatalf("FindWorkspaceByID: got error %v, want nil", err)
	}
	storeJSONEqual(t, "FindWorkspaceByID after UpdateWorkspace", got, &want)
}

func testStoreUpdateWorkspaceNotFound(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	ghost := storeWorkspace("ghost")
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.UpdateWorkspace(t.Context(), ghost) })
	storeWantCode(t, "UpdateWorkspace of a missing workspace", err, tandem.ENotFound)
}

func testStoreUpdateWorkspaceConflictName(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	before := storeSnapshot(t, s)
	renamed := *b
	renamed.Name = "alpha"
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.UpdateWorkspace(t.Context(), &renamed); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(b.ID, tandem.KindWorkspace, b.Name, tandem.OpUpdate))
	})
	storeWantCode(t, "UpdateWorkspace to a taken name", err, tandem.EConflict)
	if after := storeSnapshot(t, s); after != before {
		t.Fatalf("store after a failed rename: got %s, want %s", after, before)
	}
}

func testStoreWorkspaceTimes(t *testing.T, s tandem.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2026, 7, 1, 23, 59, 59, 999999999, zone)
	w := storeWorkspace("alpha")
	w.CreatedAt, w.UpdatedAt = in, in.Add(time.Nanosecond*1500)
	deleted := in.Add(time.Hour)
	w.DeletedAt = &deleted
	storeCreateWorkspace(t, s, w)
	got, err := storeFindWorkspace(t, s, w.ID)
	if err != nil {
		t.Fatalf("FindWorkspaceByID: got error %v, want nil", err)
	}
	want := time.Date(2026, 7, 1, 18, 29, 59, 999999000, time.UTC)
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want},
		{"UpdatedAt", got.UpdatedAt, want.Add(2 * time.Microsecond)},
		{"DeletedAt", storeDerefTime(got.DeletedAt), want.Add(time.Hour)},
	} {
		if !c.got.Equal(c.want) || c.got.Location() != time.UTC {
			t.Errorf("%s: got %s, want %s", c.name, c.got.Format(time.RFC3339Nano+" MST"), c.want.Format(time.RFC3339Nano+" MST"))
		}
	}
	if got.PurgeAt != nil {
		t.Errorf("PurgeAt: got %v, want nil", got.PurgeAt)
	}
}

func storeDerefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func testStorePurgeWorkspace(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	storePutResource(t, s, storeResource(a.ID, "model", "m", "1"))
	storePutResource(t, s, storeResource(b.ID, "model", "m", "1"))
	storeCreateToken(t, s, storeToken("a-token", a.ID))
	storeCreateToken(t, s, storeToken("b-token", b.ID))
	storeCreateToken(t, s, storeToken("admin", ""))
	storeSoftDelete(t, s, a)
	storeUpdate(t, s, func(tx tandem.Tx) error { return tx.PurgeWorkspace(t.Context(), a.ID) })

	_, err := storeFindWorkspace(t, s, a.ID)
	storeWantCode(t, "FindWorkspaceByID after purge", err, tandem.ENotFound)
	storeView(t, s, func(tx tandem.Tx) error {
		res, err := tx.ListResources(t.Context(), tandem.ResourceFilter{WorkspaceID: a.ID})
		if err != nil || len(res) != 0 {
			t.Fatalf("ListResources after purge: got %d resources, error %v; want 0, nil", len(res), err)
		}
		toks, err := tx.ListTokens(t.Context(), tandem.TokenFilter{})
		if err != nil {
			return err
		}
		storeJSONEqual(t, "ListTokens after purge", storeNames(toks, storeTokenName), []string{"admin", "b-token"})
		_, err = tx.FindTokenByHash(t.Context(), "hash-a-token")
		storeWantCode(t, "FindTokenByHash of a purged workspace's token", err, tandem.ENotFound)
		return nil
	})
	if got := storeListChanges(t, s, a.ID, 0, 0); len(got) != 0 {
		t.Fatalf("ListChanges after purge: got seqs %v, want none", storeSeqs(got))
	}
	if got := storeLastSeq(t, s, a.ID); got != 0 {
		t.Fatalf("LastChangeSeq after purge: got %d, want 0", got)
	}
	if got := storeLastSeq(t, s, b.ID); got != 3 {
		t.Fatalf("LastChangeSeq of the other workspace: got %d, want 3", got)
	}
	// The name and the id are free again, and the new log starts at 1.
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	storeJSONEqual(t, "seqs of the recreated workspace", storeSeqs(storeListChanges(t, s, a.ID, 0, 0)), []int64{1})
}

func testStorePurgeAfterWrite(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", "m", "1")); err != nil {
			return err
		}
		if err := tx.AppendChange(t.Context(), storeChange(w.ID, "model", "m", tandem.OpCreate)); err != nil {
			return err
		}
		return tx.PurgeWorkspace(t.Context(), w.ID)
	})
	_, err := storeFindWorkspace(t, s, w.ID)
	storeWantCode(t, "FindWorkspaceByID after purge", err, tandem.ENotFound)
}

func testStorePurgeWorkspaceNotFound(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.PurgeWorkspace(t.Context(), "id-missing") })
	storeWantCode(t, "PurgeWorkspace(id-missing)", err, tandem.ENotFound)
}
