package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestStatusTable checks that every error code declared in the root package
// has exactly one HTTP status, and that codes survive a round trip.
func TestStatusTable(t *testing.T) {
	src, err := os.ReadFile("../error.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s+E\w+\s+= "(\w+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 10 {
		t.Fatalf("found %d codes in error.go, want the full list", len(codes))
	}
	seen := map[int]string{}
	for _, m := range codes {
		code := m[1]
		status, ok := statusOf[code]
		if !ok {
			t.Errorf("code %s has no HTTP status", code)
			continue
		}
		if other, dup := seen[status]; dup {
			t.Errorf("codes %s and %s share status %d", code, other, status)
		}
		seen[status] = code
		if got := codeOf(status); got != code {
			t.Errorf("codeOf(%d) = %s, want %s", status, got, code)
		}
	}
}

func TestWriteError(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := httptest.NewRequest(http.MethodGet, "/v1/x", nil)

	w := httptest.NewRecorder()
	writeError(w, r, logger, tandem.Errorf(tandem.ENotFound, "workspace %q not found", "w").WithTarget("w"))
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"target": "w"`) {
		t.Fatalf("got %d %s, want 404 with the target", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	writeError(w, r, logger, io.ErrUnexpectedEOF)
	if w.Code != 500 || strings.Contains(w.Body.String(), "unexpected EOF") {
		t.Fatalf("got %d %s, want 500 without internal details", w.Code, w.Body)
	}
}

func TestDecodeErrorNotJSON(t *testing.T) {
	resp := &http.Response{StatusCode: 502, Status: "502 Bad Gateway", Body: io.NopCloser(strings.NewReader("<html>proxy</html>"))}
	err := decodeError(resp)
	if tandem.ErrorCode(err) != tandem.EInternal || !strings.Contains(err.Error(), "502") {
		t.Fatalf("got %v, want an Internal error naming the status", err)
	}
}
