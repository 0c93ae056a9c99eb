package fabric

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitMax bounds every wait in the tests; the machine is shared and noisy, so
// it is generous and only failures ever take that long.
const waitMax = 5 * time.Second

// testServer is a real TCP listener on 127.0.0.1 running handle per conn.
type testServer struct {
	addr     string
	listener net.Listener
	received atomic.Int64 // bytes read by echo handlers
	ended    atomic.Int64 // handlers whose conn ended, with its last read error
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	handlers sync.WaitGroup
	endErrs  chan error
}

// startServer listens on 127.0.0.1:0; the server closes at the end of the test.
func startServer(t *testing.T, handle func(s *testServer, c net.Conn)) *testServer {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &testServer{
		addr:     listener.Addr().String(),
		listener: listener,
		conns:    make(map[net.Conn]struct{}),
		endErrs:  make(chan error, 64),
	}
	s.handlers.Go(func() {
		for {
			c, err := listener.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.handlers.Go(func() {
				handle(s, c)
				c.Close()
			})
		}
	})
	t.Cleanup(s.close)
	return s
}

// close stops accepting, closes every accepted conn and waits for the handlers.
func (s *testServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.listener.Close()
	s.handlers.Wait()
}

// echo writes back everything it reads, counting it, and records how the conn ended.
func echo(s *testServer, c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			s.received.Add(int64(n))
			if _, werr := c.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			s.ended.Add(1)
			select {
			case s.endErrs <- err:
			default:
			}
			return
		}
	}
}

// newTestFabric returns a fabric closed at the end of the test.
func newTestFabric(t *testing.T) *Fabric {
	t.Helper()
	f := New(1)
	t.Cleanup(func() { f.Close() })
	return f
}

// dial dials addr from site and closes the conn at the end of the test.
func dial(t *testing.T, f *Fabric, fromSite, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	c, err := f.Dialer(fromSite)(ctx, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, fromSite, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads the echo of it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	expectRead(t, c, msg)
}

// expectRead reads len(want) bytes within waitMax and compares.
func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatalf("clear read deadline: %v", err)
	}
}

// expectNothing asserts that a read with a deadline of wait times out empty.
func expectNothing(t *testing.T, c net.Conn, wait time.Duration) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n != 0 {
		t.Fatalf("read %q through a cut link", buf[:n])
	}
	expectTimeout(t, err)
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatalf("clear read deadline: %v", err)
	}
}

func expectTimeout(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want os.ErrDeadlineExceeded", err)
	}
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("err = %v, want a net.Error with Timeout()", err)
	}
}

// result is what a blocked call returned.
type result struct {
	n   int
	err error
}

// inBackground runs a call that may block in a goroutine; every test makes
// the call return, at the latest when its cleanup closes the conn or fabric.
func inBackground(call func() (int, error)) <-chan result {
	done := make(chan result, 1)
	go func() {
		n, err := call()
		done <- result{n: n, err: err}
	}()
	return done
}

// expectBlocked asserts that nothing arrives on done for a while.
func expectBlocked(t *testing.T, what string, done <-chan result) {
	t.Helper()
	select {
	case r := <-done:
		t.Fatalf("%s returned (%d, %v), want it blocked", what, r.n, r.err)
	case <-time.After(200 * time.Millisecond):
	}
}

// expectReturn waits for done and returns what arrived.
func expectReturn(t *testing.T, what string, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(waitMax):
		t.Fatalf("%s still blocked after %s", what, waitMax)
		return result{}
	}
}
