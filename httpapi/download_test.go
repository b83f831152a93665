package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestDownloadVerified checks the client's downloads: the bytes the server
// sends are verified against the sha256 and size in its headers, and a
// body cut short is Unavailable.
func TestDownloadVerified(t *testing.T) {
	const data = "hello, notebook"
	sum := sha256.Sum256([]byte(data))
	for _, c := range []struct {
		name, body string
		length     int // Content-Length; a shorter body is cut
		code       string
	}{
		{"Exact", data, len(data), ""},
		{"FlippedByte", strings.Replace(data, "n", "m", 1), len(data), tandem.ECorrupt},
		{"Short", data[:5], 5, tandem.ECorrupt},
		{"Long", data + "!", len(data) + 1, tandem.ECorrupt},
		{"Cut", data[:5], len(data), tandem.EUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(headerSHA256, hex.EncodeToString(sum[:]))
				w.Header().Set(headerSize, strconv.Itoa(len(data)))
				w.Header().Set("Content-Length", strconv.Itoa(c.length))
				io.WriteString(w, c.body)
			}))
			defer srv.Close()
			_, rc, err := NewClient([]string{srv.URL}, "t").OpenNotebook(context.Background(), "ws", "a.ipynb")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if tandem.ErrorCode(err) != c.code {
				t.Fatalf("got %q, %v; want code %q", got, err, c.code)
			}
			if err != nil && !strings.Contains(err.Error(), `download of "a.ipynb"`) {
				t.Fatalf("error %q does not name the download", err)
			}
		})
	}
}

// TestUploadHashesWhatWasSent checks that an upload compares the sha256 the
// server recorded with the one of the bytes sent, hashed over when the body
// is sent again to the primary a NotPrimary names.
func TestUploadHashesWhatWasSent(t *testing.T) {
	const data = "notebook bytes"
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		writeJSON(w, 200, tandem.Notebook{Path: "a.ipynb", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))})
	}))
	defer primary.Close()
	secondary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		writeJSON(w, 409, tandem.Errorf(tandem.ENotPrimary, "read-only").WithTarget(primary.URL))
	}))
	defer secondary.Close()

	nb, err := NewClient([]string{secondary.URL}, "t").UploadNotebook(context.Background(), "ws", "a.ipynb", bytes.NewReader([]byte(data)))
	if err != nil || nb.Size != int64(len(data)) {
		t.Fatalf("upload through a NotPrimary: got %+v, %v", nb, err)
	}

	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		writeJSON(w, 200, tandem.Notebook{Path: "a.ipynb", SHA256: strings.Repeat("0", 64)})
	}))
	defer liar.Close()
	_, err = NewClient([]string{liar.URL}, "t").UploadNotebook(context.Background(), "ws", "a.ipynb", strings.NewReader(data))
	if !tandem.IsCode(err, tandem.ECorrupt) {
		t.Fatalf("server recorded other bytes: got %v, want ECorrupt", err)
	}
}
