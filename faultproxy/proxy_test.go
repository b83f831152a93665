package faultproxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ioTimeout bounds every read and write of the tests, so that a connection
// the proxy should have severed fails the test instead of hanging it. It is
// never used to measure speed.
const ioTimeout = 10 * time.Second

// echoServer is a real TCP server on loopback that sends back what it
// receives and half-closes when the client does.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	ended    chan error // how each connection ended: nil for a clean EOF
	wg       sync.WaitGroup
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln, ended: make(chan error, 1000)}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				_, err := io.Copy(c, c)
				if err == nil {
					c.(*net.TCPConn).CloseWrite()
				}
				e.ended <- err
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

// nextEnd returns how the next echo connection ended.
func (e *echoServer) nextEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.ended:
		return err
	case <-time.After(ioTimeout):
		t.Fatalf("the echo server's connection did not end within %v", ioTimeout)
		return nil
	}
}

// open returns an open proxy to target, closed when the test ends.
func open(t *testing.T, target string) *Proxy {
	t.Helper()
	p := New(target)
	if err := p.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends msg and fails unless the same bytes come back.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if err := exchange(c, msg); err != nil {
		t.Fatal(err)
	}
}

// exchange sends msg and returns an error unless the same bytes come back.
// Unlike roundTrip it may be called from any goroutine.
func exchange(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(ioTimeout))
	defer c.SetDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read back %d bytes: %w", len(msg), err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("got %d bytes back that differ from the %d sent", len(got), len(msg))
	}
	return nil
}

// severed fails unless a read on c ends with an error other than a timeout
// and without data, and returns that error.
func severed(t *testing.T, c net.Conn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	n, err := c.Read(make([]byte, 64))
	if err == nil || n > 0 {
		t.Fatalf("read %d bytes, err %v; want no data and an error", n, err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read still blocked after %v; want the connection severed", ioTimeout)
	}
	return err
}

// turnedAway fails unless a new connection to addr is refused, or accepted
// and then severed without data.
func turnedAway(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return // the RST can arrive before connect returns
	}
	defer c.Close()
	c.Write([]byte("ping"))
	severed(t, c)
}

// waitUntil polls cond until it holds, or fails the test with what and the
// stats after ioTimeout.
func waitUntil(t *testing.T, p *Proxy, what string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		s := p.Stats()
		if cond(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v; stats %+v", what, ioTimeout, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitBytes waits until the byte counters reach the given values: a
// counter is updated just after its write returns, so it can trail the
// data the other end has already read.
func waitBytes(t *testing.T, p *Proxy, toTarget, toClient int64) {
	t.Helper()
	waitUntil(t, p, fmt.Sprintf("%d bytes to target and %d to client counted", toTarget, toClient), func(s Stats) bool {
		return s.BytesToTarget == toTarget && s.BytesToClient == toClient
	})
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestForward(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		c := dial(t, p.Addr())
		msg := random(t, 1<<20)
		c.SetDeadline(time.Now().Add(ioTimeout))
		go func() {
			c.Write(msg)
			c.CloseWrite()
		}()
		got, err := io.ReadAll(c) // ends at the echo server's FIN, forwarded
		if err != nil {
			t.Fatalf("read: %v, want a clean EOF after the data", err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("got %d bytes, want the %d sent", len(got), len(msg))
		}
		if err := echo.nextEnd(t); err != nil {
			t.Fatalf("echo connection ended with %v, want a clean EOF", err)
		}
		waitUntil(t, p, "connection closed", func(s Stats) bool { return s.Active == 0 })
		s := p.Stats()
		want := Stats{Accepted: 1, Forwarded: 1, BytesToTarget: 1 << 20, BytesToClient: 1 << 20}
		if s != want {
			t.Fatalf("stats %+v, want %+v", s, want)
		}
	})

	t.Run("ManyConnections", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		const conns, size = 20, 64 << 10
		var wg sync.WaitGroup
		for range conns {
			c := dial(t, p.Addr())
			msg := random(t, size)
			wg.Go(func() {
				if err := exchange(c, msg); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		waitBytes(t, p, conns*size, conns*size)
		if s := p.Stats(); s.Accepted != conns || s.Forwarded != conns || s.Active != conns {
			t.Fatalf("stats %+v, want %d connections accepted, forwarded and active", s, conns)
		}
		if n := echo.accepted.Load(); n != conns {
			t.Fatalf("target accepted %d connections, want %d", n, conns)
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "pong")
		}))
		t.Cleanup(srv.Close)
		p := open(t, srv.Listener.Addr().String())
		client := &http.Client{Transport: &http.Transport{}, Timeout: ioTimeout}
		t.Cleanup(client.CloseIdleConnections)
		get := func() (string, error) {
			resp, err := client.Get("http://" + p.Addr() + "/ping")
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		if body, err := get(); err != nil || body != "pong" {
			t.Fatalf("GET through the proxy: %q, %v; want pong", body, err)
		}
		p.Cut()
		if body, err := get(); err == nil {
			t.Fatalf("GET through a cut proxy: %q, want an error", body)
		}
		p.Restore()
		if body, err := get(); err != nil || body != "pong" {
			t.Fatalf("GET after restore: %q, %v; want pong", body, err)
		}
	})

	t.Run("TargetDown", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := ln.Addr().String()
		ln.Close()
		p := open(t, down)
		turnedAway(t, p.Addr())
		waitUntil(t, p, "dial error counted", func(s Stats) bool { return s.DialErrors == 1 })
		if s := p.Stats(); s.Forwarded != 0 {
			t.Fatalf("stats %+v, want nothing forwarded", s)
		}
	})
}

func TestCut(t *testing.T) {
	echo := startEcho(t)
	p := open(t, echo.addr())
	open1 := dial(t, p.Addr())
	roundTrip(t, open1, []byte("before the cut"))

	p.Cut()
	if !p.IsCut() {
		t.Fatal("IsCut() = false after Cut")
	}
	t.Run("SeversOpenConnection", func(t *testing.T) {
		severed(t, open1)
		if err := echo.nextEnd(t); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("target side ended with %v, want ECONNRESET", err)
		}
		if _, err := open1.Write([]byte("more")); err == nil {
			t.Fatal("write on a severed connection succeeded")
		}
	})
	t.Run("RefusesNewConnections", func(t *testing.T) {
		for range 3 {
			turnedAway(t, p.Addr())
		}
		waitUntil(t, p, "refused counted", func(s Stats) bool { return s.Refused == 3 })
		if n := echo.accepted.Load(); n != 1 {
			t.Fatalf("target accepted %d connections, want only the one before the cut", n)
		}
	})

	p.Restore()
	t.Run("RestoreLetsNewConnectionsThrough", func(t *testing.T) {
		if p.IsCut() {
			t.Fatal("IsCut() = true after Restore")
		}
		roundTrip(t, dial(t, p.Addr()), []byte("after the cut"))
		s := p.Stats()
		if s.Accepted != 5 || s.Forwarded != 2 || s.Refused != 3 || s.Resets != 1 || s.Active != 1 {
			t.Fatalf("stats %+v, want 5 accepted, 2 forwarded, 3 refused, 1 reset, 1 active", s)
		}
	})
}

func TestDropRate(t *testing.T) {
	t.Run("All", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		p.SetDropRate(1)
		for range 10 {
			turnedAway(t, p.Addr())
		}
		waitUntil(t, p, "drops counted", func(s Stats) bool { return s.Dropped == 10 })
		if s := p.Stats(); s.Forwarded != 0 || echo.accepted.Load() != 0 {
			t.Fatalf("stats %+v, target accepted %d; want nothing forwarded", s, echo.accepted.Load())
		}
		p.SetDropRate(0)
		roundTrip(t, dial(t, p.Addr()), []byte("ping"))
	})

	t.Run("Some", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		p.SetDropRate(0.5)
		const n = 200 // all or none dropped has a probability of 2^-199
		failed := 0
		for range n {
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				failed++ // dropped before connect returned
				continue
			}
			c.SetDeadline(time.Now().Add(ioTimeout))
			c.Write([]byte("ping"))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("a connection neither dropped nor answered")
				}
				failed++
			}
			c.Close()
		}
		s := p.Stats()
		if failed == 0 || failed == n {
			t.Fatalf("%d of %d connections failed at drop rate 0.5, want some but not all", failed, n)
		}
		if s.Dropped != int64(failed) || s.Forwarded != int64(n-failed) || echo.accepted.Load() != int64(n-failed) {
			t.Fatalf("%d failed; stats %+v, target accepted %d; want %d dropped and %d forwarded",
				failed, s, echo.accepted.Load(), failed, n-failed)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		p := New("127.0.0.1:1")
		for _, rate := range []float64{-0.1, 1.5, math.NaN()} {
			if !panics(func() { p.SetDropRate(rate) }) {
				t.Errorf("SetDropRate(%v) did not panic", rate)
			}
		}
	})
}

func TestResetAll(t *testing.T) {
	echo := startEcho(t)
	p := open(t, echo.addr())
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, a, []byte("a"))
	roundTrip(t, b, []byte("b"))

	p.ResetAll()
	for _, c := range []net.Conn{a, b} {
		if err := severed(t, c); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("client read after ResetAll: %v, want ECONNRESET", err)
		}
	}
	for range 2 {
		if err := echo.nextEnd(t); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("target side ended with %v, want ECONNRESET", err)
		}
	}
	if s := p.Stats(); s.Resets != 2 || s.Active != 0 {
		t.Fatalf("stats %+v, want 2 resets and none active", s)
	}
	// ResetAll is not a cut: new connections go through.
	roundTrip(t, dial(t, p.Addr()), []byte("after the reset"))
}

func TestDelay(t *testing.T) {
	t.Run("HoldsDataUntilLowered", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		c := dial(t, p.Addr())
		roundTrip(t, c, []byte("warm"))
		waitBytes(t, p, 4, 4)
		p.SetDelay(time.Hour)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		// An hour's delay cannot end within this read, however slow the
		// machine: the data must be held, not lost and not passed on.
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(make([]byte, 5)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d bytes, err %v, under an hour of delay; want nothing yet", n, err)
		}
		if s := p.Stats(); s.BytesToTarget != 4 {
			t.Fatalf("bytes to target %d while held, want only the 4 sent before the delay", s.BytesToTarget)
		}
		p.SetDelay(0) // releases what is held
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		got := make([]byte, 5)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
			t.Fatalf("after lowering the delay read %q, %v; want hello", got, err)
		}
	})

	t.Run("KeepsOrderWhileChanging", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		c := dial(t, p.Addr())
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				p.SetDelay(time.Duration(i%3) * time.Millisecond)
			}
		})
		for range 50 {
			roundTrip(t, c, random(t, 5000))
		}
		close(stop)
		wg.Wait()
		waitBytes(t, p, 50*5000, 50*5000)
	})

	t.Run("Invalid", func(t *testing.T) {
		if !panics(func() { New("127.0.0.1:1").SetDelay(-time.Second) }) {
			t.Error("SetDelay(-1s) did not panic")
		}
	})
}

func TestBandwidth(t *testing.T) {
	t.Run("HoldsDataUntilRaised", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		c := dial(t, p.Addr())
		p.SetBandwidth(1) // one byte per second
		msg := random(t, 4096)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 0, len(msg))
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read under a bandwidth limit: %v", err)
				}
				break
			}
		}
		if len(got) >= len(msg) {
			t.Fatalf("all %d bytes came back at 1 byte/s, want most held back", len(got))
		}
		p.SetBandwidth(0) // unlimited: the rest flows at once
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		rest := make([]byte, len(msg)-len(got))
		if _, err := io.ReadFull(c, rest); err != nil {
			t.Fatalf("after lifting the limit: %v", err)
		}
		if !bytes.Equal(append(got, rest...), msg) {
			t.Fatal("the data that came back differs from the data sent")
		}
		waitBytes(t, p, 4096, 4096)
	})

	t.Run("IntactWhenLimited", func(t *testing.T) {
		echo := startEcho(t)
		p := open(t, echo.addr())
		p.SetBandwidth(4 << 20)
		var wg sync.WaitGroup
		for range 4 {
			c := dial(t, p.Addr())
			msg := random(t, 256<<10)
			wg.Go(func() {
				if err := exchange(c, msg); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		waitBytes(t, p, 1<<20, 1<<20)
	})

	t.Run("Invalid", func(t *testing.T) {
		if !panics(func() { New("127.0.0.1:1").SetBandwidth(-1) }) {
			t.Error("SetBandwidth(-1) did not panic")
		}
	})
}

func TestLifecycle(t *testing.T) {
	t.Run("CloseSeversAndStopsListening", func(t *testing.T) {
		echo := startEcho(t)
		p := New(echo.addr())
		if p.Addr() != "" {
			t.Fatalf("Addr() before Open = %q, want empty", p.Addr())
		}
		if err := p.Open(); err != nil {
			t.Fatal(err)
		}
		c := dial(t, p.Addr())
		roundTrip(t, c, []byte("x"))
		if err := p.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		severed(t, c)
		if c, err := net.Dial("tcp", p.Addr()); err == nil {
			c.Close()
			t.Fatal("dial after Close succeeded, want refused")
		}
		if s := p.Stats(); s.Active != 0 || s.Resets != 1 {
			t.Fatalf("stats %+v after Close, want 1 reset and none active", s)
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v, want nil", err)
		}
		if err := p.Open(); err == nil {
			t.Fatal("Open after Close succeeded")
		}
	})

	t.Run("ErrOpenTwice", func(t *testing.T) {
		p := open(t, "127.0.0.1:1")
		if err := p.Open(); err == nil {
			t.Fatal("second Open succeeded")
		}
	})

	t.Run("ErrNoTarget", func(t *testing.T) {
		if err := New("").Open(); err == nil {
			t.Fatal("Open with no target succeeded")
		}
	})

	t.Run("FixedListen", func(t *testing.T) {
		echo := startEcho(t)
		first := open(t, echo.addr())
		addr := first.Addr()
		first.Close()
		p := New(echo.addr())
		p.Listen = addr
		if err := p.Open(); err != nil {
			t.Fatalf("open on the address of a closed proxy: %v", err)
		}
		defer p.Close()
		if p.Addr() != addr {
			t.Fatalf("Addr() = %s, want %s", p.Addr(), addr)
		}
		roundTrip(t, dial(t, addr), []byte("same port"))
	})
}

// TestControlsUnderLoad changes every control at random while clients send
// data, for the race detector, then checks that the proxy still forwards
// once the faults are lifted and that Close ends every goroutine.
func TestControlsUnderLoad(t *testing.T) {
	echo := startEcho(t)
	p := New(echo.addr())
	if err := p.Open(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 6 {
		wg.Go(func() {
			msg := make([]byte, 8<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(500 * time.Millisecond))
				for range 5 {
					if _, err := c.Write(msg); err != nil {
						break
					}
					if _, err := io.ReadFull(c, msg); err != nil {
						break
					}
					ok.Add(1)
				}
				c.Close()
			}
		})
	}
	controls := []func(){
		func() { p.SetDelay(time.Duration(randInt(3)) * time.Millisecond) },
		func() { p.SetDropRate(float64(randInt(3)) / 4) },
		func() { p.SetBandwidth(int64(randInt(3)) * 1 << 20) },
		func() { p.ResetAll() },
		func() { p.Cut() },
		func() { p.Restore() },
		func() { p.Stats() },
	}
	for i := range 300 {
		controls[i%len(controls)]()
		if i%7 == 0 {
			controls[randInt(len(controls))]()
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()

	p.SetDelay(0)
	p.SetDropRate(0)
	p.SetBandwidth(0)
	p.Restore()
	c := dial(t, p.Addr())
	roundTrip(t, c, []byte("still forwarding"))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); s.Active != 0 || s.Forwarded == 0 {
		t.Fatalf("stats %+v after Close, want connections forwarded and none active", s)
	}
	t.Logf("%d round trips under changing faults; stats %+v", ok.Load(), p.Stats())
}

func randInt(n int) int {
	var b [1]byte
	rand.Read(b[:])
	return int(b[0]) % n
}

func panics(f func()) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	f()
	return false
}
