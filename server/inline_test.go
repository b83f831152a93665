package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// TestReplicationInlineBlobs writes small and large notebooks: the change
// feed ships the small ones' bytes inline, within the limits asked, and
// leaves the others to be fetched one by one; the pair converges either way.
func TestReplicationInlineBlobs(t *testing.T) {
	ctx := context.Background()
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	link(t, east, west)
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{}
	for i := range 30 {
		sizes[fmt.Sprintf("small/%02d.ipynb", i)] = 100 + 50*i
	}
	sizes["big/a.bin"] = 100 << 10
	sizes["big/b.bin"] = 300 << 10
	for p, n := range sizes {
		if _, err := east.admin.UploadNotebook(ctx, "vision", p, bytes.NewReader(bytes.Repeat([]byte(p[:1]), n))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}

	// What the feed ships, asked as westus: blobs up to 64 KiB, 2 KiB in all.
	peer := httpapi.PeerClient("westus", &tandem.Peer{Name: "eastus", Endpoint: east.Endpoint()}, east.secret)
	batch, err := peer.ChangesInline(ctx, ws.ID, 0, 500, 0, tandem.InlineLimits{MaxBlob: 64 << 10, MaxTotal: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, b := range batch.Blobs {
		sum := sha256.Sum256(b.Data)
		if int64(len(b.Data)) != b.Size || hex.EncodeToString(sum[:]) != b.SHA256 || b.Size > 64<<10 {
			t.Fatalf("inline blob %s: %d bytes, sha256 %x; the entry says %d bytes, %s", b.Key, len(b.Data), sum, b.Size, b.SHA256)
		}
		total += b.Size
	}
	if len(batch.Blobs) == 0 || total > 2<<10 {
		t.Fatalf("inline blobs: %d, %d bytes in all; want some, at most 2048 bytes", len(batch.Blobs), total)
	}
	// Not asked, none.
	if plain, err := peer.Changes(ctx, ws.ID, 0, 500, 0); err != nil || len(plain.Blobs) != 0 || len(plain.Changes) != len(batch.Changes) {
		t.Fatalf("feed without inline blobs: %d entries, %d blobs, %v", len(plain.Changes), len(plain.Blobs), err)
	}
	// Asked generously, every small blob but no big one.
	batch, err = peer.ChangesInline(ctx, ws.ID, 0, 500, 0, tandem.InlineLimits{MaxBlob: 64 << 10, MaxTotal: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, b := range batch.Blobs {
		got[b.Key] = true
		if strings.Contains(b.Key, "/big/") {
			t.Errorf("%s (%d bytes) shipped inline", b.Key, b.Size)
		}
	}
	if len(got) != 30 {
		t.Errorf("%d blobs inline, want the 30 small ones", len(got))
	}

	waitConverged(t, east, west, ws.ID)
	if a, b := digestOf(t, east, "vision"), digestOf(t, west, "vision"); a != b {
		t.Fatalf("digests differ: %s %s", a, b)
	}
	if body := readNotebook(t, west, "vision", "big/b.bin"); len(body) != 300<<10 {
		t.Fatalf("big/b.bin on the secondary: %d bytes", len(body))
	}
}

// TestReplicationInlineBlobCorruptInTransit puts a proxy between the
// regions that alters the bytes of inline blobs: the secondary refuses
// them by sha256, applies nothing of the batch, reports the blob, and
// converges once the link is clean again.
func TestReplicationInlineBlobCorruptInTransit(t *testing.T) {
	ctx := context.Background()
	// The proxy stops after the regions (cleanups run last first): their
	// long polls go through it.
	var proxyTo atomic.Pointer[httputil.ReverseProxy]
	mitm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { proxyTo.Load().ServeHTTP(w, r) }))
	t.Cleanup(mitm.Close)
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	east, west := startRegion(t, "eastus", keyFile), startRegion(t, "westus", keyFile)
	var corrupt, altered atomic.Bool
	corrupt.Store(true)
	target, _ := url.Parse(east.Endpoint())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // long polls cut at the end
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !corrupt.Load() || !strings.HasSuffix(resp.Request.URL.Path, "/changes") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var batch tandem.ChangeBatch
		if err := json.Unmarshal(body, &batch); err != nil {
			return err
		}
		for i := range batch.Blobs {
			if len(batch.Blobs[i].Data) > 0 {
				batch.Blobs[i].Data[0] ^= 0xff // same size, other bytes
				altered.Store(true)
			}
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false) // entry bodies byte for byte
		if err := enc.Encode(&batch); err != nil {
			return err
		}
		resp.Body = io.NopCloser(&out)
		resp.ContentLength = int64(out.Len())
		resp.Header.Set("Content-Length", fmt.Sprint(out.Len()))
		return nil
	}
	proxyTo.Store(proxy)
	if _, err := east.admin.AddRegion(ctx, "westus", west.Endpoint(), west.secret); err != nil {
		t.Fatal(err)
	}
	if _, err := west.admin.AddRegion(ctx, "eastus", mitm.URL, east.secret); err != nil {
		t.Fatal(err)
	}
	ws := &tandem.Workspace{Name: "vision"}
	if err := east.admin.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.UploadNotebook(ctx, "vision", "train.ipynb", strings.NewReader(strings.Repeat("cell ", 200))); err != nil {
		t.Fatal(err)
	}
	if _, err := east.admin.CreatePair(ctx, tandem.PairRequest{Workspace: "vision", SecondaryRegion: "westus"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := west.admin.PairStatus(ctx, "vision")
		if err == nil && st.Replication.State == "stopped" && strings.Contains(st.Replication.Reason, "train.ipynb") &&
			strings.Contains(st.Replication.Reason, "sha256") {
			if st.Replication.AppliedSeq != 0 {
				t.Fatalf("a batch with a corrupt blob was applied: %+v", st.Replication)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corruption not reported in 20s (altered: %v): %+v, %v", altered.Load(), st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := west.admin.OpenNotebook(ctx, "vision", "train.ipynb"); err == nil {
		t.Fatal("the secondary serves the corrupt notebook")
	}
	corrupt.Store(false)
	waitConverged(t, east, west, ws.ID)
	if body := readNotebook(t, west, "vision", "train.ipynb"); body != strings.Repeat("cell ", 200) {
		t.Fatalf("train.ipynb on the secondary: %q", body)
	}
}
