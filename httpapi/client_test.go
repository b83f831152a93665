package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tandemml/tandem"
)

// deadEndpoint returns the URL of a port nothing listens on.
func deadEndpoint(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestClientFallsBackToNextEndpoint(t *testing.T) {
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			writeJSON(w, 401, tandem.Errorf(tandem.EUnauthorized, "bad token"))
			return
		}
		writeJSON(w, 200, tandem.RegionInfo{Region: "westus"})
	}))
	defer live.Close()

	c := NewClient([]string{deadEndpoint(t), live.URL}, "s3cret")
	info, err := c.Info(context.Background())
	if err != nil || info.Region != "westus" {
		t.Fatalf("got %+v, %v; want the second endpoint's answer", info, err)
	}

	_, err = NewClient([]string{deadEndpoint(t)}, "s3cret").Info(context.Background())
	if tandem.ErrorCode(err) != tandem.EUnavailable {
		t.Fatalf("got %v, want Unavailable when no endpoint answers", err)
	}
	_, err = NewClient([]string{live.URL}, "wrong").Info(context.Background())
	if tandem.ErrorCode(err) != tandem.EUnauthorized {
		t.Fatalf("got %v, want the server's Unauthorized", err)
	}
	_, err = NewClient(nil, "x").Info(context.Background())
	if tandem.ErrorCode(err) != tandem.EInvalid {
		t.Fatalf("got %v, want Invalid without endpoints", err)
	}
}
