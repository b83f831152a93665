package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// chunkSize is the largest piece of data read, delayed and written at
	// once.
	chunkSize = 32 << 10
	// queueLen is how many chunks one direction of a connection holds while
	// they wait out the delay: with chunkSize, up to 2 MiB in flight, after
	// which TCP flow control slows the sender as a full link would.
	queueLen = 64
)

// Proxy forwards TCP connections from its own address to a target address,
// injecting the faults set by its controls. Create it with New, start it
// with Open and stop it with Close. All methods are safe for concurrent
// use.
type Proxy struct {
	// Listen is the address Open listens on. New sets 127.0.0.1:0, a free
	// loopback port; set a fixed address before Open to keep a port across
	// proxies.
	Listen string
	// DialTimeout bounds each connection to the target. New sets 5s.
	DialTimeout time.Duration

	target string
	ctx    context.Context // cancelled by Close, ends dials in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection goroutine

	mu      sync.Mutex
	ln      net.Listener
	links   map[*link]struct{}
	cut     bool
	closed  bool
	changed chan struct{} // closed and replaced when a control changes

	delay     atomic.Int64  // time.Duration
	dropRate  atomic.Uint64 // math.Float64bits
	bandwidth atomic.Int64  // bytes per second, 0 = unlimited

	toTarget, toClient limiter

	accepted, forwarded, dropped, refused, dialErrors, resets atomic.Int64
	bytesToTarget, bytesToClient                              atomic.Int64
}

// Stats are the proxy's counters since Open.
type Stats struct {
	// Accepted counts every connection the proxy accepted, including those
	// it then dropped, refused or could not forward.
	Accepted int64
	// Forwarded counts connections joined to a new connection to the
	// target.
	Forwarded int64
	// Dropped counts connections closed by the drop rate.
	Dropped int64
	// Refused counts connections reset because the proxy was cut or closing.
	Refused int64
	// DialErrors counts connections reset because the target could not be
	// reached.
	DialErrors int64
	// Resets counts forwarded connections aborted by ResetAll, Cut or Close.
	Resets int64
	// Active is the number of forwarded connections open now.
	Active int
	// BytesToTarget and BytesToClient count the bytes delivered each way:
	// written to the target and written back to clients. Bytes held by the
	// delay or the bandwidth limit are not counted yet.
	BytesToTarget, BytesToClient int64
}

// New returns a proxy to target (HOST:PORT) with no faults. It does not
// listen until Open.
func New(target string) *Proxy {
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		Listen:      "127.0.0.1:0",
		DialTimeout: 5 * time.Second,
		target:      target,
		ctx:         ctx,
		cancel:      cancel,
		links:       map[*link]struct{}{},
		changed:     make(chan struct{}),
	}
}

// Open listens on p.Listen and starts forwarding. It fails if the address
// cannot be listened on or if p was already opened or closed.
func (p *Proxy) Open() error {
	if p.target == "" {
		return errors.New("faultproxy: no target address")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: open of a closed proxy")
	}
	if p.ln != nil {
		return errors.New("faultproxy: proxy already open")
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("faultproxy: %w", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.serve(ln)
	return nil
}

// Addr returns the HOST:PORT the proxy listens on, or "" before Open.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Close stops listening, aborts every open connection with a RST and waits
// for all of the proxy's goroutines to end. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ln := p.ln
	links := p.snapshot()
	p.mu.Unlock()

	var err error
	if ln != nil {
		err = ln.Close()
	}
	p.cancel()
	p.abort(links)
	p.notify()
	p.wg.Wait()
	return err
}

// SetDelay adds d of latency to every chunk of data in each direction, so a
// request and its answer are delayed by 2d in all. Data is not reordered. A
// new delay applies at once, also to data already held. It panics if d is
// negative.
func (p *Proxy) SetDelay(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("faultproxy: negative delay %v", d))
	}
	p.delay.Store(int64(d))
	p.notify()
}

// SetDropRate sets the probability, from 0 to 1, that a new connection is
// accepted and then closed without reaching the target. It panics outside
// [0, 1].
func (p *Proxy) SetDropRate(rate float64) {
	if !(rate >= 0 && rate <= 1) {
		panic(fmt.Sprintf("faultproxy: drop rate %v outside [0, 1]", rate))
	}
	p.dropRate.Store(math.Float64bits(rate))
}

// SetBandwidth limits each direction of the link, shared by all
// connections, to bytesPerSec; 0 removes the limit. It applies at once, also
// to connections waiting on the previous limit. It panics if bytesPerSec is
// negative.
func (p *Proxy) SetBandwidth(bytesPerSec int64) {
	if bytesPerSec < 0 {
		panic(fmt.Sprintf("faultproxy: negative bandwidth %d", bytesPerSec))
	}
	p.bandwidth.Store(bytesPerSec)
	p.notify()
}

// ResetAll aborts every open connection: both the client's and the
// target's side receive a TCP RST (SO_LINGER 0), so their next read or
// write fails with ECONNRESET. New connections are forwarded as before.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	links := p.snapshot()
	p.mu.Unlock()
	p.abort(links)
}

// Cut severs the link: every open connection is reset as by ResetAll, and
// until Restore every new connection is accepted and reset at once, without
// reaching the target.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := p.snapshot()
	p.mu.Unlock()
	p.abort(links)
}

// Restore ends a Cut: new connections are forwarded again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	return Stats{
		Accepted:      p.accepted.Load(),
		Forwarded:     p.forwarded.Load(),
		Dropped:       p.dropped.Load(),
		Refused:       p.refused.Load(),
		DialErrors:    p.dialErrors.Load(),
		Resets:        p.resets.Load(),
		Active:        active,
		BytesToTarget: p.bytesToTarget.Load(),
		BytesToClient: p.bytesToClient.Load(),
	}
}

// snapshot returns the open connections; p.mu must be held.
func (p *Proxy) snapshot() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	return links
}

// abort resets links, counting those it ended.
func (p *Proxy) abort(links []*link) {
	for _, l := range links {
		if l.finish(true) {
			p.resets.Add(1)
		}
	}
}

// notify wakes every goroutine waiting on the delay or bandwidth, so that
// they apply the new values.
func (p *Proxy) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// changes returns a channel closed at the next change of a control.
func (p *Proxy) changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Proxy) serve(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.ctx.Err() != nil {
				return
			}
			// Out of file descriptors or similar: wait and try again.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.handle(c.(*net.TCPConn))
	}
}

// handle applies the connection faults to a new client connection and, if
// it survives them, joins it to a new connection to the target.
func (p *Proxy) handle(client *net.TCPConn) {
	defer p.wg.Done()
	if p.IsCut() || p.ctx.Err() != nil {
		p.refused.Add(1)
		reset(client)
		return
	}
	if rate := math.Float64frombits(p.dropRate.Load()); rate > 0 && rand.Float64() < rate {
		p.dropped.Add(1)
		client.Close()
		return
	}
	d := net.Dialer{Timeout: p.DialTimeout}
	c, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		if p.ctx.Err() != nil {
			p.refused.Add(1) // closing
		} else {
			p.dialErrors.Add(1)
		}
		reset(client)
		return
	}
	target := c.(*net.TCPConn)
	l := &link{p: p, client: client, target: target, done: make(chan struct{})}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		p.refused.Add(1)
		reset(client)
		reset(target)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.forwarded.Add(1)
	p.wg.Add(2)
	go l.pump(client, target, &p.bytesToTarget, &p.toTarget)
	go l.pump(target, client, &p.bytesToClient, &p.toClient)
}

// hold waits until the delay after at has passed, re-reading the delay
// whenever it changes. It returns false if done is closed first.
func (p *Proxy) hold(at time.Time, done <-chan struct{}) bool {
	for {
		changed := p.changes()
		wait := time.Until(at.Add(time.Duration(p.delay.Load())))
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-done:
			t.Stop()
			return false
		}
	}
}

// throttle waits until lim lets n more bytes through at the current
// bandwidth. It returns false if done is closed first.
func (p *Proxy) throttle(lim *limiter, n int, done <-chan struct{}) bool {
	for {
		changed := p.changes()
		rate := p.bandwidth.Load()
		if rate <= 0 {
			return true
		}
		wait := lim.reserve(rate, n)
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-done:
			t.Stop()
			return false
		}
	}
}

// errAborted ends a write whose connection was aborted while it waited.
var errAborted = errors.New("faultproxy: connection aborted")

// write writes b to dst in pieces the bandwidth limit lets through,
// counting the bytes written.
func (p *Proxy) write(dst *net.TCPConn, b []byte, counter *atomic.Int64, lim *limiter, done <-chan struct{}) error {
	for len(b) > 0 {
		n := len(b)
		if rate := p.bandwidth.Load(); rate > 0 {
			// Pieces of about 20ms worth of data keep the flow smooth.
			n = min(n, max(1, int(min(rate/50, chunkSize))))
			if !p.throttle(lim, n, done) {
				return errAborted
			}
		}
		w, err := dst.Write(b[:n])
		counter.Add(int64(w))
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// link is one forwarded connection: a client connection joined to a target
// connection by two pumps, one per direction.
type link struct {
	p              *Proxy
	client, target *net.TCPConn
	done           chan struct{} // closed when the link ends
	once           sync.Once
	halves         atomic.Int32 // directions ended by a clean EOF
}

// chunk is data read from one side, or the end of that side's stream.
type chunk struct {
	data []byte
	at   time.Time // when it was read
	eof  bool      // the sender half-closed: forward the FIN
	err  error     // the read failed (e.g. a RST): abort the link
}

// pump forwards src to dst until src ends or the link is aborted: a reader
// goroutine queues chunks as they arrive, and pump writes each once its
// delay has passed, within the bandwidth limit.
func (l *link) pump(src, dst *net.TCPConn, counter *atomic.Int64, lim *limiter) {
	defer l.p.wg.Done()
	q := make(chan chunk, queueLen)
	l.p.wg.Add(1)
	go l.read(src, q)
	for {
		var c chunk
		select {
		case c = <-q:
		case <-l.done:
			return
		}
		if c.err != nil {
			l.finish(true)
			return
		}
		if !l.p.hold(c.at, l.done) {
			return
		}
		if c.eof {
			dst.CloseWrite()
			if l.halves.Add(1) == 2 {
				l.finish(false)
			}
			return
		}
		if err := l.p.write(dst, c.data, counter, lim, l.done); err != nil {
			l.finish(true)
			return
		}
	}
}

// read queues what src sends until it ends or fails.
func (l *link) read(src *net.TCPConn, q chan<- chunk) {
	defer l.p.wg.Done()
	buf := make([]byte, chunkSize)
	send := func(c chunk) bool {
		select {
		case q <- c:
			return true
		case <-l.done:
			return false
		}
	}
	for {
		n, err := src.Read(buf)
		if n > 0 && !send(chunk{data: append([]byte(nil), buf[:n]...), at: time.Now()}) {
			return
		}
		switch {
		case errors.Is(err, io.EOF):
			send(chunk{eof: true, at: time.Now()})
			return
		case err != nil:
			send(chunk{err: err})
			return
		}
	}
}

// finish ends the link once, with a RST on both sides if rst, or a normal
// close after both directions ended cleanly. It reports whether this call
// ended it.
func (l *link) finish(rst bool) bool {
	ended := false
	l.once.Do(func() {
		ended = true
		close(l.done)
		if rst {
			reset(l.client)
			reset(l.target)
		} else {
			l.client.Close()
			l.target.Close()
		}
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	})
	return ended
}

// reset closes c with a RST instead of a FIN.
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// limiter paces one direction of the link: it lets a piece of data through
// when the previous ones have drained at the current rate.
type limiter struct {
	mu   sync.Mutex
	debt float64 // bytes let through and not yet drained
	last time.Time
}

// reserve lets n bytes through and returns 0, or returns how long to wait
// before asking again.
func (l *limiter) reserve(rate int64, n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() {
		l.debt = max(0, l.debt-now.Sub(l.last).Seconds()*float64(rate))
	}
	l.last = now
	if l.debt > 0 {
		return time.Duration(math.Ceil(l.debt / float64(rate) * float64(time.Second)))
	}
	l.debt = float64(n)
	return 0
}
