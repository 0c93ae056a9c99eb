package fabric

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAppliesOnlyBelowAFractionalProbability(t *testing.T) {
	t.Parallel()
	tests := []struct {
		probability, draw float64
		want              bool
	}{
		{0, 0, true}, {0, 0.999, true}, // The zero value: every conn, as before the field existed.
		{1, 0, true}, {1, 0.999, true},
		{0.5, 0, true}, {0.5, 0.4999, true},
		{0.5, 0.5, false}, {0.5, 0.999, false},
		{0.001, 0.5, false},
	}
	for _, tt := range tests {
		if got := applies(tt.probability, tt.draw); got != tt.want {
			t.Errorf("applies(%v, %v) = %v, want %v", tt.probability, tt.draw, got, tt.want)
		}
	}
}

// dialMany dials n conns from site a to addr, one after the other, so the
// i-th conn has the dial number i (when nothing else dials from a to addr's
// site).
func dialMany(t *testing.T, f *Fabric, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, f, "a", addr)
	}
	return conns
}

// selected reports whether the faults of the link of each direction of c
// apply to it now.
func selected(t *testing.T, c net.Conn) (out, in bool) {
	t.Helper()
	fc, ok := c.(*conn)
	if !ok {
		t.Fatalf("%T is not a fabric conn", c)
	}
	outFaults, _ := fc.out.faults()
	inFaults, _ := fc.in.faults()
	return len(outFaults) > 0, len(inFaults) > 0
}

// selectionPattern is which of conns the a -> b faults apply to, as "x" and ".".
func selectionPattern(t *testing.T, conns []net.Conn) string {
	t.Helper()
	pattern := make([]byte, len(conns))
	for i, c := range conns {
		pattern[i] = '.'
		if out, _ := selected(t, c); out {
			pattern[i] = 'x'
		}
	}
	return string(pattern)
}

func TestProbabilityCutsASeededShareOfConns(t *testing.T) {
	t.Parallel()
	const connCount, seed = 200, 11
	server := startServer(t, echo)
	f := New(seed)
	t.Cleanup(func() { f.Close() })
	f.Register(server.addr, "b")
	conns := dialMany(t, f, server.addr, connCount)
	f.SetLink("a", "b", Link{Cut: true, Probability: 0.5})
	f.SetLink("b", "a", Link{Delay: time.Millisecond, Probability: 0.5})

	pattern := selectionPattern(t, conns)
	var cut, open []int
	for i, c := range conns {
		out, in := selected(t, c)
		if out != in {
			t.Fatalf("conn %d: selected a->b %v but b->a %v; both directions share one draw", i, out, in)
		}
		if out {
			cut = append(cut, i)
		} else {
			open = append(open, i)
		}
	}
	// 100 expected; only a broken draw or gate leaves this range.
	if len(cut) < connCount/4 || len(open) < connCount/4 {
		t.Fatalf("probability 0.5 cut %d and spared %d of %d conns: %s", len(cut), len(open), connCount, pattern)
	}

	message := func(i int) string { return fmt.Sprintf("<ping %03d>", i) }
	for i, c := range conns {
		if _, err := c.Write([]byte(message(i))); err != nil {
			t.Fatalf("conn %d: write: %v", i, err)
		}
	}
	openBytes := 0
	for _, i := range open {
		expectRead(t, conns[i], message(i)) // Spared: crosses the cut link both ways.
		openBytes += len(message(i))
	}
	time.Sleep(100 * time.Millisecond) // Room for bytes of cut conns to leak, if the gate is broken.
	if got := server.received.Load(); got != int64(openBytes) {
		t.Fatalf("the server received %d bytes, want the %d of the spared conns only", got, openBytes)
	}
	f.HealAll()
	for _, i := range cut {
		expectRead(t, conns[i], message(i)) // Held by the cut, delivered after the heal.
	}

	// The same seed and the same dials select the same conns; another seed does not.
	patternOf := func(seed int64) string {
		other := New(seed)
		defer other.Close()
		other.Register(server.addr, "b")
		otherConns := dialMany(t, other, server.addr, connCount)
		other.SetLink("a", "b", Link{Cut: true, Probability: 0.5})
		return selectionPattern(t, otherConns)
	}
	if again := patternOf(seed); again != pattern {
		t.Fatalf("seed %d selected\n%s\nthen\n%s", seed, pattern, again)
	}
	if other := patternOf(seed + 1); other == pattern {
		t.Fatalf("seeds %d and %d selected the same conns: %s", seed, seed+1, pattern)
	}
}

func TestProbabilityZeroAndOneCutEveryConn(t *testing.T) {
	t.Parallel()
	for _, probability := range []float64{0, 1} {
		t.Run(fmt.Sprint(probability), func(t *testing.T) {
			t.Parallel()
			const connCount = 20
			server := startServer(t, echo)
			f := newTestFabric(t)
			f.Register(server.addr, "b")
			conns := dialMany(t, f, server.addr, connCount)
			f.SetLink("a", "b", Link{Cut: true, Probability: probability})
			if pattern := selectionPattern(t, conns); pattern != strings.Repeat("x", connCount) {
				t.Fatalf("probability %v selected %s, want every conn", probability, pattern)
			}
			for i, c := range conns {
				if _, err := c.Write([]byte("held")); err != nil {
					t.Fatalf("conn %d: write: %v", i, err)
				}
			}
			time.Sleep(200 * time.Millisecond)
			if got := server.received.Load(); got != 0 {
				t.Fatalf("%d bytes crossed a link cut with probability %v", got, probability)
			}
			f.HealAll()
			for _, c := range conns {
				expectRead(t, c, "held")
			}
		})
	}
}

func TestProbabilityChangesNeverRedraw(t *testing.T) {
	t.Parallel()
	const connCount = 60
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	conns := dialMany(t, f, server.addr, connCount)
	f.SetLink("a", "b", Link{Delay: time.Millisecond, Probability: 0.3})
	low := selectionPattern(t, conns)

	f.Cut("a", "b")
	f.Heal("a", "b")
	if got := selectionPattern(t, conns); got != low {
		t.Fatalf("a cut and a heal re-drew the selection:\n%s\nthen\n%s", low, got)
	}
	f.SetLink("a", "b", Link{Delay: time.Millisecond, Probability: 0.7})
	high := selectionPattern(t, conns)
	grown := false
	for i := range connCount {
		if low[i] == 'x' && high[i] != 'x' {
			t.Fatalf("conn %d left the selection when the probability rose:\n%s\n%s", i, low, high)
		}
		grown = grown || (low[i] != 'x' && high[i] == 'x')
	}
	if !grown {
		t.Fatalf("raising the probability from 0.3 to 0.7 selected no new conn of %d:\n%s", connCount, low)
	}
	f.SetLink("a", "b", Link{Delay: time.Millisecond, Probability: 0.3})
	if got := selectionPattern(t, conns); got != low {
		t.Fatalf("setting the probability back selected other conns:\n%s\nthen\n%s", low, got)
	}
	// A conn dialed after the change draws like the others: its draw is the
	// one its dial number gives, whatever the link was when it was dialed.
	late := dial(t, f, "a", server.addr)
	want := applies(0.3, f.selectionDraw("a", "b", connCount))
	if got, _ := selected(t, late); got != want {
		t.Fatalf("conn %d dialed after the change: selected %v, want %v", connCount, got, want)
	}
}

func TestSelectionDrawIsItsOwnStream(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	draw := f.selectionDraw("a", "b", 0)
	if draw < 0 || draw >= 1 {
		t.Fatalf("selection draw %v is not in [0, 1)", draw)
	}
	if again := f.selectionDraw("a", "b", 0); again != draw {
		t.Fatalf("the same conn drew %v, then %v", draw, again)
	}
	// The direction streams still start where they did before Probability
	// existed: the selection draw is not taken from them.
	for _, dir := range [][2]string{{"a", "b"}, {"b", "a"}} {
		if first := f.faultRand("a", "b", 0, dir[0], dir[1]).Float64(); first == draw {
			t.Fatalf("the selection draw %v is the first value of the %s->%s fault stream", draw, dir[0], dir[1])
		}
	}
	if f.selectionDraw("a", "b", 1) == draw || f.selectionDraw("b", "a", 0) == draw {
		t.Fatal("another conn drew the same selection value")
	}
}
