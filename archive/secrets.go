package archive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/tandemml/tandem"
)

// SecretsFormat names the layout of secrets.enc.
const SecretsFormat = "tandem-archive-secrets/v1"

// MinPassphrase is the shortest passphrase accepted, in bytes.
const MinPassphrase = 12

// scrypt parameters for new archives (the recommended interactive cost in
// 2017 was N=2^15; key derivation runs once per export or import).
const (
	scryptN = 1 << 15
	scryptR = 8
	scryptP = 1
)

// SealedSecrets is secrets.enc: secret values encrypted with AES-256-GCM
// under a key derived from a passphrase with scrypt. Nothing in it is
// readable without the passphrase; the names are inside the ciphertext too.
//
// With a recipient key instead (KDF KDFHPKE, recipient.go), Recipient names
// the public key and Ciphertext is HPKE's encapsulated key followed by the
// ciphertext; the scrypt fields are empty.
type SealedSecrets struct {
	Format     string `json:"format"` // SecretsFormat
	KDF        string `json:"kdf"`    // KDFScrypt or KDFHPKE
	N          int    `json:"n,omitempty"`
	R          int    `json:"r,omitempty"`
	P          int    `json:"p,omitempty"`
	Salt       []byte `json:"salt,omitempty"`  // 16 random bytes
	Nonce      []byte `json:"nonce,omitempty"` // 12 random bytes
	Recipient  string `json:"recipient,omitempty"`
	Ciphertext []byte `json:"ciphertext"`
}

// SecretValue is one secret in clear, as it travels inside the ciphertext.
type SecretValue struct {
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	Value     []byte    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// secretsAAD binds the ciphertext to the archive's source workspace.
func secretsAAD(workspaceID string) []byte {
	return []byte(SecretsFormat + "\x00" + workspaceID)
}

// CheckPassphrase returns an EInvalid error for a passphrase too short to
// protect secrets.
func CheckPassphrase(p []byte) error {
	if len(p) < MinPassphrase {
		return tandem.Errorf(tandem.EInvalid, "the passphrase is %d bytes; use at least %d", len(p), MinPassphrase).WithTarget("passphrase")
	}
	return nil
}

func deriveKey(passphrase, salt []byte, n, r, p int) ([]byte, error) {
	return scrypt.Key(passphrase, salt, n, r, p, 32)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealSecrets encrypts secrets for the archive of workspace workspaceID.
func SealSecrets(passphrase []byte, workspaceID string, secrets []SecretValue) ([]byte, error) {
	if err := CheckPassphrase(passphrase); err != nil {
		return nil, err
	}
	s := SealedSecrets{Format: SecretsFormat, KDF: KDFScrypt, N: scryptN, R: scryptR, P: scryptP,
		Salt: make([]byte, 16), Nonce: make([]byte, 12)}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, err
	}
	key, err := deriveKey(passphrase, s.Salt, s.N, s.R, s.P)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(key)
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
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, secretsAAD(workspaceID))
	clear(plain)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// OpenSecrets decrypts secrets.enc of the archive of workspace
// workspaceID. A wrong passphrase, or a file altered in any way, is
// EInvalid or ECorrupt; nothing is returned in either case.
func OpenSecrets(passphrase []byte, workspaceID string, data []byte) ([]SecretValue, error) {
	return OpenSecretsWith(passphrase, "", workspaceID, data)
}

// OpenSecretsWith decrypts secrets.enc with the passphrase or the identity
// (private key) its method needs.
func OpenSecretsWith(passphrase []byte, identity, workspaceID string, data []byte) ([]SecretValue, error) {
	var s SealedSecrets
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, corrupt("%s is not valid JSON: %v", SecretsFile, err)
	}
	if s.Format != SecretsFormat {
		return nil, invalid("%s has format %q; this version of Tandem reads %q", SecretsFile, s.Format, SecretsFormat)
	}
	if s.KDF == KDFHPKE {
		plain, err := openHPKE(&s, identity, workspaceID)
		if err != nil {
			return nil, err
		}
		defer clear(plain)
		var out []SecretValue
		if err := json.Unmarshal(plain, &out); err != nil {
			return nil, fmt.Errorf("archive: decrypted %s is not a secret list: %w", SecretsFile, err)
		}
		return out, nil
	}
	if len(passphrase) == 0 {
		return nil, tandem.Errorf(tandem.EInvalid, "the archive's secrets are encrypted with a passphrase: give it (--passphrase-file)").WithTarget("passphrase")
	}
	// Bound the cost an archive can ask for: at most 2^20 (1 GiB of memory
	// at r=8) and no silly r or p.
	if s.KDF != KDFScrypt || s.N < 2 || s.N > 1<<20 || s.N&(s.N-1) != 0 || s.R < 1 || s.R > 32 || s.P < 1 || s.P > 16 {
		return nil, invalid("%s: unsupported key derivation %s(N=%d, r=%d, p=%d)", SecretsFile, s.KDF, s.N, s.R, s.P)
	}
	if len(s.Salt) < 16 || len(s.Nonce) != 12 {
		return nil, corrupt("%s: bad salt or nonce length", SecretsFile)
	}
	key, err := deriveKey(passphrase, s.Salt, s.N, s.R, s.P)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, secretsAAD(workspaceID))
	if err != nil {
		return nil, tandem.Errorf(tandem.EInvalid, "archive: cannot decrypt %s: wrong passphrase, or the file was altered", SecretsFile).WithTarget("passphrase")
	}
	defer clear(plain)
	var out []SecretValue
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("archive: decrypted %s is not a secret list: %w", SecretsFile, err)
	}
	return out, nil
}
