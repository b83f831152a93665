package blobstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemml/tandem"
)

// metrics are the collectors Instrument registers, labelled by backend.
type metrics struct {
	ops      *prometheus.CounterVec   // backend, op
	errs     *prometheus.CounterVec   // backend, op, code
	written  *prometheus.CounterVec   // backend
	read     *prometheus.CounterVec   // backend
	duration *prometheus.HistogramVec // backend, op
}

func newMetrics(reg prometheus.Registerer) *metrics {
	return &metrics{
		ops: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_blobstore_operations_total",
			Help: "Blob store operations, by backend and operation.",
		}, []string{"backend", "op"})),
		errs: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_blobstore_errors_total",
			Help: "Blob store operations that failed, by backend, operation and error code.",
		}, []string{"backend", "op", "code"})),
		written: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_blobstore_written_bytes_total",
			Help: "Bytes stored by Put.",
		}, []string{"backend"})),
		read: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_blobstore_read_bytes_total",
			Help: "Bytes read through Open and OpenVerified.",
		}, []string{"backend"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tandem_blobstore_operation_duration_seconds",
			Help:    "Time blob store operations take; for Open and OpenVerified, until the reader is returned.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms to 262s
		}, []string{"backend", "op"})),
	}
}

// register registers c, or returns the collector already registered under
// its name, so that several stores can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector.(C)
		}
		panic(err)
	}
	return c
}

// instrumented is a tandem.BlobStore that records metrics about another.
type instrumented struct {
	next    tandem.BlobStore
	m       *metrics
	backend string
}

// Instrument returns s with its operations, errors, bytes and durations
// recorded in reg under the label backend="<backend>". It changes no
// behaviour: every call and error passes through as is.
func Instrument(s tandem.BlobStore, reg prometheus.Registerer, backend string) tandem.BlobStore {
	return &instrumented{next: s, m: newMetrics(reg), backend: backend}
}

// Unwrap returns the store Instrument wrapped.
func (s *instrumented) Unwrap() tandem.BlobStore { return s.next }

// observe records one operation that started at start and ended with err.
func (s *instrumented) observe(op string, start time.Time, err error) {
	s.m.ops.WithLabelValues(s.backend, op).Inc()
	s.m.duration.WithLabelValues(s.backend, op).Observe(time.Since(start).Seconds())
	s.countError(op, err)
}

func (s *instrumented) countError(op string, err error) {
	if err != nil {
		s.m.errs.WithLabelValues(s.backend, op, tandem.ErrorCode(err)).Inc()
	}
}

func (s *instrumented) Put(ctx context.Context, key string, r io.Reader, want *tandem.BlobRef) (ref tandem.BlobRef, err error) {
	defer func(start time.Time) { s.observe("Put", start, err) }(time.Now())
	ref, err = s.next.Put(ctx, key, r, want)
	if err == nil {
		s.m.written.WithLabelValues(s.backend).Add(float64(ref.Size))
	}
	return ref, err
}

func (s *instrumented) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := s.next.Open(ctx, key)
	s.observe("Open", start, err)
	return s.counting("Open", rc), err
}

func (s *instrumented) OpenVerified(ctx context.Context, ref tandem.BlobRef) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := s.next.OpenVerified(ctx, ref)
	s.observe("OpenVerified", start, err)
	return s.counting("OpenVerified", rc), err
}

func (s *instrumented) Stat(ctx context.Context, key string) (ref tandem.BlobRef, err error) {
	defer func(start time.Time) { s.observe("Stat", start, err) }(time.Now())
	return s.next.Stat(ctx, key)
}

func (s *instrumented) List(ctx context.Context, prefix string, fn func(tandem.BlobRef) error) (err error) {
	defer func(start time.Time) { s.observe("List", start, err) }(time.Now())
	return s.next.List(ctx, prefix, fn)
}

func (s *instrumented) Delete(ctx context.Context, key string) (err error) {
	defer func(start time.Time) { s.observe("Delete", start, err) }(time.Now())
	return s.next.Delete(ctx, key)
}

func (s *instrumented) DeletePrefix(ctx context.Context, prefix string) (n int, err error) {
	defer func(start time.Time) { s.observe("DeletePrefix", start, err) }(time.Now())
	return s.next.DeletePrefix(ctx, prefix)
}

func (s *instrumented) Ping(ctx context.Context) (err error) {
	defer func(start time.Time) { s.observe("Ping", start, err) }(time.Now())
	return s.next.Ping(ctx)
}

func (s *instrumented) Close() error { return s.next.Close() }

// counting wraps rc to count the bytes read from it and the errors other
// than io.EOF that its reads return, under the op that opened it.
func (s *instrumented) counting(op string, rc io.ReadCloser) io.ReadCloser {
	if rc == nil {
		return nil
	}
	return &countingReader{ReadCloser: rc, s: s, op: op}
}

type countingReader struct {
	io.ReadCloser
	s  *instrumented
	op string
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.s.m.read.WithLabelValues(c.s.backend).Add(float64(n))
	if err != io.EOF {
		c.s.countError(c.op, err)
	}
	return n, err
}
