package blobstore

import (
	"context"
	"io"
	"sync"

	"gocloud.dev/blob"

	"github.com/tandemml/tandem"
)

// deleteWorkers bounds the deletes DeletePrefix has in flight.
const deleteWorkers = 8

// List calls fn with the ref of each blob whose key starts with prefix, in
// key order, as the bucket's iterator yields them, and returns fn's first
// error as is. The prefix is a plain string prefix: "a/b" matches "a/bc";
// pass "a/b/" for the blobs under a/b. Blobs whose names are not valid keys,
// such as files other tools left, are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(tandem.BlobRef) error) error {
	return s.each(ctx, prefix, func(key string, obj *blob.ListObject) error {
		if checkKey(key) != nil {
			return nil
		}
		ref, ok := listedRef(obj)
		if !ok {
			var err error
			ref, err = s.Stat(ctx, key)
			if tandem.IsCode(err, tandem.ENotFound) {
				return nil // deleted since it was listed
			} else if err != nil {
				return err
			}
		}
		return fn(ref)
	})
}

// Delete removes a blob. Deleting a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := s.fail("delete", key, s.bucket.Delete(ctx, key)); err != nil && !tandem.IsCode(err, tandem.ENotFound) {
		return err
	}
	return nil
}

// DeletePrefix removes every blob under prefix, valid key or not, a few at
// a time, and returns how many it removed. Like List, it matches a plain
// string prefix.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	var (
		mu       sync.Mutex
		n        int
		firstErr error
		wg       sync.WaitGroup
		slots    = make(chan struct{}, deleteWorkers)
	)
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	err := s.each(ctx, prefix, func(key string, _ *blob.ListObject) error {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := s.fail("delete", key, s.bucket.Delete(ctx, key))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				n++
			} else if !tandem.IsCode(err, tandem.ENotFound) && firstErr == nil {
				firstErr = err
			}
		}()
		return failed()
	})
	wg.Wait()
	if err == nil {
		err = failed()
	}
	return n, err
}

// each calls fn for each blob under prefix, in key order, with its key and,
// from the bucket's iterator, its list object. The file backend walks its
// directory instead: gocloud's fileblob lists "a/b" before "a-b", and loses
// such keys at its page boundaries.
func (s *Store) each(ctx context.Context, prefix string, fn func(key string, obj *blob.ListObject) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	if s.kind == kindFile {
		var fnErr error
		err := s.walk(ctx, prefix, func(key string) error { fnErr = fn(key, nil); return fnErr })
		if err != nil && err == fnErr {
			return err
		}
		return s.fail("list", prefix, err)
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix, BeforeList: includeMetadata})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		} else if err != nil {
			return s.fail("list", prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if err := fn(obj.Key, obj); err != nil {
			return err
		}
	}
}
