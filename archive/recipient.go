package archive

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// Recipient keys: the secrets of an archive encrypted to a public key with
// HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM),
// so that whoever exports needs no secret, and only the holder of the
// private key ("identity") can import them.

// Key text prefixes: a public key ("recipient") and a private key
// ("identity"), each followed by the key in standard base64.
const (
	RecipientPrefix = "tandem-archive-recipient-1:"
	IdentityPrefix  = "tandem-archive-identity-1:"
)

// KDF names in secrets.enc.
const (
	KDFScrypt = "scrypt"
	KDFHPKE   = "hpke-x25519-hkdf-sha256-aes256gcm"
)

func hpkeSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.DHKEM(ecdh.X25519()), hpke.HKDFSHA256(), hpke.AES256GCM()
}

func hpkeInfo(workspaceID string) []byte { return secretsAAD(workspaceID) }

// GenerateIdentity returns a new key pair as text: the identity (private
// key, to keep secret) and its recipient (public key, to give to whoever
// exports).
func GenerateIdentity() (identity, recipient string, err error) {
	kem, _, _ := hpkeSuite()
	k, err := kem.GenerateKey()
	if err != nil {
		return "", "", err
	}
	priv, err := k.Bytes()
	if err != nil {
		return "", "", err
	}
	return IdentityPrefix + base64.StdEncoding.EncodeToString(priv),
		RecipientPrefix + base64.StdEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

func parseKey(text, prefix, what, flag string) ([]byte, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, prefix) {
		return nil, tandem.Errorf(tandem.EInvalid, "not a%s: it should start with %q", what, prefix).WithTarget(flag)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(text, prefix))
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "bad%s: %v", what, err).WithTarget(flag)
	}
	return b, nil
}

// RecipientOf returns the recipient (public key) of an identity.
func RecipientOf(identity string) (string, error) {
	priv, err := parseIdentity(identity)
	if err != nil {
		return "", err
	}
	return RecipientPrefix + base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes()), nil
}

func parseIdentity(identity string) (hpke.PrivateKey, error) {
	b, err := parseKey(identity, IdentityPrefix, "n archive identity (private key)", "identity")
	if err != nil {
		return nil, err
	}
	kem, _, _ := hpkeSuite()
	k, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "bad archive identity: %v", err).WithTarget("identity")
	}
	return k, nil
}

// CheckRecipient returns an EInvalid error unless text is a recipient.
func CheckRecipient(text string) error {
	_, err := parseRecipient(text)
	return err
}

func parseRecipient(text string) (hpke.PublicKey, error) {
	b, err := parseKey(text, RecipientPrefix, "n archive recipient (public key)", "recipient_key")
	if err != nil {
		return nil, err
	}
	kem, _, _ := hpkeSuite()
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "bad archive recipient: %v", err).WithTarget("recipient_key")
	}
	return pk, nil
}

// SealSecretsTo encrypts secrets to a recipient for the archive of
// workspace workspaceID.
func SealSecretsTo(recipient, workspaceID string, secrets []SecretValue) ([]byte, error) {
	pk, err := parseRecipient(recipient)
	if err != nil {
		return nil, err
	}
	if secrets == nil {
		secrets = []SecretValue{}
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	_, kdf, aead := hpkeSuite()
	ct, err := hpke.Seal(pk, kdf, aead, hpkeInfo(workspaceID), plain)
	if err != nil {
		return nil, fmt.Errorf("archive: encrypt secrets: %w", err)
	}
	s := SealedSecrets{Format: SecretsFormat, KDF: KDFHPKE, Recipient: strings.TrimSpace(recipient), Ciphertext: ct}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// openHPKE decrypts secrets sealed to a recipient with its identity.
func openHPKE(s *SealedSecrets, identity, workspaceID string) ([]byte, error) {
	if identity == "" {
		return nil, tandem.Errorf(tandem.EInvalid, "the archive's secrets are encrypted to the recipient key %s: give its identity file (--identity-file)", s.Recipient).WithTarget("identity")
	}
	k, err := parseIdentity(identity)
	if err != nil {
		return nil, err
	}
	_, kdf, aead := hpkeSuite()
	plain, err := hpke.Open(k, kdf, aead, hpkeInfo(workspaceID), s.Ciphertext)
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "archive: cannot decrypt %s: the identity does not match its recipient key %s, or the file was altered", SecretsFile, s.Recipient).WithTarget("identity")
	}
	return plain, nil
}
