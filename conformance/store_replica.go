package conformance

import (
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// --- replicated entries and region settings ---

// storeReplicated returns an entry as a peer region would send it.
func storeReplicated(wsID string, seq int64, name string) *tandem.Change {
	return &tandem.Change{
		WorkspaceID: wsID, Seq: seq, Kind: "model", Name: name, Version: "1", Op: tandem.OpCreate,
		Origin: "westus", Epoch: 3, Time: storeT0.Add(time.Duration(seq) * time.Second),
	}
}

func testStoreApplyChangeBatch(t *testing.T, s tandem.Store) {
	w := storeWorkspace("replica")
	storeCreateWorkspace(t, s, w) // seq 1
	storeUpdate(t, s, func(tx tandem.Tx) error {
		for seq := int64(2); seq <= 4; seq++ {
			name := "m" + string(rune('0'+seq))
			if err := tx.PutResource(t.Context(), storeResource(w.ID, "model", name, "1")); err != nil {
				return err
			}
			if err := tx.ApplyChange(t.Context(), storeReplicated(w.ID, seq, name)); err != nil {
				return err
			}
		}
		return nil
	})
	got := storeListChanges(t, s, w.ID, 1, 0)
	if len(got) != 3 || got[0].Seq != 2 || got[2].Seq != 4 || got[0].Origin != "westus" || got[0].Epoch != 3 {
		t.Fatalf("applied entries: got %d (first %+v), want seqs 2..4 from westus at epoch 3", len(got), got[0])
	}
	if last := storeLastSeq(t, s, w.ID); last != 4 {
		t.Fatalf("LastChangeSeq: got %d, want 4", last)
	}
	// A local write continues after the applied entries.
	c := &tandem.Change{WorkspaceID: w.ID, Kind: "model", Name: "local", Op: tandem.OpCreate}
	storeUpdate(t, s, func(tx tandem.Tx) error { return tx.AppendChange(t.Context(), c) })
	if c.Seq != 5 {
		t.Fatalf("AppendChange after ApplyChange: got seq %d, want 5", c.Seq)
	}
}

func testStoreApplyChangeGap(t *testing.T, s tandem.Store) {
	w := storeWorkspace("gap")
	storeCreateWorkspace(t, s, w)
	for _, seq := range []int64{1, 3} { // a repeat, then a gap
		err := s.Update(t.Context(), func(tx tandem.Tx) error {
			return tx.ApplyChange(t.Context(), storeReplicated(w.ID, seq, "m"))
		})
		if tandem.ErrorCode(err) != tandem.EConflict {
			t.Fatalf("ApplyChange seq %d after 1: got %v, want Conflict", seq, err)
		}
	}
	if last := storeLastSeq(t, s, w.ID); last != 1 {
		t.Fatalf("LastChangeSeq after refused applies: got %d, want 1", last)
	}
}

func testStoreApplyMixedWithLocal(t *testing.T, s tandem.Store) {
	w := storeWorkspace("mixed")
	storeCreateWorkspace(t, s, w)
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.ApplyChange(t.Context(), storeReplicated(w.ID, 2, "a")); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), &tandem.Change{WorkspaceID: w.ID, Kind: "model", Name: "b", Op: tandem.OpCreate})
	})
	if tandem.ErrorCode(err) != tandem.EInternal {
		t.Fatalf("a local entry beside applied ones in one transaction: got %v, want Internal", err)
	}
}

func testStoreSettings(t *testing.T, s tandem.Store) {
	storeUpdate(t, s, func(tx tandem.Tx) error {
		for _, k := range []string{"pair/b", "pair/a", "peer/x", "pairs"} {
			if err := tx.PutSetting(t.Context(), k, []byte(`{"k":"`+k+`"}`)); err != nil {
				return err
			}
		}
		return tx.PutSetting(t.Context(), "pair/a", []byte(`{"k":"replaced"}`))
	})
	err := s.View(t.Context(), func(tx tandem.Tx) error {
		v, err := tx.GetSetting(t.Context(), "pair/a")
		if err != nil || string(v) != `{"k":"replaced"}` {
			t.Fatalf("GetSetting: got %s, %v; want the replaced value", v, err)
		}
		list, err := tx.ListSettings(t.Context(), "pair/")
		if err != nil || len(list) != 2 || list[0].Key != "pair/a" || list[1].Key != "pair/b" {
			t.Fatalf("ListSettings(pair/): got %+v, %v; want pair/a, pair/b", list, err)
		}
		if _, err := tx.GetSetting(t.Context(), "nope"); tandem.ErrorCode(err) != tandem.ENotFound {
			t.Fatalf("GetSetting of a missing key: got %v, want NotFound", err)
		}
		if err := tx.PutSetting(t.Context(), "x", nil); err == nil {
			t.Fatal("PutSetting in a View: got nil, want an error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.DeleteSetting(t.Context(), "pair/a"); err != nil {
			return err
		}
		return tx.DeleteSetting(t.Context(), "pair/a") // missing: not an error
	})
	_ = s.View(t.Context(), func(tx tandem.Tx) error {
		if _, err := tx.GetSetting(t.Context(), "pair/a"); tandem.ErrorCode(err) != tandem.ENotFound {
			t.Fatalf("GetSetting after delete: got %v, want NotFound", err)
		}
		return nil
	})
}
