package blobstore

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"

	"github.com/tandemml/tandem"
)

// Metadata keys under which Put records a blob's digest. gocloud lower-cases
// metadata keys on every backend.
const (
	metaSHA256 = "sha256"
	metaSize   = "size"
)

// digest hashes and counts the bytes written to it.
type digest struct {
	h hash.Hash
	n int64
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digest) ref(key string) tandem.BlobRef {
	return tandem.BlobRef{Key: key, SHA256: hex.EncodeToString(d.h.Sum(nil)), Size: d.n}
}

func metadata(ref tandem.BlobRef) map[string]string {
	return map[string]string{metaSHA256: ref.SHA256, metaSize: strconv.FormatInt(ref.Size, 10)}
}

// validSHA256 reports whether s is 64 lower-case hex digits.
func validSHA256(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// mismatch returns the ECorrupt error for bytes that hash to got where want
// was expected.
func mismatch(key string, want, got tandem.BlobRef) error {
	return tandem.Errorf(tandem.ECorrupt,
		"blob %q: expected sha256 %s and %d bytes, got sha256 %s and %d bytes",
		key, want.SHA256, want.Size, got.SHA256, got.Size)
}
