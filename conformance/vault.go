package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
)

// Vault runs the conformance suite of tandem.Vault. open must return a
// fresh vault for the test it is given. Subtests run in parallel, each on
// its own vault. When the vault also implements tandem.KeyRotator, the
// rotation cases run too; otherwise they are skipped.
//
// Beyond the interface's doc comments, the suite holds a vault to these
// contracts: an empty plaintext and an empty aad are allowed; a sealed
// value survives a JSON round trip; a sealed value's JSON contains neither
// the plaintext nor its base64; changing any byte of the ciphertext,
// nonces or wrapped key, or the scheme name, makes Open fail with ECorrupt.
func Vault(t *testing.T, open func(t *testing.T) tandem.Vault) {
	for _, c := range vaultCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := open(t)
			if c.rotate != nil {
				r, ok := v.(tandem.KeyRotator)
				if !ok {
					t.Skip("the vault does not implement tandem.KeyRotator")
				}
				c.rotate(t, r)
				return
			}
			c.fn(t, v)
		})
	}
}

type vaultCase struct {
	name   string
	fn     func(t *testing.T, v tandem.Vault)
	rotate func(t *testing.T, v tandem.KeyRotator)
}

func vaultCases() []vaultCase {
	return []vaultCase{
		{name: "Seal/RoundTrip", fn: testVaultRoundTrip},
		{name: "Seal/FreshDataKey", fn: testVaultFresh},
		{name: "Seal/NoPlaintext", fn: testVaultNoPlaintext},
		{name: "Seal/JSONRoundTrip", fn: testVaultJSON},
		{name: "Open/ErrTamperedCiphertext", fn: testVaultTamperedCiphertext},
		{name: "Open/ErrTamperedWrappedKey", fn: testVaultTamperedWrappedKey},
		{name: "Open/ErrTamperedNonces", fn: testVaultTamperedNonces},
		{name: "Open/ErrTamperedAlg", fn: testVaultTamperedAlg},
		{name: "Open/ErrSwappedDataKey", fn: testVaultSwappedDataKey},
		{name: "Open/ErrTamperedAAD", fn: testVaultTamperedAAD},
		{name: "Open/ErrWrongAAD", fn: testVaultWrongAAD},
		{name: "Open/ErrUnknownKey", fn: testVaultUnknownKey},
		{name: "Rewrap/KeepsPlaintext", fn: testVaultRewrap},
		{name: "Rewrap/ErrTamperedWrappedKey", fn: testVaultRewrapTampered},
		{name: "Rewrap/ErrUnknownKey", fn: testVaultRewrapUnknownKey},
		{name: "Concurrent", fn: testVaultConcurrent},
		{name: "Rotate/OldValuesOpen", rotate: testVaultRotateOldOpen},
		{name: "Rotate/RewrapMovesToNewKey", rotate: testVaultRotateRewrap},
		{name: "Rotate/RetireKeys", rotate: testVaultRotateRetire},
		{name: "Rotate/RetireKeepsInUse", rotate: testVaultRotateRetireInUse},
	}
}

var (
	vaultAAD      = []byte("workspace-1/secret-a")
	vaultOtherAAD = []byte("workspace-1/secret-b")
)

func mustSeal(t *testing.T, v tandem.Vault, plaintext, aad []byte) tandem.Sealed {
	t.Helper()
	s, err := v.Seal(plaintext, aad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return s
}

func mustOpen(t *testing.T, v tandem.Vault, s tandem.Sealed, aad, want []byte) {
	t.Helper()
	got, err := v.Open(s, aad)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Open: got %d bytes %q, want %d bytes %q", len(got), clip(got), len(want), clip(want))
	}
}

func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func wantVaultCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// cloneSealed copies s deeply, so that tampering with the copy leaves s as
// it is.
func cloneSealed(s tandem.Sealed) tandem.Sealed {
	c := s
	c.WrappedKey = slices.Clone(s.WrappedKey)
	c.KeyNonce = slices.Clone(s.KeyNonce)
	c.Nonce = slices.Clone(s.Nonce)
	c.Ciphertext = slices.Clone(s.Ciphertext)
	return c
}

// flips returns copies of s with one bit of field flipped, at the first,
// the middle and the last byte.
func flips(s tandem.Sealed, field func(*tandem.Sealed) []byte) []tandem.Sealed {
	n := len(field(&s))
	var out []tandem.Sealed
	for _, i := range []int{0, n / 2, n - 1} {
		c := cloneSealed(s)
		field(&c)[i] ^= 0x01
		out = append(out, c)
	}
	return out
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func testVaultRoundTrip(t *testing.T, v tandem.Vault) {
	for _, pt := range [][]byte{
		nil,
		[]byte("x"),
		[]byte("account-key=abc123=="),
		{0, 1, 2, 0, 255},
		randomBytes(1, 64<<10),
		randomBytes(2, 1<<20),
	} {
		for _, aad := range [][]byte{nil, vaultAAD} {
			s := mustSeal(t, v, pt, aad)
			if s.KeyID != v.KeyID() {
				t.Fatalf("sealed under key %q, want the current key %q", s.KeyID, v.KeyID())
			}
			mustOpen(t, v, s, aad, pt)
		}
	}
}

func testVaultFresh(t *testing.T, v tandem.Vault) {
	pt := []byte("the same secret, sealed twice")
	a, b := mustSeal(t, v, pt, vaultAAD), mustSeal(t, v, pt, vaultAAD)
	switch {
	case bytes.Equal(a.Ciphertext, b.Ciphertext):
		t.Fatal("two seals of one plaintext gave the same ciphertext, want a fresh data key and nonce each time")
	case bytes.Equal(a.WrappedKey, b.WrappedKey):
		t.Fatal("two seals gave the same wrapped data key, want a fresh data key each time")
	case bytes.Equal(a.Nonce, b.Nonce):
		t.Fatal("two seals used the same nonce")
	}
	mustOpen(t, v, a, vaultAAD, pt)
	mustOpen(t, v, b, vaultAAD, pt)
}

func testVaultNoPlaintext(t *testing.T, v tandem.Vault) {
	pt := []byte("tandem-conformance-plaintext-7d1f0c2a9b")
	s := mustSeal(t, v, pt, vaultAAD)
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range [][]byte{pt, []byte(base64.StdEncoding.EncodeToString(pt)), []byte(base64.RawURLEncoding.EncodeToString(pt))} {
		if bytes.Contains(data, leak) {
			t.Fatalf("sealed JSON %s contains %q", data, leak)
		}
	}
	if bytes.Contains(s.Ciphertext, pt) || bytes.Contains(s.WrappedKey, pt) {
		t.Fatal("the ciphertext or wrapped key contains the plaintext")
	}
}

func testVaultJSON(t *testing.T, v tandem.Vault) {
	pt := []byte("json round trip")
	data, err := json.Marshal(mustSeal(t, v, pt, vaultAAD))
	if err != nil {
		t.Fatal(err)
	}
	var back tandem.Sealed
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, v, back, vaultAAD, pt)
}

func testVaultTamperedCiphertext(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("do not touch"), vaultAAD)
	for _, c := range flips(s, func(s *tandem.Sealed) []byte { return s.Ciphertext }) {
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open of a flipped ciphertext", err, tandem.ECorrupt)
	}
	for _, n := range []int{0, 1, len(s.Ciphertext) - 1} {
		c := cloneSealed(s)
		c.Ciphertext = c.Ciphertext[:n]
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open of a truncated ciphertext", err, tandem.ECorrupt)
	}
	c := cloneSealed(s)
	c.Ciphertext = append(c.Ciphertext, 0)
	_, err := v.Open(c, vaultAAD)
	wantVaultCode(t, "Open of an extended ciphertext", err, tandem.ECorrupt)
	mustOpen(t, v, s, vaultAAD, []byte("do not touch"))
}

func testVaultTamperedWrappedKey(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("do not touch"), vaultAAD)
	for _, c := range flips(s, func(s *tandem.Sealed) []byte { return s.WrappedKey }) {
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open of a flipped wrapped key", err, tandem.ECorrupt)
	}
	c := cloneSealed(s)
	c.WrappedKey = c.WrappedKey[:len(c.WrappedKey)-1]
	_, err := v.Open(c, vaultAAD)
	wantVaultCode(t, "Open of a truncated wrapped key", err, tandem.ECorrupt)
	c = cloneSealed(s)
	c.WrappedKey = nil
	_, err = v.Open(c, vaultAAD)
	wantVaultCode(t, "Open without a wrapped key", err, tandem.ECorrupt)
}

func testVaultTamperedNonces(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("do not touch"), vaultAAD)
	for _, c := range flips(s, func(s *tandem.Sealed) []byte { return s.Nonce }) {
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open with a flipped nonce", err, tandem.ECorrupt)
	}
	for _, c := range flips(s, func(s *tandem.Sealed) []byte { return s.KeyNonce }) {
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open with a flipped key nonce", err, tandem.ECorrupt)
	}
	c := cloneSealed(s)
	c.Nonce = nil
	_, err := v.Open(c, vaultAAD)
	wantVaultCode(t, "Open without a nonce", err, tandem.ECorrupt)
}

func testVaultTamperedAlg(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("do not touch"), vaultAAD)
	for _, alg := range []string{"", "none", s.Alg + "x"} {
		c := cloneSealed(s)
		c.Alg = alg
		_, err := v.Open(c, vaultAAD)
		wantVaultCode(t, "Open with scheme "+alg, err, tandem.ECorrupt)
	}
}

// testVaultSwappedDataKey moves the (valid) wrapped data key of one sealed
// value onto the ciphertext of another.
func testVaultSwappedDataKey(t *testing.T, v tandem.Vault) {
	a := mustSeal(t, v, []byte("value a"), vaultAAD)
	b := mustSeal(t, v, []byte("value b"), vaultAAD)
	c := cloneSealed(a)
	c.WrappedKey, c.KeyNonce = slices.Clone(b.WrappedKey), slices.Clone(b.KeyNonce)
	_, err := v.Open(c, vaultAAD)
	wantVaultCode(t, "Open with another value's data key", err, tandem.ECorrupt)
}

func testVaultTamperedAAD(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("bound to its aad"), vaultAAD)
	for _, i := range []int{0, len(vaultAAD) / 2, len(vaultAAD) - 1} {
		aad := slices.Clone(vaultAAD)
		aad[i] ^= 0x01
		_, err := v.Open(s, aad)
		wantVaultCode(t, "Open with a flipped aad", err, tandem.ECorrupt)
	}
	for _, aad := range [][]byte{vaultAAD[:len(vaultAAD)-1], append(slices.Clone(vaultAAD), 0)} {
		_, err := v.Open(s, aad)
		wantVaultCode(t, "Open with a shortened or extended aad", err, tandem.ECorrupt)
	}
}

func testVaultWrongAAD(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("bound to secret a"), vaultAAD)
	for _, aad := range [][]byte{vaultOtherAAD, nil, []byte("workspace-2/secret-a")} {
		_, err := v.Open(s, aad)
		wantVaultCode(t, "Open with another secret's aad", err, tandem.ECorrupt)
	}
	empty := mustSeal(t, v, []byte("sealed with no aad"), nil)
	_, err := v.Open(empty, vaultAAD)
	wantVaultCode(t, "Open with an aad of a value sealed without one", err, tandem.ECorrupt)
}

func testVaultUnknownKey(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("x"), vaultAAD)
	s.KeyID = "no-such-key"
	_, err := v.Open(s, vaultAAD)
	wantVaultCode(t, "Open under an unknown key", err, tandem.ENotFound)
	var e *tandem.Error
	if !errors.As(err, &e) || e.Target != "no-such-key" {
		t.Fatalf("Open under an unknown key: got %v, want the key id as the target", err)
	}
}

func testVaultRewrap(t *testing.T, v tandem.Vault) {
	pt := []byte("rewrapped, never re-encrypted")
	s := mustSeal(t, v, pt, vaultAAD)
	r, err := v.Rewrap(s)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if r.KeyID != v.KeyID() {
		t.Fatalf("Rewrap: got key %q, want the current key %q", r.KeyID, v.KeyID())
	}
	if !bytes.Equal(r.Ciphertext, s.Ciphertext) || !bytes.Equal(r.Nonce, s.Nonce) {
		t.Fatal("Rewrap changed the ciphertext or its nonce, want only the data key's wrap to change")
	}
	mustOpen(t, v, r, vaultAAD, pt)
	again, err := v.Rewrap(r)
	if err != nil {
		t.Fatalf("second Rewrap: %v", err)
	}
	mustOpen(t, v, again, vaultAAD, pt)
	_, err = v.Open(r, vaultOtherAAD)
	wantVaultCode(t, "Open of a rewrapped value with another aad", err, tandem.ECorrupt)
}

func testVaultRewrapTampered(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("x"), vaultAAD)
	r, ok := v.(tandem.KeyRotator)
	if ok {
		// Under an older key, Rewrap must unwrap, and so check, the data key.
		if _, err := r.AddKey(); err != nil {
			t.Fatalf("AddKey: %v", err)
		}
	}
	for _, c := range flips(s, func(s *tandem.Sealed) []byte { return s.WrappedKey }) {
		out, err := v.Rewrap(c)
		if !ok && err == nil {
			// Without rotation the value is already under the current key
			// and may come back unchanged; it must still fail to open.
			_, err = v.Open(out, vaultAAD)
		}
		wantVaultCode(t, "Rewrap of a flipped wrapped key", err, tandem.ECorrupt)
	}
	c := cloneSealed(s)
	c.WrappedKey = c.WrappedKey[:3]
	_, err := v.Rewrap(c)
	wantVaultCode(t, "Rewrap of a truncated wrapped key", err, tandem.ECorrupt)
}

func testVaultRewrapUnknownKey(t *testing.T, v tandem.Vault) {
	s := mustSeal(t, v, []byte("x"), vaultAAD)
	s.KeyID = "no-such-key"
	_, err := v.Rewrap(s)
	wantVaultCode(t, "Rewrap under an unknown key", err, tandem.ENotFound)
}

func testVaultConcurrent(t *testing.T, v tandem.Vault) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pt := randomBytes(uint64(i), 100+i)
			for range 20 {
				s, err := v.Seal(pt, vaultAAD)
				if err != nil {
					errs <- err
					return
				}
				got, err := v.Open(s, vaultAAD)
				if err != nil {
					errs <- err
					return
				} else if !bytes.Equal(got, pt) {
					errs <- tandem.Errorf(tandem.EInternal, "got another plaintext back")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Seal and Open: %v", err)
	}
}

func testVaultRotateOldOpen(t *testing.T, v tandem.KeyRotator) {
	old := v.KeyID()
	s := mustSeal(t, v, []byte("sealed before"), vaultAAD)
	id, err := v.AddKey()
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	if id == old || v.KeyID() != id {
		t.Fatalf("AddKey: got %q, current %q; want a new current key, not %q", id, v.KeyID(), old)
	}
	mustOpen(t, v, s, vaultAAD, []byte("sealed before"))
	if n := mustSeal(t, v, []byte("after"), vaultAAD); n.KeyID != id {
		t.Fatalf("sealed under %q after AddKey, want %q", n.KeyID, id)
	}
}

func testVaultRotateRewrap(t *testing.T, v tandem.KeyRotator) {
	pt := []byte("moved to the new key")
	s := mustSeal(t, v, pt, vaultAAD)
	id, err := v.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.Rewrap(s)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if r.KeyID != id || s.KeyID == id {
		t.Fatalf("Rewrap: got key %q from %q, want %q", r.KeyID, s.KeyID, id)
	}
	if !bytes.Equal(r.Ciphertext, s.Ciphertext) || bytes.Equal(r.WrappedKey, s.WrappedKey) {
		t.Fatal("Rewrap must keep the ciphertext and change the wrapped key")
	}
	mustOpen(t, v, r, vaultAAD, pt)
	mustOpen(t, v, s, vaultAAD, pt)
	again, err := v.Rewrap(r)
	if err != nil || !bytes.Equal(again.WrappedKey, r.WrappedKey) || again.KeyID != r.KeyID {
		t.Fatalf("Rewrap of a value under the current key: got %+v, %v; want it unchanged", again, err)
	}
}

func testVaultRotateRetire(t *testing.T, v tandem.KeyRotator) {
	pt := []byte("survives retirement")
	s := mustSeal(t, v, pt, vaultAAD)
	old := s.KeyID
	if _, err := v.AddKey(); err != nil {
		t.Fatal(err)
	}
	r, err := v.Rewrap(s)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := v.RetireKeys(nil)
	if err != nil {
		t.Fatalf("RetireKeys: %v", err)
	}
	if !slices.Equal(removed, []string{old}) {
		t.Fatalf("RetireKeys: removed %v, want [%s]", removed, old)
	}
	mustOpen(t, v, r, vaultAAD, pt)
	_, err = v.Open(s, vaultAAD)
	wantVaultCode(t, "Open under a retired key", err, tandem.ENotFound)
	removed, err = v.RetireKeys(nil)
	if err != nil || len(removed) != 0 {
		t.Fatalf("second RetireKeys: removed %v, %v; want nothing", removed, err)
	}
}

func testVaultRotateRetireInUse(t *testing.T, v tandem.KeyRotator) {
	k1 := v.KeyID()
	s1 := mustSeal(t, v, []byte("one"), vaultAAD)
	k2, err := v.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustSeal(t, v, []byte("two"), vaultAAD)
	k3, err := v.AddKey()
	if err != nil {
		t.Fatal(err)
	}
	removed, err := v.RetireKeys([]string{k2, "not-a-key"})
	if err != nil || !slices.Equal(removed, []string{k1}) {
		t.Fatalf("RetireKeys([%s]): removed %v, %v; want [%s]", k2, removed, err, k1)
	}
	if v.KeyID() != k3 {
		t.Fatalf("current key %q after RetireKeys, want %q", v.KeyID(), k3)
	}
	mustOpen(t, v, s2, vaultAAD, []byte("two"))
	_, err = v.Open(s1, vaultAAD)
	wantVaultCode(t, "Open under a retired key", err, tandem.ENotFound)
}
