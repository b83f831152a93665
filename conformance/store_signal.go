package conformance

import (
	"errors"
	"testing"

	"github.com/tandemml/tandem"
)

// testStoreChangeSignal holds a store that implements tandem.ChangeNotifier
// to its contract: the signal of a workspace fires at the commit of an
// entry of that workspace, not at another workspace's, not at a rollback.
func testStoreChangeSignal(t *testing.T, s tandem.Store) {
	n, ok := s.(tandem.ChangeNotifier)
	if !ok {
		t.Skip("the store does not implement tandem.ChangeNotifier")
	}
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	fired := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}

	sig := n.ChangeSignal(a.ID)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		return tx.AppendChange(t.Context(), storeChange(b.ID, "model", "m", tandem.OpCreate))
	})
	if fired(sig) {
		t.Fatal("a commit to beta's log fired alpha's signal")
	}
	errNo := errors.New("roll back")
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.AppendChange(t.Context(), storeChange(a.ID, "model", "m", tandem.OpCreate)); err != nil {
			return err
		}
		return errNo
	})
	if !errors.Is(err, errNo) {
		t.Fatalf("Update: got %v, want the rollback error", err)
	}
	if fired(sig) {
		t.Fatal("a rolled-back entry fired alpha's signal")
	}
	storeUpdate(t, s, func(tx tandem.Tx) error {
		return tx.AppendChange(t.Context(), storeChange(a.ID, "model", "m", tandem.OpCreate))
	})
	if !fired(sig) {
		t.Fatal("a committed entry of alpha did not fire alpha's signal")
	}
	if again := n.ChangeSignal(a.ID); fired(again) {
		t.Fatal("a signal taken after the commit has already fired")
	}
}
