package fabric

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// udpPair is a sender in site "a" whose socket goes through the fabric, and a
// plain receiver socket registered to site "b".
type udpPair struct {
	send net.PacketConn
	recv net.PacketConn
	to   net.Addr
}

func newUDPPair(t *testing.T, f *Fabric) udpPair {
	t.Helper()
	listen := func() net.PacketConn {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return pc
	}
	recv := listen()
	t.Cleanup(func() { recv.Close() })
	f.Register(recv.LocalAddr().String(), "b")
	send := f.PacketConn("a", listen())
	t.Cleanup(func() { send.Close() })
	return udpPair{send: send, recv: recv, to: recv.LocalAddr()}
}

// sendOne sends msg and fails the test if WriteTo fails.
func (u udpPair) sendOne(t *testing.T, msg string) {
	t.Helper()
	if n, err := u.send.WriteTo([]byte(msg), u.to); err != nil || n != len(msg) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(msg))
	}
}

// receive returns the next datagram, or "" if none arrives within wait.
func (u udpPair) receive(t *testing.T, wait time.Duration) string {
	t.Helper()
	buf := make([]byte, 1500)
	if err := u.recv.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	n, _, err := u.recv.ReadFrom(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestPacketConnDelaysDatagrams(t *testing.T) {
	f := newTestFabric(t)
	u := newUDPPair(t, f)
	const delay = 80 * time.Millisecond
	f.SetLink("a", "b", Link{Delay: delay})

	start := time.Now()
	u.sendOne(t, "ping")
	if got := u.receive(t, 5*time.Second); got != "ping" {
		t.Fatalf("received %q, want ping", got)
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Fatalf("datagram arrived after %s, before the link's delay %s", elapsed, delay)
	}
}

func TestPacketConnCutIsSilentAndHealRestores(t *testing.T) {
	f := newTestFabric(t)
	u := newUDPPair(t, f)
	f.Cut("a", "b")

	u.sendOne(t, "lost") // A black hole: the send succeeds, nothing arrives.
	if got := u.receive(t, 300*time.Millisecond); got != "" {
		t.Fatalf("received %q through a cut link", got)
	}
	f.HealAll()
	u.sendOne(t, "after heal")
	if got := u.receive(t, 5*time.Second); got != "after heal" {
		t.Fatalf("received %q after heal, want %q", got, "after heal")
	}
}

func TestPacketConnIsolateCutsDatagrams(t *testing.T) {
	f := newTestFabric(t)
	u := newUDPPair(t, f)
	f.Register("127.0.0.1:1", "a") // Isolate cuts the registered sites.
	f.Isolate("b")
	u.sendOne(t, "lost")
	if got := u.receive(t, 300*time.Millisecond); got != "" {
		t.Fatalf("received %q from a site isolated from the receiver", got)
	}
}

func TestPacketConnTotalLossDropsEverything(t *testing.T) {
	f := newTestFabric(t)
	u := newUDPPair(t, f)
	f.SetLink("a", "b", Link{Loss: 1})
	for range 20 {
		u.sendOne(t, "x")
	}
	if got := u.receive(t, 300*time.Millisecond); got != "" {
		t.Fatalf("received %q with loss 1", got)
	}
}

func TestPacketConnPartialLossIsSeeded(t *testing.T) {
	delivered := func() int {
		f := New(42)
		t.Cleanup(func() { f.Close() })
		u := newUDPPair(t, f)
		f.SetLink("a", "b", Link{Loss: 0.5})
		const sent = 200
		for range sent {
			u.sendOne(t, "x")
		}
		n := 0
		for u.receive(t, 300*time.Millisecond) != "" {
			n++
		}
		if n == 0 || n == sent {
			t.Fatalf("loss 0.5 delivered %d of %d datagrams", n, sent)
		}
		return n
	}
	if a, b := delivered(), delivered(); a != b {
		t.Fatalf("the same seed delivered %d and then %d datagrams", a, b)
	}
}

func TestPacketConnUnregisteredAndClosed(t *testing.T) {
	f := newTestFabric(t)
	u := newUDPPair(t, f)
	stranger := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	if _, err := u.send.WriteTo([]byte("x"), stranger); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("WriteTo an unregistered address: %v, want ErrNotRegistered", err)
	}

	f.SetLink("a", "b", Link{Delay: 200 * time.Millisecond})
	u.sendOne(t, "pending")
	if err := u.send.Close(); err != nil {
		t.Fatal(err)
	}
	if got := u.receive(t, 500*time.Millisecond); got != "" {
		t.Fatalf("a datagram still waiting for its delay arrived after Close: %q", got)
	}
	if _, err := u.send.WriteTo([]byte("x"), u.to); !errors.Is(err, ErrClosed) && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteTo after Close: %v, want a closed error", err)
	}
}

func TestPacketConnProbabilityDrawsPerDatagram(t *testing.T) {
	const sent = 200
	delivered := func(seed int64, probability float64) int {
		f := New(seed)
		t.Cleanup(func() { f.Close() })
		u := newUDPPair(t, f)
		f.SetLink("a", "b", Link{Cut: true, Probability: probability})
		for i := range sent {
			u.sendOne(t, fmt.Sprintf("datagram %d", i))
		}
		n := 0
		for u.receive(t, 300*time.Millisecond) != "" {
			n++
		}
		return n
	}
	spared := delivered(42, 0.5)
	if spared == 0 || spared == sent {
		t.Fatalf("a cut of probability 0.5 let %d of %d datagrams through, want some, not all", spared, sent)
	}
	if again := delivered(42, 0.5); again != spared {
		t.Fatalf("the same seed let %d and then %d datagrams through", spared, again)
	}
	for _, probability := range []float64{0, 1} {
		if n := delivered(42, probability); n != 0 {
			t.Fatalf("a cut of probability %v let %d datagrams through, want none", probability, n)
		}
	}
}
