package tandem

import (
	"context"
	"regexp"
	"time"
)

// KindSecret is the kind of a workspace secret. Its Resource's Spec holds
// the sealed (encrypted) value, never the plaintext, so the change log and
// replication carry only ciphertext.
const KindSecret Kind = "secret"

// OpRekey is the change-log operation of a key rotation: the data keys of a
// workspace's secrets were rewrapped under a new key-encryption key. Values
// did not change. The entry has Kind KindSecret, an empty Name, and a body
// that lists the secrets rewrapped and the new key's id (no key material).
// Key-encryption keys are region-local, so a peer region has nothing to
// apply for it.
const OpRekey Op = "rekey"

// MaxSecretValue is the largest secret value, in bytes.
const MaxSecretValue = 64 << 10

// secretNameRE is Azure Key Vault's rule for secret names.
var secretNameRE = regexp.MustCompile(`^[a-zA-Z0-9-]{1,127}$`)

// ValidateSecretName returns an EInvalid error that explains the rule when
// name breaks it.
func ValidateSecretName(name string) error {
	if !secretNameRE.MatchString(name) {
		return &Error{Code: EInvalid, Target: "name", Message: "invalid secret name " + quote(name) +
			": use 1 to 127 characters, letters, digits and '-'"}
	}
	return nil
}

// Secret is the metadata of a workspace secret. It never holds the value,
// nor anything derived from it.
type Secret struct {
	Name      string    `json:"name"`
	Version   int64     `json:"version"` // 1 when created, plus 1 at every set
	KeyID     string    `json:"key_id"`  // the key-encryption key its data key is wrapped under
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// KeyRotation reports what a key rotation did.
type KeyRotation struct {
	KeyID       string   `json:"key_id"`          // the new current key-encryption key
	Secrets     int      `json:"secrets"`         // data keys rewrapped under it
	Workspaces  int      `json:"workspaces"`      // workspaces whose secrets were rewrapped
	RetiredKeys []string `json:"retired_key_ids"` // keys removed from the keyring
}

// SecretService manages the secrets of a workspace's vault. Values are
// encrypted at rest; only GetSecretValue returns one.
//
// Errors: EInvalid for a bad name or an empty value; ETooLarge for a value
// over MaxSecretValue; ENotFound for unknown workspaces (including those a
// workspace token may not use) and secrets; EForbidden for RotateKey without
// a region admin token; EUnavailable when the region has no vault or lacks
// the key a secret is sealed under.
type SecretService interface {
	// SetSecret creates the secret name or replaces its value, and returns
	// its metadata. Setting a value again is allowed (the version rises).
	SetSecret(ctx context.Context, workspace, name string, value []byte) (*Secret, error)
	// ListSecrets returns the metadata of the workspace's secrets, ordered
	// by name.
	ListSecrets(ctx context.Context, workspace string) ([]*Secret, error)
	// FindSecret returns one secret's metadata.
	FindSecret(ctx context.Context, workspace, name string) (*Secret, error)
	// GetSecretValue returns one secret's value.
	GetSecretValue(ctx context.Context, workspace, name string) ([]byte, error)
	// DeleteSecret removes a secret. ENotFound if it does not exist.
	DeleteSecret(ctx context.Context, workspace, name string) error
	// RotateKey makes a new key-encryption key current, rewraps the data
	// key of every secret of the region under it, and retires the keys no
	// secret uses any more. Values do not change. It is safe to run again
	// after a failure at any step.
	RotateKey(ctx context.Context) (*KeyRotation, error)
}

// Sealed is a value encrypted by a Vault: the ciphertext under a data key
// of its own, and that data key wrapped under a key-encryption key. It holds
// nothing from which the plaintext can be read without the key-encryption
// key. Byte fields encode as base64 in JSON.
type Sealed struct {
	Alg        string `json:"alg"`         // the scheme, e.g. "A256GCM+A256GCMKW"
	KeyID      string `json:"kid"`         // the key-encryption key the data key is wrapped under
	WrappedKey []byte `json:"wrapped_key"` // the data key, encrypted under KeyID
	KeyNonce   []byte `json:"key_nonce"`   // nonce of the wrap
	Nonce      []byte `json:"nonce"`       // nonce of the ciphertext
	Ciphertext []byte `json:"ciphertext"`  // the value, encrypted under the data key, with its tag
}

// Vault seals values with envelope encryption: every Seal draws a fresh
// data key, encrypts the plaintext with it, and wraps the data key under the
// vault's current key-encryption key (KEK). aad (additional authenticated
// data) is not stored but bound to the ciphertext: Open needs the same aad,
// so a sealed value cannot be moved to another secret.
//
// Errors: ECorrupt when a sealed value fails authentication (tampered
// ciphertext, wrapped key or nonce, or a different aad) or is malformed;
// ENotFound, with Target the key id, when it names a KEK the vault does not
// hold. Implementations are safe for concurrent use.
type Vault interface {
	// Seal encrypts plaintext under a fresh data key bound to aad. Two
	// Seals of the same plaintext give different results.
	Seal(plaintext, aad []byte) (Sealed, error)
	// Open authenticates and decrypts s with the aad it was sealed with.
	Open(s Sealed, aad []byte) ([]byte, error)
	// Rewrap returns s with its data key wrapped under the current KEK; the
	// ciphertext and nonce stay as they are, so the plaintext and aad do
	// too. It is idempotent: s already under the current KEK comes back
	// unchanged.
	Rewrap(s Sealed) (Sealed, error)
	// KeyID returns the id of the current KEK, the one Seal and Rewrap use.
	KeyID() string
}

// KeyRotator is a Vault whose key-encryption keys Tandem rotates itself
// (the key file). A rotation is AddKey, then Rewrap of every sealed value,
// then RetireKeys; the keyring holds every key still in use at every step,
// so a failure at any point loses nothing.
type KeyRotator interface {
	Vault
	// AddKey generates a new KEK, makes it current and saves the keyring,
	// keeping every older key so that values sealed under them still open.
	// It returns the new key's id.
	AddKey() (string, error)
	// RetireKeys removes from the keyring every key that is neither current
	// nor listed in inUse, saves it, and returns the ids removed. Running it
	// again removes nothing more.
	RetireKeys(inUse []string) ([]string, error)
}
