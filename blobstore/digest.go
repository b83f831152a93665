package blobstore

import (
	"strconv"

	"github.com/tandemml/tandem"
)

// Metadata keys under which Put records a blob's digest. gocloud lower-cases
// metadata keys on every backend. Hashing itself is tandem.VerifyReader's
// and tandem.HashReader's.
const (
	metaSHA256 = "sha256"
	metaSize   = "size"
)

func metadata(ref tandem.BlobRef) map[string]string {
	return map[string]string{metaSHA256: ref.SHA256, metaSize: strconv.FormatInt(ref.Size, 10)}
}
