package secrets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/app/apptest"
	"github.com/tandemml/tandem/vault"
)

// plaintext returns a random value that cannot appear anywhere by chance.
func plaintext(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 16)
	rand.Read(b)
	return []byte("tandem-test-secret-" + hex.EncodeToString(b))
}

// leaks returns the forms in which a value might leak: as it is, and in
// base64 (how JSON encodes []byte).
func leaks(value []byte) [][]byte {
	return [][]byte{value, []byte(base64.StdEncoding.EncodeToString(value)), []byte(base64.RawURLEncoding.EncodeToString(value))}
}

func wantNoLeak(t *testing.T, where string, data []byte, values ...[]byte) {
	t.Helper()
	for _, v := range values {
		for _, l := range leaks(v) {
			if bytes.Contains(data, l) {
				t.Fatalf("%s contains the secret value (as %q)", where, l)
			}
		}
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.b.Bytes())
}

func mustSet(t *testing.T, r *apptest.Region, ctx context.Context, ws, name string, value []byte) *tandem.Secret {
	t.Helper()
	sec, err := r.SetSecret(ctx, ws, name, value)
	if err != nil {
		t.Fatalf("SetSecret(%s, %s): %v", ws, name, err)
	}
	return sec
}

func wantValue(t *testing.T, r *apptest.Region, ctx context.Context, ws, name string, want []byte) {
	t.Helper()
	got, err := r.GetSecretValue(ctx, ws, name)
	if err != nil {
		t.Fatalf("GetSecretValue(%s, %s): %v", ws, name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GetSecretValue(%s, %s): got %q, want %q", ws, name, got, want)
	}
}

func TestSecrets(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		logs := &lockedBuffer{}
		f.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		ws := apptest.MustCreate(t, f.Region, "ws1")
		v1, v2, other := plaintext(t), plaintext(t), plaintext(t)

		sec := mustSet(t, f.Region, ctx, "ws1", "storage-key", v1)
		if sec.Name != "storage-key" || sec.Version != 1 || sec.KeyID != f.Vault.KeyID() || !sec.CreatedAt.Equal(f.Clock.T) {
			t.Fatalf("SetSecret: got %+v, want version 1 under key %s created now", sec, f.Vault.KeyID())
		}
		mustSet(t, f.Region, ctx, "ws1", "a-first", other)
		wantValue(t, f.Region, ctx, "ws1", "storage-key", v1)

		created := f.Clock.T
		f.Clock.Advance(time.Minute)
		sec = mustSet(t, f.Region, ctx, "ws1", "storage-key", v2)
		if sec.Version != 2 || !sec.CreatedAt.Equal(created) || !sec.UpdatedAt.Equal(f.Clock.T) {
			t.Fatalf("second SetSecret: got %+v, want version 2, created %v, updated %v", sec, created, f.Clock.T)
		}
		wantValue(t, f.Region, ctx, "ws1", "storage-key", v2)

		found, err := f.FindSecret(ctx, "ws1", "storage-key")
		if err != nil || found.Version != 2 || found.Name != "storage-key" {
			t.Fatalf("FindSecret: got %+v, %v", found, err)
		}
		list, err := f.ListSecrets(ctx, "ws1")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		if !slices.Equal(names, []string{"a-first", "storage-key"}) {
			t.Fatalf("ListSecrets: got %v, want [a-first storage-key]", names)
		}
		meta, _ := json.Marshal(list)
		wantNoLeak(t, "the secret list", meta, v1, v2, other)

		if err := f.DeleteSecret(ctx, "ws1", "storage-key"); err != nil {
			t.Fatal(err)
		}
		_, err = f.FindSecret(ctx, "ws1", "storage-key")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.GetSecretValue(ctx, "ws1", "storage-key")
		apptest.WantCode(t, err, tandem.ENotFound)
		err = f.DeleteSecret(ctx, "ws1", "storage-key")
		apptest.WantCode(t, err, tandem.ENotFound)
		if !strings.Contains(err.Error(), `secret "storage-key" not found in workspace "ws1"`) {
			t.Fatalf("got %q, want a message naming the secret and the workspace", err)
		}
		_, err = f.SetSecret(ctx, "missing", "x", v1)
		apptest.WantCode(t, err, tandem.ENotFound)

		// One change per write; bodies carry the sealed value only.
		var ops []string
		for _, c := range apptest.Changes(t, f.Region, ws.ID) {
			if c.Kind != tandem.KindSecret {
				continue
			}
			ops = append(ops, c.Name+":"+string(c.Op))
			wantNoLeak(t, "change body "+c.Name, c.Body, v1, v2, other)
			if c.Op != tandem.OpDelete {
				var res tandem.Resource
				if err := json.Unmarshal(c.Body, &res); err != nil || res.Kind != tandem.KindSecret || !strings.Contains(string(res.Spec), `"ciphertext"`) {
					t.Fatalf("change body %s: want the resource with its sealed spec (%v)", c.Body, err)
				}
			} else if len(c.Body) != 0 {
				t.Fatalf("delete change has body %s, want none", c.Body)
			}
		}
		want := []string{"storage-key:create", "a-first:create", "storage-key:update", "storage-key:delete"}
		if !slices.Equal(ops, want) {
			t.Fatalf("got secret changes %v, want %v", ops, want)
		}
		// The stored resource holds no plaintext either.
		err = f.Store.View(ctx, func(tx tandem.Tx) error {
			res, err := tx.FindResource(ctx, tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: "a-first"})
			if err == nil {
				data, _ := json.Marshal(res)
				wantNoLeak(t, "the stored resource", data, other)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantNoLeak(t, "the region's log", logs.Bytes(), v1, v2, other)
		if !bytes.Contains(logs.Bytes(), []byte("secret read")) {
			t.Fatalf("no audit entry for secret reads in the log:\n%s", logs.Bytes())
		}
	})
}

func TestSecrets_ErrInvalid(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		apptest.MustCreate(t, f.Region, "ws1")
		for _, name := range []string{"", "a_b", "a.b", "has space", "a/b", "café", strings.Repeat("a", 128)} {
			_, err := f.SetSecret(ctx, "ws1", name, []byte("v"))
			apptest.WantCode(t, err, tandem.EInvalid)
			if !strings.Contains(err.Error(), "1 to 127 characters, letters, digits and '-'") {
				t.Fatalf("name %q: got %q, want a message explaining the rule", name, err)
			}
			for _, call := range []func() error{
				func() error { _, err := f.FindSecret(ctx, "ws1", name); return err },
				func() error { _, err := f.GetSecretValue(ctx, "ws1", name); return err },
				func() error { return f.DeleteSecret(ctx, "ws1", name) },
			} {
				apptest.WantCode(t, call(), tandem.EInvalid)
			}
		}
		for _, name := range []string{"a", "A-1", "-", "0", strings.Repeat("z", 127)} {
			mustSet(t, f.Region, ctx, "ws1", name, []byte("v"))
		}
		_, err := f.SetSecret(ctx, "ws1", "empty", nil)
		apptest.WantCode(t, err, tandem.EInvalid)
		_, err = f.SetSecret(ctx, "ws1", "big", make([]byte, tandem.MaxSecretValue+1))
		apptest.WantCode(t, err, tandem.ETooLarge)
		max := bytes.Repeat([]byte{0xff}, tandem.MaxSecretValue)
		mustSet(t, f.Region, ctx, "ws1", "max", max)
		wantValue(t, f.Region, ctx, "ws1", "max", max)
		if _, err := f.FindSecret(ctx, "ws1", "big"); !tandem.IsCode(err, tandem.ENotFound) {
			t.Fatalf("a refused value was stored: %v", err)
		}
	})
}

func TestSecrets_Access(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		apptest.MustCreate(t, f.Region, "ws1")
		apptest.MustCreate(t, f.Region, "ws2")
		mustSet(t, f.Region, ctx, "ws2", "theirs", []byte("v2"))
		tok, secret, err := f.CreateToken(ctx, "ci", "ws1")
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.Authenticate(ctx, secret)
		if err != nil || p.ID != tok.ID {
			t.Fatal(err)
		}
		sctx := tandem.NewContextWithPrincipal(ctx, p)

		mustSet(t, f.Region, sctx, "ws1", "mine", []byte("v1"))
		wantValue(t, f.Region, sctx, "ws1", "mine", []byte("v1"))
		if l, err := f.ListSecrets(sctx, "ws1"); err != nil || len(l) != 1 {
			t.Fatalf("scoped ListSecrets: got %v, %v", l, err)
		}
		if err := f.DeleteSecret(sctx, "ws1", "mine"); err != nil {
			t.Fatal(err)
		}
		// Another workspace's secrets are invisible to the token.
		_, err = f.SetSecret(sctx, "ws2", "theirs", []byte("x"))
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.GetSecretValue(sctx, "ws2", "theirs")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.FindSecret(sctx, "ws2", "theirs")
		apptest.WantCode(t, err, tandem.ENotFound)
		_, err = f.ListSecrets(sctx, "ws2")
		apptest.WantCode(t, err, tandem.ENotFound)
		apptest.WantCode(t, f.DeleteSecret(sctx, "ws2", "theirs"), tandem.ENotFound)
		wantValue(t, f.Region, ctx, "ws2", "theirs", []byte("v2"))

		_, err = f.RotateKey(sctx)
		apptest.WantCode(t, err, tandem.EForbidden)
		_, adminSecret, err := f.CreateToken(ctx, "ops", "")
		if err != nil {
			t.Fatal(err)
		}
		admin, _ := f.Authenticate(ctx, adminSecret)
		if _, err := f.RotateKey(tandem.NewContextWithPrincipal(ctx, admin)); err != nil {
			t.Fatalf("RotateKey with an admin token: %v", err)
		}
	})
}

func TestSecrets_ErrNoVault(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.MustCreate(t, f.Region, "ws1")
		_, err := f.SetSecret(ctx, "ws1", "a", []byte("v"))
		apptest.WantCode(t, err, tandem.EUnavailable)
		_, err = f.GetSecretValue(ctx, "ws1", "a")
		apptest.WantCode(t, err, tandem.EUnavailable)
		_, err = f.RotateKey(ctx)
		apptest.WantCode(t, err, tandem.EUnavailable)
	})
}

// TestSecrets_ErrMovedValue: a sealed value copied onto another secret, in
// the same workspace or another, fails to open.
func TestSecrets_ErrMovedValue(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		apptest.WithVault(t, f)
		ws1 := apptest.MustCreate(t, f.Region, "ws1")
		ws2 := apptest.MustCreate(t, f.Region, "ws2")
		mustSet(t, f.Region, ctx, "ws1", "a", []byte("value of a"))
		mustSet(t, f.Region, ctx, "ws1", "b", []byte("value of b"))
		mustSet(t, f.Region, ctx, "ws2", "a", []byte("value of ws2/a"))
		move := func(from, to tandem.ResourceKey) {
			t.Helper()
			err := f.Store.Update(ctx, func(tx tandem.Tx) error {
				src, err := tx.FindResource(ctx, from)
				if err != nil {
					return err
				}
				dst, err := tx.FindResource(ctx, to)
				if err != nil {
					return err
				}
				dst.Spec = src.Spec
				if err := tx.PutResource(ctx, dst); err != nil {
					return err
				}
				return tx.AppendChange(ctx, &tandem.Change{WorkspaceID: to.WorkspaceID, Kind: tandem.KindSecret, Name: to.Name, Op: tandem.OpUpdate})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		key := func(ws *tandem.Workspace, name string) tandem.ResourceKey {
			return tandem.ResourceKey{WorkspaceID: ws.ID, Kind: tandem.KindSecret, Name: name}
		}
		move(key(ws1, "a"), key(ws1, "b"))
		_, err := f.GetSecretValue(ctx, "ws1", "b")
		apptest.WantCode(t, err, tandem.ECorrupt)
		move(key(ws1, "a"), key(ws2, "a"))
		_, err = f.GetSecretValue(ctx, "ws2", "a")
		apptest.WantCode(t, err, tandem.ECorrupt)
		wantValue(t, f.Region, ctx, "ws1", "a", []byte("value of a"))
	})
}

func TestRotateKey(t *testing.T) {
	apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
		ctx := context.Background()
		path := apptest.WithVault(t, f)
		logs := &lockedBuffer{}
		f.Logger = slog.New(slog.NewTextHandler(logs, nil))
		old := f.Vault.KeyID()
		ws1 := apptest.MustCreate(t, f.Region, "ws1")
		ws2 := apptest.MustCreate(t, f.Region, "ws2")
		empty := apptest.MustCreate(t, f.Region, "empty")
		values := map[string][]byte{}
		for _, k := range []string{"ws1/a", "ws1/b", "ws1/c", "ws2/a", "ws2/z"} {
			ws, name, _ := strings.Cut(k, "/")
			values[k] = plaintext(t)
			mustSet(t, f.Region, ctx, ws, name, values[k])
		}
		// A soft-deleted workspace's secrets are rewrapped too: they come
		// back when it is recovered.
		if _, err := f.DeleteWorkspace(ctx, "ws2", tandem.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		before := map[string]int{ws1.ID: len(apptest.Changes(t, f.Region, ws1.ID)), ws2.ID: len(apptest.Changes(t, f.Region, ws2.ID))}

		rot, err := f.RotateKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rot.KeyID == old || rot.KeyID != f.Vault.KeyID() || rot.Secrets != 5 || rot.Workspaces != 2 ||
			!slices.Equal(rot.RetiredKeys, []string{old}) {
			t.Fatalf("RotateKey: got %+v, want a new key, 5 secrets in 2 workspaces, %s retired", rot, old)
		}
		kf, err := vault.OpenKeyFile(path) // what a restart would see
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kf.KeyIDs(), []string{rot.KeyID}) {
			t.Fatalf("key file holds %v after rotation, want only %s", kf.KeyIDs(), rot.KeyID)
		}
		f.Vault = kf
		if _, err := f.RecoverWorkspace(ctx, "ws2"); err != nil {
			t.Fatal(err)
		}
		for k, v := range values {
			ws, name, _ := strings.Cut(k, "/")
			wantValue(t, f.Region, ctx, ws, name, v)
			if s, _ := f.FindSecret(ctx, ws, name); s.KeyID != rot.KeyID || s.Version != 1 {
				t.Fatalf("secret %s after rotation: got %+v, want version 1 under %s", k, s, rot.KeyID)
			}
		}

		// One rekey change per workspace with secrets, none elsewhere.
		for _, ws := range []*tandem.Workspace{ws1, ws2} {
			var rekeys []*tandem.Change
			for _, c := range apptest.Changes(t, f.Region, ws.ID)[before[ws.ID]:] {
				if c.Op == tandem.OpRekey {
					rekeys = append(rekeys, c)
				}
			}
			if len(rekeys) != 1 || rekeys[0].Kind != tandem.KindSecret || rekeys[0].Name != "" {
				t.Fatalf("workspace %s: got rekey changes %+v, want one", ws.Name, rekeys)
			}
			if !strings.Contains(string(rekeys[0].Body), rot.KeyID) {
				t.Fatalf("rekey body %s does not name the new key", rekeys[0].Body)
			}
			for _, v := range values {
				wantNoLeak(t, "rekey body", rekeys[0].Body, v)
			}
		}
		if n := len(apptest.Changes(t, f.Region, empty.ID)); n != 1 {
			t.Fatalf("workspace without secrets got %d changes, want only its create", n)
		}

		// A second rotation works on the result of the first.
		rot2, err := f.RotateKey(ctx)
		if err != nil || rot2.Secrets != 5 || !slices.Equal(rot2.RetiredKeys, []string{rot.KeyID}) {
			t.Fatalf("second RotateKey: got %+v, %v", rot2, err)
		}
		wantValue(t, f.Region, ctx, "ws1", "a", values["ws1/a"])
		var all [][]byte
		for _, v := range values {
			all = append(all, v)
		}
		wantNoLeak(t, "the region's log", logs.Bytes(), all...)
	})
}

// failingStore fails Update transactions after their work is done, as a
// crash before commit would, while armed.
type failingStore struct {
	tandem.Store
	mu   sync.Mutex
	fail bool
}

func (s *failingStore) arm(on bool) { s.mu.Lock(); s.fail = on; s.mu.Unlock() }

func (s *failingStore) Update(ctx context.Context, fn func(tx tandem.Tx) error) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	return s.Store.Update(ctx, func(tx tandem.Tx) error {
		if err := fn(tx); err != nil || !fail {
			return err
		}
		return errors.New("injected failure before commit")
	})
}

// failingVault fails chosen steps of a rotation.
type failingVault struct {
	*vault.KeyFile
	failRetire   bool
	failRewrapAt int // fail the nth Rewrap (1-based); 0: never
	rewraps      int
}

func (v *failingVault) RetireKeys(inUse []string) ([]string, error) {
	if v.failRetire {
		return nil, errors.New("injected failure before the keyring is saved")
	}
	return v.KeyFile.RetireKeys(inUse)
}

func (v *failingVault) Rewrap(s tandem.Sealed) (tandem.Sealed, error) {
	v.rewraps++
	if v.rewraps == v.failRewrapAt {
		return tandem.Sealed{}, errors.New("injected failure in the middle of the rewrap")
	}
	return v.KeyFile.Rewrap(s)
}

// TestRotateKey_CrashSafety fails a rotation at each step, then does what a
// restart does (reopen the key file) and checks that every value still
// opens and that running the rotation again finishes it.
func TestRotateKey_CrashSafety(t *testing.T) {
	steps := []struct {
		name   string
		inject func(f *apptest.Fixture, fs *failingStore, fv *failingVault)
		// keys in the ring after the failure: the old one stays always
		wantKeys int
		// secrets under the new key after the failure
		rewrapped bool
	}{
		{"AfterAddKey", func(f *apptest.Fixture, fs *failingStore, fv *failingVault) { fs.arm(true) }, 2, false},
		{"MidRewrap", func(f *apptest.Fixture, fs *failingStore, fv *failingVault) { fv.failRewrapAt = 2 }, 2, false},
		{"BeforeRetire", func(f *apptest.Fixture, fs *failingStore, fv *failingVault) { fv.failRetire = true }, 2, true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			apptest.Each(t, func(t *testing.T, f *apptest.Fixture) {
				ctx := context.Background()
				path := apptest.WithVault(t, f)
				fs := &failingStore{Store: f.Store}
				f.Store = fs
				fv := &failingVault{KeyFile: f.Vault.(*vault.KeyFile)}
				f.Vault = fv
				ws := apptest.MustCreate(t, f.Region, "ws1")
				apptest.MustCreate(t, f.Region, "ws2")
				values := map[string][]byte{"ws1/a": plaintext(t), "ws1/b": plaintext(t), "ws2/c": plaintext(t)}
				for k, v := range values {
					w, name, _ := strings.Cut(k, "/")
					mustSet(t, f.Region, ctx, w, name, v)
				}
				old := f.Vault.KeyID()
				logLen := len(apptest.Changes(t, f.Region, ws.ID))

				step.inject(f, fs, fv)
				if _, err := f.RotateKey(ctx); err == nil {
					t.Fatal("RotateKey succeeded despite the injected failure")
				} else if !strings.Contains(err.Error(), "run the rotation again") {
					t.Fatalf("got %q, want a message saying to run the rotation again", err)
				}

				// Restart: a fresh vault from the key file, the store as committed.
				fs.arm(false)
				kf, err := vault.OpenKeyFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(kf.KeyIDs()); n != step.wantKeys || !slices.Contains(kf.KeyIDs(), old) {
					t.Fatalf("key file holds %v after the failure, want %d keys including %s", kf.KeyIDs(), step.wantKeys, old)
				}
				f.Vault = kf
				for k, v := range values {
					w, name, _ := strings.Cut(k, "/")
					wantValue(t, f.Region, ctx, w, name, v)
					s, _ := f.FindSecret(ctx, w, name)
					if under := s.KeyID == kf.KeyID(); under != step.rewrapped {
						t.Fatalf("secret %s under key %s (current %s) after the failure, want rewrapped=%v", k, s.KeyID, kf.KeyID(), step.rewrapped)
					}
				}
				if got := len(apptest.Changes(t, f.Region, ws.ID)) - logLen; step.rewrapped != (got == 1) || got > 1 {
					t.Fatalf("got %d new changes after the failure, want %d", got, map[bool]int{true: 1}[step.rewrapped])
				}

				rot, err := f.RotateKey(ctx)
				if err != nil {
					t.Fatalf("RotateKey after the failure: %v", err)
				}
				if !slices.Contains(rot.RetiredKeys, old) || !slices.Equal(kf.KeyIDs(), []string{rot.KeyID}) {
					t.Fatalf("second rotation: got %+v, keys %v; want %s retired and only the new key left", rot, kf.KeyIDs(), old)
				}
				for k, v := range values {
					w, name, _ := strings.Cut(k, "/")
					wantValue(t, f.Region, ctx, w, name, v)
				}
			})
		})
	}
}
