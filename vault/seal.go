package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/tandemml/tandem"
)

// Alg names the scheme of every value this package seals: AES-256-GCM for
// the content, AES-256-GCM key wrap for the data key.
const Alg = "A256GCM+A256GCMKW"

const (
	keySize   = 32 // AES-256
	nonceSize = 12 // GCM's standard nonce
	tagSize   = 16 // GCM's tag
)

// Domain-separation prefixes of the additional authenticated data: the
// content and the data-key wrap can never be confused with each other or
// with another scheme.
const (
	contentAADPrefix = "tandem-vault/v1/content\x00"
	wrapAADPrefix    = "tandem-vault/v1/key\x00"
)

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("vault: read random bytes: %w", err)
	}
	return b, nil
}

func contentAAD(aad []byte) []byte { return append([]byte(contentAADPrefix), aad...) }
func wrapAAD(kid string) []byte    { return append([]byte(wrapAADPrefix), kid...) }

// seal encrypts plaintext under a fresh data key and wraps that key under
// kek, whose id is kid.
func seal(kid string, kek cipher.AEAD, plaintext, aad []byte) (tandem.Sealed, error) {
	dk, err := random(keySize)
	if err != nil {
		return tandem.Sealed{}, err
	}
	defer clear(dk)
	content, err := newAEAD(dk)
	if err != nil {
		return tandem.Sealed{}, err
	}
	nonce, err := random(nonceSize)
	if err != nil {
		return tandem.Sealed{}, err
	}
	s := tandem.Sealed{
		Alg:        Alg,
		Nonce:      nonce,
		Ciphertext: content.Seal(nil, nonce, plaintext, contentAAD(aad)),
	}
	if err := wrap(&s, kid, kek, dk); err != nil {
		return tandem.Sealed{}, err
	}
	return s, nil
}

// wrap sets s's key fields to dk wrapped under kek.
func wrap(s *tandem.Sealed, kid string, kek cipher.AEAD, dk []byte) error {
	knonce, err := random(nonceSize)
	if err != nil {
		return err
	}
	s.KeyID = kid
	s.KeyNonce = knonce
	s.WrappedKey = kek.Seal(nil, knonce, dk, wrapAAD(kid))
	return nil
}

// checkShape refuses a sealed value that this scheme cannot have produced.
func checkShape(s tandem.Sealed) error {
	switch {
	case s.Alg != Alg:
		return corrupt("unknown scheme %q (want %q)", s.Alg, Alg)
	case len(s.KeyNonce) != nonceSize || len(s.Nonce) != nonceSize:
		return corrupt("a nonce has the wrong length")
	case len(s.WrappedKey) != keySize+tagSize:
		return corrupt("the wrapped data key has the wrong length")
	case len(s.Ciphertext) < tagSize:
		return corrupt("the ciphertext is shorter than its tag")
	}
	return nil
}

// unwrap returns the data key of s, which must be wrapped under kek.
func unwrap(s tandem.Sealed, kek cipher.AEAD) ([]byte, error) {
	dk, err := kek.Open(nil, s.KeyNonce, s.WrappedKey, wrapAAD(s.KeyID))
	if err != nil {
		return nil, corrupt("the data key failed authentication under key-encryption key %q: "+
			"the wrapped key was altered, or the key file holds a different key under that id", s.KeyID)
	}
	return dk, nil
}

// open decrypts the content of s with its data key dk.
func open(s tandem.Sealed, dk, aad []byte) ([]byte, error) {
	content, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	pt, err := content.Open(nil, s.Nonce, s.Ciphertext, contentAAD(aad))
	if err != nil {
		return nil, corrupt("the value failed authentication: it was altered, or it belongs to another secret")
	}
	return pt, nil
}

func corrupt(format string, args ...any) error {
	return tandem.Errorf(tandem.ECorrupt, "sealed value: "+format, args...)
}
