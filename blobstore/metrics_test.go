package blobstore_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/blobstore/blobtest"
)

func TestInstrument(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewPedanticRegistry()
	s := blobstore.Instrument(blobtest.Open(t, "mem"), reg, "mem")

	ref, err := s.Put(ctx, "k", strings.NewReader("0123456789"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r, err := s.OpenVerified(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
		r.Close()
	}
	bad := ref
	bad.Size = 9
	r, err := s.OpenVerified(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !tandem.IsCode(err, tandem.ECorrupt) {
		t.Fatalf("read with a wrong ref: got %v, want code %s", err, tandem.ECorrupt)
	}
	r.Close()
	if _, err := s.Stat(ctx, "missing"); !tandem.IsCode(err, tandem.ENotFound) {
		t.Fatalf("Stat: got %v, want code %s (passed through as is)", err, tandem.ENotFound)
	}
	if n, err := s.DeletePrefix(ctx, ""); n != 1 || err != nil {
		t.Fatalf("DeletePrefix: got %d, %v, want 1, nil", n, err)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tandem_blobstore_operations_total", []string{"op", "Put"}, 1},
		{"tandem_blobstore_operations_total", []string{"op", "OpenVerified"}, 3},
		{"tandem_blobstore_operations_total", []string{"op", "Stat"}, 1},
		{"tandem_blobstore_operations_total", []string{"op", "DeletePrefix"}, 1},
		{"tandem_blobstore_errors_total", []string{"op", "Stat", "code", tandem.ENotFound}, 1},
		{"tandem_blobstore_errors_total", []string{"op", "OpenVerified", "code", tandem.ECorrupt}, 1},
		{"tandem_blobstore_errors_total", []string{"op", "Put"}, 0},
		{"tandem_blobstore_written_bytes_total", nil, 10},
		{"tandem_blobstore_read_bytes_total", nil, 20}, // the wrong ref fails before reading
		{"tandem_blobstore_operation_duration_seconds", []string{"op", "OpenVerified"}, 3},
		{"tandem_blobstore_operation_duration_seconds", []string{"op", "Put"}, 1},
	} {
		if got := value(t, reg, c.name, append([]string{"backend", "mem"}, c.labels...)...); got != c.want {
			t.Errorf("%s%v: got %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "tandem_blobstore_operation_duration_seconds"); n != 4 {
		t.Errorf("duration series: got %d, want 4 (Put, OpenVerified, Stat, DeletePrefix)", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tandem_blobstore_written_bytes_total Bytes stored by Put.
# TYPE tandem_blobstore_written_bytes_total counter
tandem_blobstore_written_bytes_total{backend="mem"} 10
`), "tandem_blobstore_written_bytes_total"); err != nil {
		t.Error(err)
	}
}

// TestInstrumentShared checks that two stores can share one registry.
func TestInstrumentShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := blobstore.Instrument(blobtest.Open(t, "mem"), reg, "a")
	b := blobstore.Instrument(blobtest.Open(t, "mem"), reg, "b")
	for _, s := range []tandem.BlobStore{a, b, a} {
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for backend, n := range map[string]float64{"a": 2, "b": 1} {
		if got := value(t, reg, "tandem_blobstore_operations_total", "backend", backend, "op", "Ping"); got != n {
			t.Errorf("Ping of %s: got %v, want %v", backend, got, n)
		}
	}
}

// value returns the sum of the counters, or of the histogram sample counts,
// of the series of name whose labels include the given name/value pairs.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}
