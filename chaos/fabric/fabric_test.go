package fabric

import (
	"context"
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

func TestIsolatedSiteLosesLiveConnsUntilHealAll(t *testing.T) {
	t.Parallel()
	serverA := startServer(t, echo)
	serverB := startServer(t, echo)
	serverC := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(serverA.addr, "a")
	f.Register(serverB.addr, "b")
	f.Register(serverC.addr, "c")
	fromAToB := dial(t, f, "a", serverB.addr)
	fromCToA := dial(t, f, "c", serverA.addr)
	fromBToC := dial(t, f, "b", serverC.addr)

	f.Isolate("a")
	for _, c := range []net.Conn{fromAToB, fromCToA} {
		if _, err := c.Write([]byte("lost?")); err != nil {
			t.Fatalf("write through an isolated site: %v", err)
		}
		expectNothing(t, c, 300*time.Millisecond)
	}
	roundTrip(t, fromBToC, "b and c still talk")

	f.HealAll()
	expectRead(t, fromAToB, "lost?")
	expectRead(t, fromCToA, "lost?")
}

func TestResetAbortsLiveConnsBetweenTwoSites(t *testing.T) {
	t.Parallel()
	serverA := startServer(t, echo)
	serverB := startServer(t, echo)
	serverC := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(serverA.addr, "a")
	f.Register(serverB.addr, "b")
	f.Register(serverC.addr, "c")
	fromAToB := dial(t, f, "a", serverB.addr)
	fromBToA := dial(t, f, "b", serverA.addr)
	fromAToC := dial(t, f, "a", serverC.addr)
	roundTrip(t, fromAToB, "x")
	roundTrip(t, fromBToA, "x")

	blockedRead := inBackground(func() (int, error) { return fromAToB.Read(make([]byte, 8)) })
	expectBlocked(t, "read with nothing sent", blockedRead)
	f.Reset("b", "a")

	r := expectReturn(t, "read after reset", blockedRead)
	if !errors.Is(r.err, ErrReset) || !errors.Is(r.err, syscall.ECONNRESET) {
		t.Fatalf("blocked read after reset: err = %v, want ErrReset matching ECONNRESET", r.err)
	}
	if _, err := fromBToA.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Fatalf("write after reset: err = %v, want ErrReset", err)
	}
	// The accepting ends see the reset at once, not after a keepalive.
	replicationtest.Eventually(t, waitMax, func() bool { return serverA.ended.Load() == 1 }, "server a to see the reset")
	replicationtest.Eventually(t, waitMax, func() bool { return serverB.ended.Load() == 1 }, "server b to see the reset")
	for _, server := range []*testServer{serverA, serverB} {
		if err := <-server.endErrs; !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("accepting end saw %v, want a connection reset", err)
		}
	}
	roundTrip(t, fromAToC, "a and c still talk")
}

func TestNoInputPanics(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register("", "")
	f.Register(server.addr, "b")
	f.SetLink("", "", Link{Cut: true})
	f.Isolate("nowhere")
	f.Heal("x", "y")
	f.Reset("x", "y")
	f.Reset("a", "b") // No live conns yet.
	if _, err := f.Dialer("a")(context.Background(), "not an address"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("dial of garbage: err = %v, want ErrNotRegistered", err)
	}
	var noContext context.Context
	c, err := f.Dialer("a")(noContext, server.addr)
	if err != nil {
		t.Fatalf("dial without a context: %v", err)
	}
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty write = (%d, %v), want (0, nil)", n, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read = (%d, %v), want (0, nil)", n, err)
	}
	if err := c.SetDeadline(time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("set deadline in the past: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close fabric: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close fabric twice: %v", err)
	}
	f.Register("127.0.0.1:9", "c")
	f.Cut("a", "c")
	f.HealAll()
}

// TestFabricCloseUnblocksEverythingAndLeavesNoGoroutines is not parallel: it
// counts the goroutines of the whole process.
func TestFabricCloseUnblocksEverythingAndLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	server := startServer(t, echo)
	f := New(1)
	f.Register(server.addr, "b")
	f.Register("127.0.0.1:1", "c") // Never dialed through an open path.
	f.SetDelay("a", "b", 5*time.Millisecond, 5*time.Millisecond)
	reader := dial(t, f, "a", server.addr)
	writer := dial(t, f, "a", server.addr)
	idle := dial(t, f, "a", server.addr)
	roundTrip(t, idle, "warm")
	f.Cut("a", "b")
	f.Cut("a", "c")

	blockedRead := inBackground(func() (int, error) { return reader.Read(make([]byte, 8)) })
	if _, err := writer.Write(make([]byte, HeldBytesMax)); err != nil {
		t.Fatalf("fill the held bytes: %v", err)
	}
	blockedWrite := inBackground(func() (int, error) { return writer.Write([]byte("x")) })
	blockedDial := inBackground(func() (int, error) {
		c, err := f.Dialer("a")(context.Background(), "127.0.0.1:1")
		if err == nil {
			c.Close()
		}
		return 0, err
	})
	expectBlocked(t, "read, write and dial through a cut", blockedRead)

	if err := f.Close(); err != nil {
		t.Fatalf("close fabric: %v", err)
	}
	for what, done := range map[string]<-chan result{
		"read": blockedRead, "write": blockedWrite, "dial": blockedDial,
	} {
		if r := expectReturn(t, what+" after fabric close", done); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("blocked %s after fabric close: err = %v, want ErrClosed", what, r.err)
		}
	}
	if _, err := idle.Write([]byte("x")); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after fabric close: err = %v, want ErrClosed matching net.ErrClosed", err)
	}
	if err := idle.Close(); err != nil {
		t.Fatalf("close of a conn the fabric closed: %v", err)
	}
	server.close()

	for start := time.Now(); runtime.NumGoroutine() > before; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > waitMax {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after close:\n%s",
				before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}

// BenchmarkSmallMessageRoundTrip measures the fabric's cost per echoed 64-byte
// message over a link with no delay.
func BenchmarkSmallMessageRoundTrip(b *testing.B) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	go func() {
		c, err := listener.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	f := New(1)
	defer f.Close()
	f.Register(listener.Addr().String(), "b")
	c, err := f.Dialer("a")(context.Background(), listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 64)
	got := make([]byte, 64)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(got); {
			m, err := c.Read(got[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
		}
	}
}
