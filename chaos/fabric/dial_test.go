package fabric

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestDialUnregisteredAddressNamesIt(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	_, err := f.Dialer("a")(context.Background(), "127.0.0.1:1234")
	const want = "fabric: address 127.0.0.1:1234 is not registered to a site"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("err = %v, want it to match ErrNotRegistered", err)
	}
}

func TestDialTakesOneRoundTrip(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.SetLink("a", "b", Link{Delay: 30 * time.Millisecond})
	f.SetLink("b", "a", Link{Delay: 40 * time.Millisecond})

	start := time.Now()
	dial(t, f, "a", server.addr)
	if elapsed := time.Since(start); elapsed < 70*time.Millisecond {
		t.Fatalf("dial took %s, want at least the 70ms round trip", elapsed)
	}
}

func TestDialOverCutPathHangsUntilContextDone(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")

	// Either direction cut blocks the handshake.
	for _, link := range [][2]string{{"a", "b"}, {"b", "a"}} {
		f.HealAll()
		f.SetLink(link[0], link[1], Link{Cut: true})
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		c, err := f.Dialer("a")(ctx, server.addr)
		cancel()
		if err == nil {
			c.Close()
			t.Fatalf("dial with %s->%s cut connected", link[0], link[1])
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial with %s->%s cut: err = %v, want context.DeadlineExceeded", link[0], link[1], err)
		}
		if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
			t.Fatalf("dial with %s->%s cut failed after %s, before its context", link[0], link[1], elapsed)
		}
	}
	if got := server.received.Load(); got != 0 || server.ended.Load() != 0 {
		t.Fatalf("server saw a conn through a cut path (%d bytes)", got)
	}
}

func TestDialOverCutPathConnectsAfterHeal(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.Cut("a", "b")

	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	dialed := make(chan net.Conn, 1)
	done := inBackground(func() (int, error) {
		c, err := f.Dialer("a")(ctx, server.addr)
		dialed <- c
		return 0, err
	})
	expectBlocked(t, "dial over a cut path", done)

	f.Heal("a", "b")
	if r := expectReturn(t, "dial after heal", done); r.err != nil {
		t.Fatalf("dial after heal: %v", r.err)
	}
	c := <-dialed
	t.Cleanup(func() { c.Close() })
	roundTrip(t, c, "hello")
}

func TestDialFailsAfterFabricClose(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, err := f.Dialer("a")(context.Background(), server.addr)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after close: err = %v, want ErrClosed", err)
	}
}
