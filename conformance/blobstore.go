package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
)

// BlobStore runs the conformance suite of tandem.BlobStore. open must return
// a fresh, empty store for the test it is given and close it when that test
// ends. Subtests run in parallel, each on its own store.
//
// corrupt, if not nil, must replace the bytes of the blob under key with data
// behind the store's back, keeping the sha256 and size recorded for it, as
// damaged storage would. Without it the subtests that need it are skipped.
//
// Beyond the interface's doc comments, the suite holds a store to these
// contracts: List and DeletePrefix match a plain string prefix ("a/b"
// matches "a/bc"; callers pass prefixes ending in "/"); List orders keys by
// bytes; Put's error wraps the error of a failing reader; a Put whose
// context ends before it returns stores nothing.
func BlobStore(t *testing.T, open func(t *testing.T) tandem.BlobStore,
	corrupt func(t *testing.T, s tandem.BlobStore, key string, data []byte)) {
	for _, c := range blobCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if c.corrupt == nil {
				c.fn(t, s)
				return
			}
			if corrupt == nil {
				t.Skip("no corrupt hook given")
			}
			c.corrupt(t, s, corrupt)
		})
	}
}

type blobCorruptFunc = func(t *testing.T, s tandem.BlobStore, key string, data []byte)

type blobCase struct {
	name    string
	fn      func(t *testing.T, s tandem.BlobStore)
	corrupt func(t *testing.T, s tandem.BlobStore, corrupt blobCorruptFunc)
}

func blobCases() []blobCase {
	return []blobCase{
		{name: "Put/OK", fn: testBlobPut},
		{name: "Put/WantOK", fn: testBlobPutWant},
		{name: "Put/ErrCorrupt", fn: testBlobPutCorrupt},
		{name: "Put/ErrCorruptSize", fn: testBlobPutCorruptSize},
		{name: "Put/ErrCorruptKeepsPrevious", fn: testBlobPutCorruptKeepsPrevious},
		{name: "Put/ErrReader", fn: testBlobPutReaderFails},
		{name: "Put/ErrReaderKeepsPrevious", fn: testBlobPutReaderFailsKeepsPrevious},
		{name: "Put/ErrCanceled", fn: testBlobPutCanceled},
		{name: "Put/Overwrite", fn: testBlobPutOverwrite},
		{name: "Put/Concurrent", fn: testBlobPutConcurrent},
		{name: "Put/ConcurrentOverwrite", fn: testBlobPutConcurrentOverwrite},
		{name: "Open/ErrNotFound", fn: testBlobOpenNotFound},
		{name: "OpenVerified/OK", fn: testBlobOpenVerified},
		{name: "OpenVerified/ErrCorruptRef", fn: testBlobOpenVerifiedWrongRef},
		{name: "OpenVerified/ErrCorrupt", corrupt: testBlobOpenVerifiedCorrupt},
		{name: "OpenVerified/ErrNotFound", fn: testBlobOpenVerifiedNotFound},
		{name: "Stat/ErrNotFound", fn: testBlobStatNotFound},
		{name: "List/Order", fn: testBlobListOrder},
		{name: "List/Prefix", fn: testBlobListPrefix},
		{name: "List/Refs", fn: testBlobListRefs},
		{name: "List/Pages", fn: testBlobListPages},
		{name: "List/StopsAtError", fn: testBlobListStops},
		{name: "Delete/OK", fn: testBlobDelete},
		{name: "Delete/Idempotent", fn: testBlobDeleteIdempotent},
		{name: "DeletePrefix/OK", fn: testBlobDeletePrefix},
		{name: "Keys/OK", fn: testBlobKeysOK},
		{name: "Keys/ErrInvalid", fn: testBlobKeysInvalid},
		{name: "Ping/OK", fn: testBlobPing},
	}
}

// blobLargeSize crosses the 8 MiB block size of gocloud's azureblob writer, so
// that a large Put stages several blocks.
const blobLargeSize = 9<<20 + 7

// blobData returns n bytes generated from seed.
func blobData(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

func blobRefOf(key string, data []byte) tandem.BlobRef {
	sum := sha256.Sum256(data)
	return tandem.BlobRef{Key: key, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func blobPut(t *testing.T, s tandem.BlobStore, key string, data []byte) tandem.BlobRef {
	t.Helper()
	ref, err := s.Put(context.Background(), key, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return ref
}

func blobRead(t *testing.T, s tandem.BlobStore, key string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return data
}

func blobStat(t *testing.T, s tandem.BlobStore, key string) tandem.BlobRef {
	t.Helper()
	ref, err := s.Stat(context.Background(), key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	return ref
}

func blobList(t *testing.T, s tandem.BlobStore, prefix string) []tandem.BlobRef {
	t.Helper()
	var refs []tandem.BlobRef
	err := s.List(context.Background(), prefix, func(ref tandem.BlobRef) error {
		refs = append(refs, ref)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return refs
}

func blobKeys(t *testing.T, s tandem.BlobStore, prefix string) []string {
	t.Helper()
	var keys []string
	for _, ref := range blobList(t, s, prefix) {
		keys = append(keys, ref.Key)
	}
	return keys
}

func blobWantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantBlob checks that key holds data, recorded with the ref of data.
func wantBlob(t *testing.T, s tandem.BlobStore, key string, data []byte) {
	t.Helper()
	if got := blobRead(t, s, key); !bytes.Equal(got, data) {
		t.Fatalf("Open(%q): got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
			key, len(got), blobRefOf(key, got).SHA256, len(data), blobRefOf(key, data).SHA256)
	}
	if got, want := blobStat(t, s, key), blobRefOf(key, data); got != want {
		t.Fatalf("Stat(%q): got %+v, want %+v", key, got, want)
	}
}

// wantNoBlob checks that key holds nothing, and that nothing is listed.
func wantNoBlob(t *testing.T, s tandem.BlobStore, key string) {
	t.Helper()
	_, err := s.Stat(context.Background(), key)
	blobWantCode(t, fmt.Sprintf("Stat(%q)", key), err, tandem.ENotFound)
	if keys := blobKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("List: got %q, want nothing", keys)
	}
}

func testBlobPut(t *testing.T, s tandem.BlobStore) {
	for _, c := range []struct {
		name string
		size int
	}{{"Empty", 0}, {"Small", 100}, {"Large", blobLargeSize}} {
		t.Run(c.name, func(t *testing.T) {
			key := "put/" + c.name + ".bin"
			data := blobData(c.size, 1)
			ref := blobPut(t, s, key, data)
			if want := blobRefOf(key, data); ref != want {
				t.Fatalf("Put: got %+v, want %+v", ref, want)
			}
			wantBlob(t, s, key, data)
		})
	}
}

func testBlobPutWant(t *testing.T, s tandem.BlobStore) {
	data := blobData(1000, 2)
	for _, c := range []struct {
		name string
		want tandem.BlobRef
	}{{"WithSize", blobRefOf("", data)}, {"AnySize", tandem.BlobRef{SHA256: blobRefOf("", data).SHA256, Size: -1}}} {
		t.Run(c.name, func(t *testing.T) {
			key := "want/" + c.name
			ref, err := s.Put(context.Background(), key, bytes.NewReader(data), &c.want)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if want := blobRefOf(key, data); ref != want {
				t.Fatalf("Put: got %+v, want %+v", ref, want)
			}
			wantBlob(t, s, key, data)
		})
	}
}

func testBlobPutCorrupt(t *testing.T, s tandem.BlobStore) {
	data, other := blobData(1000, 3), blobData(1000, 4)
	want := blobRefOf("", other)
	_, err := s.Put(context.Background(), "k", bytes.NewReader(data), &want)
	blobWantCode(t, "Put", err, tandem.ECorrupt)
	for _, sum := range []string{want.SHA256, blobRefOf("", data).SHA256} {
		if !strings.Contains(err.Error(), sum) {
			t.Errorf("Put: got error %q, want it to name sha256 %s", err, sum)
		}
	}
	wantNoBlob(t, s, "k")
}

func testBlobPutCorruptSize(t *testing.T, s tandem.BlobStore) {
	data := blobData(1000, 5)
	for _, c := range []struct {
		name string
		size int64
	}{{"Overrun", 999}, {"Underrun", 1001}} {
		t.Run(c.name, func(t *testing.T) {
			want := tandem.BlobRef{SHA256: blobRefOf("", data).SHA256, Size: c.size}
			_, err := s.Put(context.Background(), "k", bytes.NewReader(data), &want)
			blobWantCode(t, "Put", err, tandem.ECorrupt)
			wantNoBlob(t, s, "k")
		})
	}
}

func testBlobPutCorruptKeepsPrevious(t *testing.T, s tandem.BlobStore) {
	old, data := blobData(blobLargeSize, 6), blobData(blobLargeSize, 7)
	blobPut(t, s, "k", old)
	want := blobRefOf("", old)
	_, err := s.Put(context.Background(), "k", bytes.NewReader(data), &want)
	blobWantCode(t, "Put", err, tandem.ECorrupt)
	wantBlob(t, s, "k", old)
}

var errBlobReader = errors.New("reader failed on purpose")

// failingBlobReader returns data, then errBlobReader.
type failingBlobReader struct{ r io.Reader }

func (f *failingBlobReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errBlobReader
	}
	return n, err
}

func testBlobPutReaderFails(t *testing.T, s tandem.BlobStore) {
	_, err := s.Put(context.Background(), "k", &failingBlobReader{bytes.NewReader(blobData(blobLargeSize, 8))}, nil)
	if !errors.Is(err, errBlobReader) {
		t.Fatalf("Put: got error %v, want one wrapping %v", err, errBlobReader)
	}
	wantNoBlob(t, s, "k")
}

func testBlobPutReaderFailsKeepsPrevious(t *testing.T, s tandem.BlobStore) {
	old := blobData(1000, 9)
	blobPut(t, s, "k", old)
	_, err := s.Put(context.Background(), "k", &failingBlobReader{bytes.NewReader(blobData(blobLargeSize, 10))}, nil)
	if !errors.Is(err, errBlobReader) {
		t.Fatalf("Put: got error %v, want one wrapping %v", err, errBlobReader)
	}
	wantBlob(t, s, "k", old)
}

// cancelingBlobReader cancels its context half way, and reads on.
type cancelingBlobReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelingBlobReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n += n; c.n >= blobLargeSize/2 {
		c.cancel()
	}
	return n, err
}

func testBlobPutCanceled(t *testing.T, s tandem.BlobStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &cancelingBlobReader{r: bytes.NewReader(blobData(blobLargeSize, 11)), cancel: cancel}
	if _, err := s.Put(ctx, "k", r, nil); err == nil {
		t.Fatal("Put: got no error, want one for the canceled context")
	}
	wantNoBlob(t, s, "k")
}

func testBlobPutOverwrite(t *testing.T, s tandem.BlobStore) {
	blobPut(t, s, "k", blobData(blobLargeSize, 12))
	data := blobData(2000, 13)
	blobPut(t, s, "k", data)
	wantBlob(t, s, "k", data)
	if got, want := blobList(t, s, ""), []tandem.BlobRef{blobRefOf("k", data)}; !slices.Equal(got, want) {
		t.Fatalf("List: got %+v, want %+v", got, want)
	}
}

func testBlobPutConcurrent(t *testing.T, s tandem.BlobStore) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			data := blobData(100_000+i, uint64(100+i))
			_, errs[i] = s.Put(context.Background(), fmt.Sprintf("c/%02d", i), bytes.NewReader(data), nil)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put c/%02d: %v", i, errs[i])
		}
		wantBlob(t, s, fmt.Sprintf("c/%02d", i), blobData(100_000+i, uint64(100+i)))
	}
	if keys := blobKeys(t, s, "c/"); len(keys) != n {
		t.Fatalf("List: got %d keys, want %d", len(keys), n)
	}
}

// testBlobPutConcurrentOverwrite checks that racing Puts of one key leave one of
// the blobs, whole, with its own recorded digest.
func testBlobPutConcurrentOverwrite(t *testing.T, s tandem.BlobStore) {
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.Put(context.Background(), "k", bytes.NewReader(blobData(50_000+i, uint64(200+i))), nil); err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := blobRead(t, s, "k")
	i := len(got) - 50_000
	if i < 0 || i >= n || !bytes.Equal(got, blobData(50_000+i, uint64(200+i))) {
		t.Fatalf("Open: got %d bytes matching none of the blobs put", len(got))
	}
	if ref, want := blobStat(t, s, "k"), blobRefOf("k", got); ref != want {
		t.Fatalf("Stat: got %+v, want %+v, the ref of the bytes stored", ref, want)
	}
}

func testBlobOpenNotFound(t *testing.T, s tandem.BlobStore) {
	blobPut(t, s, "a/b", []byte("x"))
	for _, key := range []string{"missing", "a/missing", "a", "a/b/c"} {
		_, err := s.Open(context.Background(), key)
		blobWantCode(t, fmt.Sprintf("Open(%q)", key), err, tandem.ENotFound)
		if !strings.Contains(err.Error(), key) {
			t.Errorf("Open(%q): got error %q, want it to name the key", key, err)
		}
	}
}

// blobReadVerified reads ref through OpenVerified and returns the bytes read and
// the error that ended reading (nil at a clean io.EOF).
func blobReadVerified(t *testing.T, s tandem.BlobStore, ref tandem.BlobRef) ([]byte, error) {
	t.Helper()
	r, err := s.OpenVerified(context.Background(), ref)
	if err != nil {
		t.Fatalf("OpenVerified(%+v): %v", ref, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return data, err
}

func testBlobOpenVerified(t *testing.T, s tandem.BlobStore) {
	for _, size := range []int{0, 1, blobLargeSize} {
		key := "v/" + strconv.Itoa(size)
		data := blobData(size, 14)
		ref := blobPut(t, s, key, data)
		got, err := blobReadVerified(t, s, ref)
		if err != nil {
			t.Fatalf("read %q: %v", key, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %q: got %d bytes, want %d", key, len(got), len(data))
		}
	}
}

func testBlobOpenVerifiedWrongRef(t *testing.T, s tandem.BlobStore) {
	data := blobData(blobLargeSize, 15)
	ref := blobPut(t, s, "k", data)
	other := blobRefOf("k", blobData(blobLargeSize, 16))
	for _, c := range []struct {
		name string
		ref  tandem.BlobRef
	}{
		{"SHA256", other},
		{"Shorter", tandem.BlobRef{Key: "k", SHA256: ref.SHA256, Size: ref.Size - 1}},
		{"Longer", tandem.BlobRef{Key: "k", SHA256: ref.SHA256, Size: ref.Size + 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := blobReadVerified(t, s, c.ref)
			blobWantCode(t, "read", err, tandem.ECorrupt)
		})
	}
}

func testBlobOpenVerifiedCorrupt(t *testing.T, s tandem.BlobStore, corrupt blobCorruptFunc) {
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"SameSize", blobData(1000, 18)},
		{"Shorter", blobData(999, 18)},
		{"Longer", blobData(1001, 18)},
		{"Empty", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := "corrupt/" + c.name
			ref := blobPut(t, s, key, blobData(1000, 17))
			corrupt(t, s, key, c.data)
			if got := blobRead(t, s, key); !bytes.Equal(got, c.data) {
				t.Fatalf("Open after corrupt: got %d bytes, want the %d corrupt bytes", len(got), len(c.data))
			}
			if got := blobStat(t, s, key); got != ref {
				t.Fatalf("Stat after corrupt: got %+v, want the recorded %+v", got, ref)
			}
			_, err := blobReadVerified(t, s, ref)
			blobWantCode(t, "read", err, tandem.ECorrupt)
		})
	}
}

func testBlobOpenVerifiedNotFound(t *testing.T, s tandem.BlobStore) {
	_, err := s.OpenVerified(context.Background(), blobRefOf("missing", []byte("x")))
	blobWantCode(t, "OpenVerified", err, tandem.ENotFound)
}

func testBlobStatNotFound(t *testing.T, s tandem.BlobStore) {
	blobPut(t, s, "a/b", []byte("x"))
	for _, key := range []string{"missing", "a", "a/b/c"} {
		_, err := s.Stat(context.Background(), key)
		blobWantCode(t, fmt.Sprintf("Stat(%q)", key), err, tandem.ENotFound)
	}
}

func testBlobListOrder(t *testing.T, s tandem.BlobStore) {
	// '-' and '.' sort before '/', '0' after it: a directory walk that
	// visits x/a/ before x/a-b lists out of order.
	keys := []string{"x/a-b", "x/a.b", "x/a/b", "x/a/c/d", "x/a0", "x/B", "x/b", "y", "x/a/b-c"}
	for _, i := range rand.Perm(len(keys)) {
		blobPut(t, s, keys[i], []byte(keys[i]))
	}
	want := slices.Sorted(slices.Values(keys))
	if got := blobKeys(t, s, ""); !slices.Equal(got, want) {
		t.Fatalf("List: got %q, want %q", got, want)
	}
}

func testBlobListPrefix(t *testing.T, s tandem.BlobStore) {
	for _, key := range []string{"a/b/1", "a/b/2", "a/bc/3", "a/c", "b/1"} {
		blobPut(t, s, key, []byte(key))
	}
	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"a/b/", []string{"a/b/1", "a/b/2"}},
		{"a/b", []string{"a/b/1", "a/b/2", "a/bc/3"}},
		{"a/", []string{"a/b/1", "a/b/2", "a/bc/3", "a/c"}},
		{"", []string{"a/b/1", "a/b/2", "a/bc/3", "a/c", "b/1"}},
		{"a/b/1", []string{"a/b/1"}},
		{"c/", nil},
		{"a/x/", nil},
	} {
		if got := blobKeys(t, s, c.prefix); !slices.Equal(got, c.want) {
			t.Errorf("List(%q): got %q, want %q", c.prefix, got, c.want)
		}
	}
}

func testBlobListRefs(t *testing.T, s tandem.BlobStore) {
	var want []tandem.BlobRef
	for i, size := range []int{0, 10, 100_000} {
		want = append(want, blobPut(t, s, fmt.Sprintf("r/%d", i), blobData(size, uint64(300+i))))
	}
	if got := blobList(t, s, "r/"); !slices.Equal(got, want) {
		t.Fatalf("List: got %+v, want %+v", got, want)
	}
}

// testBlobListPages lists more blobs than backends return in one page (1000 for
// gocloud's drivers), in keys that sort across directory boundaries.
func testBlobListPages(t *testing.T, s tandem.BlobStore) {
	var keys []string
	for i := range 1010 {
		keys = append(keys, fmt.Sprintf("p/a/%04d", i))
	}
	keys = append(keys, "p/a-1", "p/a.2", "p/a0")
	blobPutAll(t, s, keys)
	slices.Sort(keys)
	if got := blobKeys(t, s, "p/"); !slices.Equal(got, keys) {
		t.Fatalf("List: got %d keys (sorted: %v), want the %d keys %q...%q",
			len(got), slices.IsSorted(got), len(keys), keys[0], keys[len(keys)-1])
	}
	n, err := s.DeletePrefix(context.Background(), "p/")
	if err != nil || n != len(keys) {
		t.Fatalf("DeletePrefix: got %d, %v, want %d, nil", n, err, len(keys))
	}
}

// blobPutAll puts a one-byte blob under each key, a few at a time.
func blobPutAll(t *testing.T, s tandem.BlobStore, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 8 {
		wg.Go(func() {
			for key := range next {
				if _, err := s.Put(context.Background(), key, strings.NewReader("x"), nil); err != nil {
					t.Errorf("Put(%q): %v", key, err)
				}
			}
		})
	}
	for _, key := range keys {
		next <- key
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func testBlobListStops(t *testing.T, s tandem.BlobStore) {
	blobPutAll(t, s, []string{"a", "b", "c"})
	stop := errors.New("stop")
	var seen []string
	err := s.List(context.Background(), "", func(ref tandem.BlobRef) error {
		seen = append(seen, ref.Key)
		return stop
	})
	if err != stop {
		t.Fatalf("List: got error %v, want %v as is", err, stop)
	}
	if !slices.Equal(seen, []string{"a"}) {
		t.Fatalf("List: got calls for %q, want one for \"a\"", seen)
	}
}

func testBlobDelete(t *testing.T, s tandem.BlobStore) {
	blobPutAll(t, s, []string{"a/1", "a/2", "b"})
	if err := s.Delete(context.Background(), "a/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Open(context.Background(), "a/1")
	blobWantCode(t, "Open after Delete", err, tandem.ENotFound)
	if got, want := blobKeys(t, s, ""), []string{"a/2", "b"}; !slices.Equal(got, want) {
		t.Fatalf("List: got %q, want %q", got, want)
	}
}

func testBlobDeleteIdempotent(t *testing.T, s tandem.BlobStore) {
	blobPut(t, s, "a/1", []byte("x"))
	for _, key := range []string{"a/1", "a/1", "never", "a", "a/1/2"} {
		if err := s.Delete(context.Background(), key); err != nil {
			t.Fatalf("Delete(%q): got %v, want nil", key, err)
		}
	}
	if keys := blobKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("List: got %q, want nothing", keys)
	}
}

func testBlobDeletePrefix(t *testing.T, s tandem.BlobStore) {
	blobPutAll(t, s, []string{"a/b/1", "a/b/2", "a/b/c/3", "a/bc/4", "a/c", "b"})
	for _, c := range []struct {
		prefix string
		n      int
		left   []string
	}{
		{"a/b/", 3, []string{"a/bc/4", "a/c", "b"}},
		{"a/b/", 0, []string{"a/bc/4", "a/c", "b"}},
		{"x/", 0, []string{"a/bc/4", "a/c", "b"}},
		{"a/", 2, []string{"b"}},
		{"", 1, nil},
	} {
		n, err := s.DeletePrefix(context.Background(), c.prefix)
		if err != nil || n != c.n {
			t.Fatalf("DeletePrefix(%q): got %d, %v, want %d, nil", c.prefix, n, err, c.n)
		}
		if got := blobKeys(t, s, ""); !slices.Equal(got, c.left) {
			t.Fatalf("List after DeletePrefix(%q): got %q, want %q", c.prefix, got, c.left)
		}
	}
}

func testBlobKeysOK(t *testing.T, s tandem.BlobStore) {
	keys := []string{
		"a.b/c..d/.hidden",
		"with space/ünïcode ✓.txt",
		"-dash/_under/~tilde/+plus=eq,comma;semi@at!bang(paren)[br]{cur}$&'",
		"UPPER/lower",
		"x.attrs.json",
		strings.Repeat("k", 200) + "/" + strings.Repeat("v", 200),
	}
	for _, key := range keys {
		data := []byte("data of " + key)
		if ref := blobPut(t, s, key, data); ref.Key != key {
			t.Fatalf("Put(%q): got key %q", key, ref.Key)
		}
		wantBlob(t, s, key, data)
	}
	want := slices.Sorted(slices.Values(keys))
	if got := blobKeys(t, s, ""); !slices.Equal(got, want) {
		t.Fatalf("List: got %q, want %q", got, want)
	}
}

func testBlobKeysInvalid(t *testing.T, s tandem.BlobStore) {
	ctx := context.Background()
	keys := []string{
		"", "/a", "a/", "a//b", ".", "..", "./a", "a/./b", "a/..", "../a", "a/../b",
		`a\b`, "a\x00b", "a\nb", strings.Repeat("k", 64<<10),
	}
	for _, key := range keys {
		what := func(op string) string { return fmt.Sprintf("%s(%.40q)", op, key) }
		_, err := s.Put(ctx, key, strings.NewReader("x"), nil)
		blobWantCode(t, what("Put"), err, tandem.EInvalid)
		if key != "" && strconv.Quote(key) == `"`+key+`"` && len(key) < 100 && !strings.Contains(err.Error(), key) {
			t.Errorf("%s: got error %q, want it to name the key", what("Put"), err)
		}
		_, err = s.Open(ctx, key)
		blobWantCode(t, what("Open"), err, tandem.EInvalid)
		_, err = s.OpenVerified(ctx, blobRefOf(key, []byte("x")))
		blobWantCode(t, what("OpenVerified"), err, tandem.EInvalid)
		_, err = s.Stat(ctx, key)
		blobWantCode(t, what("Stat"), err, tandem.EInvalid)
		err = s.Delete(ctx, key)
		blobWantCode(t, what("Delete"), err, tandem.EInvalid)
	}
	for _, prefix := range []string{"/", "../", "a//", "a/../", `a\`} {
		err := s.List(ctx, prefix, func(tandem.BlobRef) error { return nil })
		blobWantCode(t, fmt.Sprintf("List(%q)", prefix), err, tandem.EInvalid)
		_, err = s.DeletePrefix(ctx, prefix)
		blobWantCode(t, fmt.Sprintf("DeletePrefix(%q)", prefix), err, tandem.EInvalid)
	}
	if keys := blobKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("List: got %q, want nothing", keys)
	}
}

func testBlobPing(t *testing.T, s tandem.BlobStore) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: got %v, want nil", err)
	}
}
