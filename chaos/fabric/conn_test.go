package fabric

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

func TestBytesArriveIntactAndInOrderUnderJitter(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.SetDelay("a", "b", time.Millisecond, 5*time.Millisecond)

	const connCount, bytesPerConn = 4, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*connCount)
	for i := range connCount {
		c := dial(t, f, "a", server.addr)
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		sent := make([]byte, bytesPerConn)
		for j := range sent {
			sent[j] = byte(rng.Uint32())
		}
		wg.Go(func() {
			// Many small writes of random sizes: many chunks, each with its own jitter.
			for rest := sent; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(2000))
				if _, err := c.Write(rest[:n]); err != nil {
					errs <- err
					return
				}
				rest = rest[n:]
			}
		})
		wg.Go(func() {
			got := make([]byte, len(sent))
			if err := c.SetReadDeadline(time.Now().Add(3 * waitMax)); err != nil {
				errs <- err
				return
			}
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, sent) {
				errs <- errors.New("echoed bytes differ from the sent bytes")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDelayAddsToEveryRoundTrip(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.SetDelay("a", "b", 50*time.Millisecond, 0)
	c := dial(t, f, "a", server.addr)

	for range 3 {
		start := time.Now()
		roundTrip(t, c, "ping")
		if elapsed := time.Since(start); elapsed < 100*time.Millisecond {
			t.Fatalf("round trip took %s, want at least 100ms", elapsed)
		}
	}
}

func TestSameSiteHasNoFaults(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "a")
	f.Isolate("a")
	f.Cut("a", "b")
	f.SetDelay("a", "b", time.Hour, 0)

	c := dial(t, f, "a", server.addr)
	roundTrip(t, c, "local")
}

func TestCutHoldsBytesUntilHeal(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	roundTrip(t, c, "before")

	f.Cut("a", "b")
	// A black hole, not a reset: the write succeeds, nothing arrives.
	if _, err := c.Write([]byte("during")); err != nil {
		t.Fatalf("write while cut: %v", err)
	}
	expectNothing(t, c, 300*time.Millisecond)
	if got := server.received.Load(); got != int64(len("before")) {
		t.Fatalf("server received %d bytes, want only the %d sent before the cut", got, len("before"))
	}

	f.Heal("a", "b")
	expectRead(t, c, "during")
	roundTrip(t, c, "after")
}

func TestCutOfReturnDirectionHoldsReplies(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)

	f.SetLink("b", "a", Link{Cut: true})
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	replicationtest.Eventually(t, waitMax, func() bool {
		return server.received.Load() == int64(len("ping"))
	}, "the server to receive ping over the open direction")
	expectNothing(t, c, 300*time.Millisecond)

	f.Heal("a", "b")
	expectRead(t, c, "ping")
}

func TestCutStopsQueuedBytesAtOnce(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.SetDelay("a", "b", 100*time.Millisecond, 0)

	if _, err := c.Write([]byte("queued")); err != nil {
		t.Fatalf("write: %v", err)
	}
	f.Cut("a", "b") // Before the 100ms delay has passed.
	expectNothing(t, c, 400*time.Millisecond)
	if got := server.received.Load(); got != 0 {
		t.Fatalf("server received %d bytes queued before the cut", got)
	}

	f.Heal("a", "b")
	expectRead(t, c, "queued")
}

func TestWriteBlocksWhenHeldBytesAreFull(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.Cut("a", "b")

	full := make([]byte, HeldBytesMax)
	if n, err := c.Write(full); n != len(full) || err != nil {
		t.Fatalf("write of HeldBytesMax while cut = (%d, %v), want it held", n, err)
	}

	// The write deadline ends a blocked Write.
	start := time.Now()
	if err := c.SetWriteDeadline(start.Add(300 * time.Millisecond)); err != nil {
		t.Fatalf("set write deadline: %v", err)
	}
	n, err := c.Write([]byte("x"))
	if n != 0 {
		t.Fatalf("wrote %d bytes past HeldBytesMax", n)
	}
	expectTimeout(t, err)
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Fatalf("blocked write gave up after %s, before its deadline", elapsed)
	}

	// Close ends a blocked Write too.
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatalf("clear write deadline: %v", err)
	}
	done := inBackground(func() (int, error) { return c.Write([]byte("x")) })
	expectBlocked(t, "write into a full held buffer", done)
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := expectReturn(t, "write after close", done)
	if r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("blocked write after close = (%d, %v), want net.ErrClosed", r.n, r.err)
	}
	if got := server.received.Load(); got != 0 {
		t.Fatalf("server received %d bytes through a cut", got)
	}
}

func TestHealDeliversAFullHeldBufferAndUnblocksWrite(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.Cut("a", "b")

	sent := make([]byte, HeldBytesMax+100)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range sent {
		sent[i] = byte(rng.Uint32())
	}
	done := inBackground(func() (int, error) { return c.Write(sent) })
	expectBlocked(t, "write of more than HeldBytesMax while cut", done)

	f.Heal("a", "b")
	got := make([]byte, len(sent))
	if err := c.SetReadDeadline(time.Now().Add(3 * waitMax)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read after heal: %v", err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("bytes held during the cut arrived changed or out of order")
	}
	if r := expectReturn(t, "write after heal", done); r.n != len(sent) || r.err != nil {
		t.Fatalf("write after heal = (%d, %v), want (%d, nil)", r.n, r.err, len(sent))
	}
}

func TestReadDeadlines(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)

	// A deadline in the past fails at once.
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	_, err := c.Read(make([]byte, 8))
	expectTimeout(t, err)

	// Moving the deadline of a blocked Read takes effect.
	start := time.Now()
	if err := c.SetDeadline(start.Add(100 * time.Millisecond)); err != nil {
		t.Fatalf("set deadline: %v", err)
	}
	done := inBackground(func() (int, error) { return c.Read(make([]byte, 8)) })
	time.Sleep(20 * time.Millisecond)
	if err := c.SetReadDeadline(start.Add(400 * time.Millisecond)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	r := expectReturn(t, "read with a deadline", done)
	expectTimeout(t, r.err)
	if elapsed := time.Since(start); elapsed < 400*time.Millisecond {
		t.Fatalf("read timed out after %s, want the moved deadline of 400ms", elapsed)
	}

	// Clearing the deadlines makes the conn usable again.
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatalf("clear deadline: %v", err)
	}
	roundTrip(t, c, "alive")
}

func TestReadReturnsEndOfStreamAfterTheData(t *testing.T) {
	t.Parallel()
	server := startServer(t, func(_ *testServer, c net.Conn) {
		_, _ = c.Write([]byte("goodbye"))
	})
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.SetDelay("a", "b", 30*time.Millisecond, 20*time.Millisecond)
	c := dial(t, f, "a", server.addr)

	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatalf("set read deadline: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "goodbye" {
		t.Fatalf("ReadAll = (%q, %v), want (goodbye, nil)", got, err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("read after EOF = (%d, %v), want (0, EOF)", n, err)
	}
}

func TestCloseIsIdempotentAndFailsLaterCalls(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	if c.LocalAddr() == nil || c.RemoteAddr().String() != server.addr {
		t.Fatalf("addresses = %v -> %v, want the real conn's, to %s", c.LocalAddr(), c.RemoteAddr(), server.addr)
	}

	blockedRead := inBackground(func() (int, error) { return c.Read(make([]byte, 8)) })
	expectBlocked(t, "read with nothing sent", blockedRead)
	if err := c.Close(); err != nil {
		t.Fatalf("first close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if r := expectReturn(t, "read after close", blockedRead); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("blocked read after close: err = %v, want net.ErrClosed", r.err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: err = %v, want net.ErrClosed", err)
	}
	replicationtest.Eventually(t, waitMax, func() bool { return server.ended.Load() == 1 }, "the server to see the close")
}
