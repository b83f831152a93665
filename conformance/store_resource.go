package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// --- resources ---

func storeFindResource(t *testing.T, s tandem.Store, key tandem.ResourceKey) (r *tandem.Resource, err error) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) error {
		r, err = tx.FindResource(t.Context(), key)
		return nil
	})
	return r, err
}

func storeListResources(t *testing.T, s tandem.Store, filter tandem.ResourceFilter) (list []*tandem.Resource) {
	t.Helper()
	storeView(t, s, func(tx tandem.Tx) (err error) {
		list, err = tx.ListResources(t.Context(), filter)
		return err
	})
	return list
}

func testStorePutResource(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	want := storeResource(w.ID, "model", "resnet", "3")
	storePutResource(t, s, want)
	got, err := storeFindResource(t, s, want.Key())
	if err != nil {
		t.Fatalf("FindResource: got error %v, want nil", err)
	}
	storeJSONEqual(t, "FindResource", got, want)
}

func testStorePutResourceReplace(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storePutResource(t, s, storeResource(w.ID, "compute", "cpu", ""))
	want := storeResource(w.ID, "compute", "cpu", "")
	want.Spec = json.RawMessage(`{"size":"Standard_DS3_v2","min_instances":0}`)
	want.Blobs = nil
	want.UpdatedAt = storeT0.Add(time.Hour)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), want); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, "compute", "cpu", tandem.OpUpdate))
	})
	storeJSONEqual(t, "ListResources after replace", storeListResources(t, s, tandem.ResourceFilter{WorkspaceID: w.ID}), []*tandem.Resource{want})
}

func testStorePutResourceNoWorkspace(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.PutResource(t.Context(), storeResource("id-missing", "model", "m", "1")); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange("id-missing", "model", "m", tandem.OpCreate))
	})
	storeWantCode(t, "PutResource in a missing workspace", err, tandem.ENotFound)
}

func testStoreResourceJSON(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	spec := `{ "z": 1, "a": [1, 2.50, -3e-7, 12345678901234567890],
		"text": "caf\u00e9 ☕ \"quoted\" \\ <tag>", "nested": {"null": null, "t": true, "empty": {}} }`
	r := storeResource(w.ID, "environment", "näme-ü", "1.0.0")
	r.Spec = json.RawMessage(spec)
	r.Blobs = []tandem.BlobRef{{Key: "a/b", SHA256: strings.Repeat("0f", 32), Size: 1 << 40}, {Key: "a/c", SHA256: strings.Repeat("e1", 32)}}
	storePutResource(t, s, r)
	got, err := storeFindResource(t, s, r.Key())
	if err != nil {
		t.Fatalf("FindResource: got error %v, want nil", err)
	}
	var gotSpec, wantSpec bytes.Buffer
	if err := json.Compact(&gotSpec, got.Spec); err != nil {
		t.Fatalf("stored Spec is not JSON: %v: %s", err, got.Spec)
	}
	json.Compact(&wantSpec, []byte(spec))
	if gotSpec.String() != wantSpec.String() {
		t.Fatalf("Spec: got %s, want %s", gotSpec.String(), wantSpec.String())
	}
	storeJSONEqual(t, "Blobs", got.Blobs, r.Blobs)
	storeJSONEqual(t, "Name", got.Name, "näme-ü")
}

func testStoreFindResourceNotFound(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storePutResource(t, s, storeResource(w.ID, "model", "m", "1"))
	for _, key := range []tandem.ResourceKey{
		{WorkspaceID: w.ID, Kind: "model", Name: "m", Version: "2"},
		{WorkspaceID: w.ID, Kind: "data", Name: "m", Version: "1"},
		{WorkspaceID: w.ID, Kind: "model", Name: "M", Version: "1"},
		{WorkspaceID: "id-other", Kind: "model", Name: "m", Version: "1"},
	} {
		_, err := storeFindResource(t, s, key)
		storeWantCode(t, fmt.Sprintf("FindResource(%+v)", key), err, tandem.ENotFound)
	}
}

func testStoreFindResourceVersions(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	v1, v2, unversioned := storeResource(w.ID, "model", "m", "1"), storeResource(w.ID, "model", "m", "2"), storeResource(w.ID, "model", "m", "")
	v2.Spec = json.RawMessage(`{"v":2}`)
	unversioned.Spec = json.RawMessage(`{"v":0}`)
	for _, r := range []*tandem.Resource{v1, v2, unversioned} {
		storePutResource(t, s, r)
	}
	for _, want := range []*tandem.Resource{v1, v2, unversioned} {
		got, err := storeFindResource(t, s, want.Key())
		if err != nil {
			t.Fatalf("FindResource(version %q): got error %v, want nil", want.Version, err)
		}
		storeJSONEqual(t, fmt.Sprintf("FindResource(version %q)", want.Version), got, want)
	}
}

func testStoreDeleteResource(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	gone, kept := storeResource(w.ID, "model", "m", "1"), storeResource(w.ID, "model", "m", "2")
	storePutResource(t, s, gone)
	storePutResource(t, s, kept)
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.DeleteResource(t.Context(), gone.Key()); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, "model", "m", tandem.OpDelete))
	})
	_, err := storeFindResource(t, s, gone.Key())
	storeWantCode(t, "FindResource after DeleteResource", err, tandem.ENotFound)
	storeJSONEqual(t, "ListResources after DeleteResource", storeListResources(t, s, tandem.ResourceFilter{WorkspaceID: w.ID}), []*tandem.Resource{kept})
}

func testStoreDeleteResourceNotFound(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storePutResource(t, s, storeResource(w.ID, "model", "m", "1"))
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.DeleteResource(t.Context(), tandem.ResourceKey{WorkspaceID: w.ID, Kind: "model", Name: "m", Version: "9"}); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, "model", "m", tandem.OpDelete))
	})
	storeWantCode(t, "DeleteResource of a missing version", err, tandem.ENotFound)
}

func testStoreListResourcesOrder(t *testing.T, s tandem.Store) {
	w, other := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, w)
	storeCreateWorkspace(t, s, other)
	storePutResource(t, s, storeResource(other.ID, "data", "a", "1"))
	for _, key := range [][3]string{
		{"model", "b", "2"}, {"model", "b", "10"}, {"data", "z", ""}, {"model", "B", "1"},
		{"model", "é", "1"}, {"model", "a", "1"}, {"model", "b", "1"},
	} {
		storePutResource(t, s, storeResource(w.ID, tandem.Kind(key[0]), key[1], key[2]))
	}
	got := storeNames(storeListResources(t, s, tandem.ResourceFilter{WorkspaceID: w.ID}), storeResourceName)
	want := []string{"data/z:", "model/B:1", "model/a:1", "model/b:1", "model/b:10", "model/b:2", "model/é:1"}
	storeJSONEqual(t, "ListResources order", got, want)
}

func testStoreListResourcesFilter(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	for _, key := range [][3]string{{"model", "m", "1"}, {"model", "m", "2"}, {"model", "n", "1"}, {"data", "m", "1"}} {
		storePutResource(t, s, storeResource(w.ID, tandem.Kind(key[0]), key[1], key[2]))
	}
	for _, c := range []struct {
		filter tandem.ResourceFilter
		want   []string
	}{
		{tandem.ResourceFilter{Kind: "model"}, []string{"model/m:1", "model/m:2", "model/n:1"}},
		{tandem.ResourceFilter{Name: "m"}, []string{"data/m:1", "model/m:1", "model/m:2"}},
		{tandem.ResourceFilter{Kind: "model", Name: "m"}, []string{"model/m:1", "model/m:2"}},
		{tandem.ResourceFilter{Kind: "model", Limit: 2}, []string{"model/m:1", "model/m:2"}},
		{tandem.ResourceFilter{Limit: 1}, []string{"data/m:1"}},
		{tandem.ResourceFilter{Kind: "job"}, []string{}},
		{tandem.ResourceFilter{WorkspaceID: "id-other"}, []string{}},
	} {
		if c.filter.WorkspaceID == "" {
			c.filter.WorkspaceID = w.ID
		}
		got := storeNames(storeListResources(t, s, c.filter), storeResourceName)
		storeJSONEqual(t, fmt.Sprintf("ListResources(%+v)", c.filter), got, c.want)
	}
}

func testStoreListResourcesPrefix(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	for _, name := range []string{"ab", "abc", "AB", "abd%", "b", "aXb", "éa", "éb", "j/x", "j/", "j0", "j.k/x", "j/\u00ff"} {
		storePutResource(t, s, storeResource(w.ID, "model", name, ""))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"ab", []string{"model/ab:", "model/abc:", "model/abd%:"}},
		{"abd%", []string{"model/abd%:"}},
		{"a_", []string{}},
		{"a%", []string{}},
		{"é", []string{"model/éa:", "model/éb:"}},
		{"abcd", []string{}},
		// Names that sort right after the prefix's range, and one past ASCII in it.
		{"j/", []string{"model/j/:", "model/j/x:", "model/j/\u00ff:"}},
		{"j", []string{"model/j.k/x:", "model/j/:", "model/j/x:", "model/j/\u00ff:", "model/j0:"}},
	} {
		got := storeNames(storeListResources(t, s, tandem.ResourceFilter{WorkspaceID: w.ID, NamePrefix: c.prefix}), storeResourceName)
		storeJSONEqual(t, fmt.Sprintf("ListResources(NamePrefix %q)", c.prefix), got, c.want)
	}
}

// --- tokens ---

// storeTokenView is what a store must return of a storeToken. (Token.Workspace is
// for display and filled by the layer above.)
type storeTokenView struct {
	ID, Name, WorkspaceID, Hash string
	CreatedAt                   time.Time
}

func storeTokenViewOf(t *tandem.Token) storeTokenView {
	return storeTokenView{t.ID, t.Name, t.WorkspaceID, t.Hash, t.CreatedAt}
}

func testStoreCreateToken(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	for _, want := range []*tandem.Token{storeToken("admin", ""), storeToken("ci", w.ID)} {
		storeCreateToken(t, s, want)
		storeView(t, s, func(tx tandem.Tx) error {
			got, err := tx.FindTokenByHash(t.Context(), want.Hash)
			if err != nil {
				t.Fatalf("FindTokenByHash(%s): got error %v, want nil", want.Hash, err)
			}
			storeJSONEqual(t, "FindTokenByHash", storeTokenViewOf(got), storeTokenViewOf(want))
			return nil
		})
	}
}

func testStoreCreateTokenConflictName(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	dup := storeToken("admin", "")
	dup.ID, dup.Hash = "other-id", "other-hash"
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.CreateToken(t.Context(), dup) })
	storeWantCode(t, "CreateToken with a taken name", err, tandem.EConflict)
}

func testStoreCreateTokenConflictHash(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	dup := storeToken("other", "")
	dup.Hash = "hash-admin"
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.CreateToken(t.Context(), dup) })
	storeWantCode(t, "CreateToken with a taken hash", err, tandem.EConflict)
}

func testStoreCreateTokenNoWorkspace(t *testing.T, s tandem.Store) {
	storeCreateWorkspace(t, s, storeWorkspace("alpha"))
	err := s.Update(t.Context(), func(tx tandem.Tx) error {
		if err := tx.CreateToken(t.Context(), storeToken("ci", "id-missing")); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange("id-missing", tandem.KindToken, "ci", tandem.OpCreate))
	})
	storeWantCode(t, "CreateToken in a missing workspace", err, tandem.ENotFound)
}

func testStoreCreateTokenConflictUsable(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	storeUpdate(t, s, func(tx tandem.Tx) error {
		dup := storeToken("admin", "")
		dup.ID, dup.Hash = "tok-admin-2", "hash-admin-2"
		storeWantCode(t, "CreateToken with a taken name", tx.CreateToken(t.Context(), dup), tandem.EConflict)
		dup.Name = "admin-2"
		return tx.CreateToken(t.Context(), dup)
	})
	storeView(t, s, func(tx tandem.Tx) error {
		list, err := tx.ListTokens(t.Context(), tandem.TokenFilter{})
		storeJSONEqual(t, "ListTokens", storeNames(list, storeTokenName), []string{"admin", "admin-2"})
		return err
	})
}

func testStoreFindTokenNotFound(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	storeView(t, s, func(tx tandem.Tx) error {
		_, err := tx.FindTokenByHash(t.Context(), "hash-other")
		storeWantCode(t, "FindTokenByHash(hash-other)", err, tandem.ENotFound)
		return nil
	})
}

func testStoreListTokens(t *testing.T, s tandem.Store) {
	a, b := storeWorkspace("alpha"), storeWorkspace("beta")
	storeCreateWorkspace(t, s, a)
	storeCreateWorkspace(t, s, b)
	for _, tok := range []*tandem.Token{storeToken("zeta", ""), storeToken("b1", b.ID), storeToken("a2", a.ID), storeToken("a1", a.ID), storeToken("Admin", "")} {
		storeCreateToken(t, s, tok)
	}
	for _, c := range []struct {
		filter tandem.TokenFilter
		want   []string
	}{
		{tandem.TokenFilter{}, []string{"Admin", "a1", "a2", "b1", "zeta"}},
		{tandem.TokenFilter{WorkspaceID: a.ID}, []string{"a1", "a2"}},
		{tandem.TokenFilter{Name: "b1"}, []string{"b1"}},
		{tandem.TokenFilter{WorkspaceID: a.ID, Name: "b1"}, []string{}},
		{tandem.TokenFilter{Name: "missing"}, []string{}},
	} {
		storeView(t, s, func(tx tandem.Tx) error {
			list, err := tx.ListTokens(t.Context(), c.filter)
			if err != nil {
				t.Fatalf("ListTokens(%+v): got error %v, want nil", c.filter, err)
			}
			storeJSONEqual(t, fmt.Sprintf("ListTokens(%+v)", c.filter), storeNames(list, storeTokenName), c.want)
			return nil
		})
	}
}

func testStoreDeleteToken(t *testing.T, s tandem.Store) {
	w := storeWorkspace("alpha")
	storeCreateWorkspace(t, s, w)
	storeCreateToken(t, s, storeToken("admin", ""))
	storeCreateToken(t, s, storeToken("ci", w.ID))
	storeUpdate(t, s, func(tx tandem.Tx) error { return tx.DeleteToken(t.Context(), "tok-admin") })
	storeUpdate(t, s, func(tx tandem.Tx) error {
		if err := tx.DeleteToken(t.Context(), "tok-ci"); err != nil {
			return err
		}
		return tx.AppendChange(t.Context(), storeChange(w.ID, tandem.KindToken, "ci", tandem.OpDelete))
	})
	storeView(t, s, func(tx tandem.Tx) error {
		for _, hash := range []string{"hash-admin", "hash-ci"} {
			_, err := tx.FindTokenByHash(t.Context(), hash)
			storeWantCode(t, "FindTokenByHash after DeleteToken", err, tandem.ENotFound)
		}
		return nil
	})
}

func testStoreDeleteTokenNotFound(t *testing.T, s tandem.Store) {
	storeCreateToken(t, s, storeToken("admin", ""))
	err := s.Update(t.Context(), func(tx tandem.Tx) error { return tx.DeleteToken(t.Context(), "tok-missing") })
	storeWantCode(t, "DeleteToken(tok-missing)", err, tandem.ENotFound)
}
