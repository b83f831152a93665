package blobstore_test

import (
	"crypto/sha256"
	"encoding/hex"
)

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
