package blobstore_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tandemml/tandem/blobstore/blobtest"
)

// BenchmarkPut measures Put of a 4 MiB blob, hashed and recorded, on each
// backend.
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{}).Read(data)
	for _, backend := range blobtest.Backends() {
		b.Run(backend, func(b *testing.B) {
			s := blobtest.Open(b, backend)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := s.Put(context.Background(), "bench/blob", bytes.NewReader(data), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
