package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/httpapi"
)

// write is one notebook upload of the load: when it was due, when it
// ended, and which endpoint acknowledged it ("" if it failed).
type write struct {
	path     string
	due, end time.Time
	acker    string // host:port of the endpoint whose 2xx answer ended it
	err      error
}

// load uploads small notebooks at a fixed rate, open loop: write i is sent
// at start + i/rate whether or not the earlier ones have been answered, by
// a client that knows both endpoints and holds a workspace token, as a
// user with config.json does. Each write is tried once: a refused write is
// recorded as such, not retried.
type load struct {
	client *httpapi.Client
	ws     string
	prefix string
	rate   int
	size   int

	stop chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	writes []*write
}

// ackerKey is the context key of a write's acker slot.
type ackerKey struct{}

// ackRecorder notes, in the request's acker slot, the host that answered
// with a 2xx: the Client tries endpoints in order and follows NotPrimary
// answers, so only the transport knows which one acknowledged the write.
type ackRecorder struct{ base http.RoundTripper }

func (a ackRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(req)
	if err == nil && resp.StatusCode < 300 {
		if slot, ok := req.Context().Value(ackerKey{}).(*string); ok {
			*slot = req.URL.Host
		}
	}
	return resp, err
}

func newHTTPClient() *http.Client {
	return &http.Client{Transport: ackRecorder{base: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	}}}
}

func startLoad(endpoints []string, token, ws, prefix string, rate, size int) *load {
	c := httpapi.NewClient(endpoints, token)
	c.HTTPClient = newHTTPClient()
	l := &load{client: c, ws: ws, prefix: prefix, rate: rate, size: size, stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *load) run() {
	defer close(l.done)
	start := time.Now()
	interval := time.Second / time.Duration(l.rate)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(d):
			}
		} else {
			select {
			case <-l.stop:
				return
			default:
			}
		}
		w := &write{path: fmt.Sprintf("%s/%06d.ipynb", l.prefix, i), due: due}
		l.mu.Lock()
		l.writes = append(l.writes, w)
		l.mu.Unlock()
		l.wg.Add(1)
		go l.send(w)
	}
}

func (l *load) send(w *write) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var acker string
	ctx = context.WithValue(ctx, ackerKey{}, &acker)
	body := w.path + "\n" + strings.Repeat("x", max(0, l.size-len(w.path)-1))
	_, err := l.client.UploadNotebook(ctx, l.ws, w.path, strings.NewReader(body))
	end := time.Now()
	l.mu.Lock()
	w.end, w.err = end, err
	if err == nil {
		w.acker = acker
	}
	l.mu.Unlock()
}

// halt stops issuing writes and waits for those in flight.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	l.wg.Wait()
}

// snapshot returns the writes issued so far; after halt, all of them.
func (l *load) snapshot() []write {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]write, len(l.writes))
	for i, w := range l.writes {
		out[i] = *w
	}
	return out
}

// firstAck returns the earliest end of a write acknowledged by host, at or
// after from, and whether there is one.
func firstAck(writes []write, host string, from time.Time) (time.Time, bool) {
	var first time.Time
	for _, w := range writes {
		if w.err == nil && w.acker == host && !w.end.Before(from) && (first.IsZero() || w.end.Before(first)) {
			first = w.end
		}
	}
	return first, !first.IsZero()
}

// errorCodes counts the failed writes by error code.
func errorCodes(writes []write) map[string]int {
	m := map[string]int{}
	for _, w := range writes {
		if w.err != nil {
			code := tandem.ErrorCode(w.err)
			if code == "" {
				code = "other"
			}
			m[code]++
		}
	}
	return m
}

// latencies returns the p50 and p99 of the time from due to acknowledgement
// of the writes due before t that were acknowledged.
func latencies(writes []write, t time.Time) (p50, p99 time.Duration) {
	var xs []float64
	for _, w := range writes {
		if w.err == nil && w.due.Before(t) {
			xs = append(xs, float64(w.end.Sub(w.due)))
		}
	}
	if len(xs) == 0 {
		return 0, 0
	}
	return time.Duration(quantile(xs, 0.5)), time.Duration(quantile(xs, 0.99))
}
