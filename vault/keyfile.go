package vault

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// keyringVersion is the format version of the key file.
const keyringVersion = 1

var keyIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keyring is the key file's content.
type keyring struct {
	Version int        `json:"version"`
	Current string     `json:"current"`
	Keys    []keyEntry `json:"keys"`
}

// keyEntry is one key-encryption key.
type keyEntry struct {
	ID        string    `json:"id"`
	Key       []byte    `json:"key"` // 32 bytes, base64 in JSON
	CreatedAt time.Time `json:"created_at"`
}

// KeyFile is a vault whose key-encryption keys are in a JSON file, readable
// by its owner only. It implements tandem.Vault and tandem.KeyRotator, and
// is safe for concurrent use.
//
// Every change to the file is written to a temporary file in the same
// directory, synced and renamed over the old one, so a crash leaves the old
// keyring or the new one, never a part. Several processes may share one key
// file: a value sealed under a key this process has not seen yet makes it
// read the file again.
type KeyFile struct {
	path string

	mu    sync.RWMutex
	ring  keyring
	aeads map[string]cipher.AEAD
}

var _ tandem.KeyRotator = (*KeyFile)(nil)

// OpenKeyFile opens the key file at path, or creates it with one fresh key
// and mode 0600 (and its directory with mode 0700) when it does not exist.
// It refuses a file that group or others may read or write, and a file that
// is not a valid keyring, with an EInvalid error that says what to do.
func OpenKeyFile(path string) (*KeyFile, error) {
	if path == "" {
		return nil, tandem.Errorf(tandem.EInvalid, "no vault key file given")
	}
	kf := &KeyFile{path: path}
	ring, err := readKeyring(path)
	if errors.Is(err, fs.ErrNotExist) {
		ring, err = createKeyring(path)
	}
	if err != nil {
		return nil, err
	}
	if err := kf.install(ring); err != nil {
		return nil, err
	}
	return kf, nil
}

// Path returns the key file's path.
func (kf *KeyFile) Path() string { return kf.path }

// KeyIDs returns the ids of the keys in the ring, oldest first.
func (kf *KeyFile) KeyIDs() []string {
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	ids := make([]string, len(kf.ring.Keys))
	for i, k := range kf.ring.Keys {
		ids[i] = k.ID
	}
	return ids
}

// KeyID returns the id of the current key-encryption key.
func (kf *KeyFile) KeyID() string {
	kf.mu.RLock()
	defer kf.mu.RUnlock()
	return kf.ring.Current
}

// Seal encrypts plaintext under a fresh data key, wrapped under the current
// key-encryption key, and binds it to aad.
func (kf *KeyFile) Seal(plaintext, aad []byte) (tandem.Sealed, error) {
	kf.mu.RLock()
	kid, kek := kf.ring.Current, kf.aeads[kf.ring.Current]
	kf.mu.RUnlock()
	return seal(kid, kek, plaintext, aad)
}

// Open authenticates and decrypts s with the aad it was sealed with.
func (kf *KeyFile) Open(s tandem.Sealed, aad []byte) ([]byte, error) {
	if err := checkShape(s); err != nil {
		return nil, err
	}
	kek, err := kf.kek(s.KeyID)
	if err != nil {
		return nil, err
	}
	dk, err := unwrap(s, kek)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	return open(s, dk, aad)
}

// Rewrap returns s with its data key wrapped under the current key; s
// already under it comes back unchanged.
func (kf *KeyFile) Rewrap(s tandem.Sealed) (tandem.Sealed, error) {
	if err := checkShape(s); err != nil {
		return tandem.Sealed{}, err
	}
	kf.mu.RLock()
	kid, cur := kf.ring.Current, kf.aeads[kf.ring.Current]
	kf.mu.RUnlock()
	if s.KeyID == kid {
		return s, nil
	}
	kek, err := kf.kek(s.KeyID)
	if err != nil {
		return tandem.Sealed{}, err
	}
	dk, err := unwrap(s, kek)
	if err != nil {
		return tandem.Sealed{}, err
	}
	defer clear(dk)
	out := s
	if err := wrap(&out, kid, cur, dk); err != nil {
		return tandem.Sealed{}, err
	}
	return out, nil
}

// kek returns the key with id kid, reading the file again once when the
// ring in memory lacks it (another process may have rotated the keys).
func (kf *KeyFile) kek(kid string) (cipher.AEAD, error) {
	kf.mu.RLock()
	kek, ok := kf.aeads[kid]
	kf.mu.RUnlock()
	if ok {
		return kek, nil
	}
	if ring, err := readKeyring(kf.path); err == nil {
		kf.mu.Lock()
		if _, ok := kf.aeads[kid]; !ok && ring.has(kid) {
			_ = kf.installLocked(ring)
		}
		kek, ok = kf.aeads[kid]
		kf.mu.Unlock()
		if ok {
			return kek, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENotFound,
		"key-encryption key %q is not in the vault key file %s; restore the key file that holds it", kid, kf.path).WithTarget(kid)
}

// AddKey generates a key, makes it current and saves the keyring with every
// older key kept.
func (kf *KeyFile) AddKey() (string, error) {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	k, err := newKey()
	if err != nil {
		return "", err
	}
	for kf.ring.has(k.ID) { // the id embeds random bits; a clash is all but impossible
		if k, err = newKey(); err != nil {
			return "", err
		}
	}
	next := kf.ring.clone()
	next.Keys = append(next.Keys, k)
	next.Current = k.ID
	if err := kf.saveLocked(next); err != nil {
		return "", err
	}
	return k.ID, nil
}

// RetireKeys removes every key that is neither current nor in inUse and
// saves the keyring. It returns the removed ids; nil when there were none,
// in which case the file is not written.
func (kf *KeyFile) RetireKeys(inUse []string) ([]string, error) {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	next := kf.ring.clone()
	next.Keys = next.Keys[:0]
	var removed []string
	for _, k := range kf.ring.Keys {
		if k.ID == kf.ring.Current || slices.Contains(inUse, k.ID) {
			next.Keys = append(next.Keys, k)
		} else {
			removed = append(removed, k.ID)
		}
	}
	if len(removed) == 0 {
		return nil, nil
	}
	if err := kf.saveLocked(next); err != nil {
		return nil, err
	}
	return removed, nil
}

// saveLocked writes ring to the file atomically and then makes it the ring
// in memory: a value is never sealed under a key the file does not hold.
func (kf *KeyFile) saveLocked(ring keyring) error {
	data, err := encodeKeyring(ring)
	if err != nil {
		return err
	}
	if err := writeAtomic(kf.path, data, false); err != nil {
		return fmt.Errorf("save vault key file: %w", err)
	}
	return kf.installLocked(ring)
}

func (kf *KeyFile) install(ring keyring) error {
	kf.mu.Lock()
	defer kf.mu.Unlock()
	return kf.installLocked(ring)
}

func (kf *KeyFile) installLocked(ring keyring) error {
	aeads := make(map[string]cipher.AEAD, len(ring.Keys))
	for _, k := range ring.Keys {
		a, err := newAEAD(k.Key)
		if err != nil {
			return fmt.Errorf("vault key %q: %w", k.ID, err)
		}
		aeads[k.ID] = a
	}
	kf.ring, kf.aeads = ring, aeads
	return nil
}

func (r keyring) has(id string) bool {
	return slices.ContainsFunc(r.Keys, func(k keyEntry) bool { return k.ID == id })
}

func (r keyring) clone() keyring {
	c := r
	c.Keys = slices.Clone(r.Keys)
	return c
}

func newKey() (keyEntry, error) {
	key, err := random(keySize)
	if err != nil {
		return keyEntry{}, err
	}
	suffix, err := random(4)
	if err != nil {
		return keyEntry{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	return keyEntry{ID: "kek-" + now.Format("20060102") + "-" + hex.EncodeToString(suffix), Key: key, CreatedAt: now}, nil
}

// createKeyring writes a new key file with one key. When another process
// created the file first, its keyring is used instead.
func createKeyring(path string) (keyring, error) {
	k, err := newKey()
	if err != nil {
		return keyring{}, err
	}
	ring := keyring{Version: keyringVersion, Current: k.ID, Keys: []keyEntry{k}}
	data, err := encodeKeyring(ring)
	if err != nil {
		return keyring{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return keyring{}, fmt.Errorf("create vault key file: %w", err)
	}
	if err := writeAtomic(path, data, true); errors.Is(err, fs.ErrExist) {
		return readKeyring(path)
	} else if err != nil {
		return keyring{}, fmt.Errorf("create vault key file: %w", err)
	}
	return ring, nil
}

func encodeKeyring(ring keyring) ([]byte, error) {
	data, err := json.MarshalIndent(ring, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// readKeyring reads and checks the key file. A missing file is returned as
// an error that wraps fs.ErrNotExist.
func readKeyring(path string) (keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return keyring{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return keyring{}, err
	}
	if !fi.Mode().IsRegular() {
		return keyring{}, tandem.Errorf(tandem.EInvalid, "vault key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return keyring{}, tandem.Errorf(tandem.EInvalid,
			"vault key file %s has mode %04o: group or others may access it, and it protects every secret; "+
				"restrict it with `chmod 600 %s` (and check who has read it)", path, perm, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return keyring{}, fmt.Errorf("read vault key file: %w", err)
	}
	var ring keyring
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ring); err != nil {
		return keyring{}, tandem.Errorf(tandem.EInvalid, "vault key file %s is not a valid keyring: %v", path, err)
	}
	if err := ring.check(); err != nil {
		return keyring{}, tandem.Errorf(tandem.EInvalid, "vault key file %s is not a valid keyring: %v", path, err)
	}
	return ring, nil
}

func (r keyring) check() error {
	if r.Version != keyringVersion {
		return fmt.Errorf("version %d, want %d", r.Version, keyringVersion)
	}
	if len(r.Keys) == 0 {
		return errors.New("it holds no keys")
	}
	seen := map[string]bool{}
	for _, k := range r.Keys {
		switch {
		case !keyIDRE.MatchString(k.ID):
			return fmt.Errorf("key id %q: use 1 to 64 letters, digits, '.', '-' and '_'", k.ID)
		case seen[k.ID]:
			return fmt.Errorf("key id %q appears twice", k.ID)
		case len(k.Key) != keySize:
			return fmt.Errorf("key %q has %d bytes, want %d", k.ID, len(k.Key), keySize)
		}
		seen[k.ID] = true
	}
	if !seen[r.Current] {
		return fmt.Errorf("current key %q is not in the ring", r.Current)
	}
	return nil
}

// writeAtomic writes data to a temporary file (mode 0600) next to path,
// syncs it and moves it to path: with exclusive, only if path does not
// exist yet (fs.ErrExist otherwise), else replacing it. The directory is
// synced afterwards so the new name survives a crash.
func writeAtomic(path string, data []byte, exclusive bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		// A hard link fails if path exists, where a rename would replace it.
		if err := os.Link(tmp, path); err != nil {
			return err
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
