package blobstore

import (
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"

	"github.com/tandemml/tandem"
)

// lateMetadata lets the azblob backend commit a digest computed while
// uploading. The Azure SDK reads UploadStreamOptions.Metadata only when it
// commits the blob, after the last byte, and its values are pointers: Put
// fills them in before it closes the writer, so the blob and its digest
// appear together.
type lateMetadata struct {
	sha256, size string
}

func newLateMetadata() *lateMetadata { return &lateMetadata{} }

func (m *lateMetadata) beforeWrite(as func(any) bool) error {
	var opts *azblob.UploadStreamOptions
	if as(&opts) {
		opts.Metadata = map[string]*string{metaSHA256: &m.sha256, metaSize: &m.size}
	}
	return nil
}

func (m *lateMetadata) set(ref tandem.BlobRef) {
	m.sha256, m.size = ref.SHA256, strconv.FormatInt(ref.Size, 10)
}

// includeMetadata asks Azure to return each blob's metadata with the
// listing, which saves List a request per blob.
func includeMetadata(as func(any) bool) error {
	var opts *container.ListBlobsHierarchyOptions
	if as(&opts) {
		opts.Include.Metadata = true
	}
	return nil
}

// listedRef returns the recorded ref of a listed Azure blob, if the listing
// carried it; obj may be nil.
func listedRef(obj *blob.ListObject) (tandem.BlobRef, bool) {
	var item container.BlobItem
	if obj == nil || !obj.As(&item) {
		return tandem.BlobRef{}, false
	}
	md := map[string]string{}
	for k, v := range item.Metadata {
		if v != nil {
			md[strings.ToLower(k)] = *v
		}
	}
	return recordedRef(obj.Key, md, obj.Size)
}
