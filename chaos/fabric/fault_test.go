package fabric

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

func TestLossDelaysLostChunksByTheStall(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.SetLink("a", "b", Link{Loss: 1}) // Every chunk a -> b is lost once.

	for i := range 3 {
		start := time.Now()
		roundTrip(t, c, fmt.Sprintf("ping %d", i))
		if elapsed := time.Since(start); elapsed < LossStall {
			t.Fatalf("round trip over a lossy link took %s, want at least the %s stall", elapsed, LossStall)
		}
	}
}

func TestLossKeepsBytesInOrder(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.SetLink("a", "b", Link{Loss: 0.3, Jitter: 2 * time.Millisecond})
	f.SetLink("b", "a", Link{Loss: 0.3})

	var sent bytes.Buffer
	start := time.Now()
	for i := range 200 {
		msg := fmt.Sprintf("<%d>", i) // Each write is one chunk: ~60 of them are lost.
		sent.WriteString(msg)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	expectRead(t, c, sent.String())
	if elapsed := time.Since(start); elapsed < LossStall {
		t.Fatalf("200 chunks at 30%% loss arrived after %s, want at least one %s stall", elapsed, LossStall)
	}
}

func TestBandwidthPacesAConn(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	const bytesPerSecond, total = 50_000, 100_000
	f.SetLink("a", "b", Link{BandwidthBytesPerSecond: bytesPerSecond})

	sent := make([]byte, total)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range sent {
		sent[i] = byte(rng.Uint32())
	}
	start := time.Now()
	if n, err := c.Write(sent); n != total || err != nil {
		t.Fatalf("write = (%d, %v)", n, err)
	}
	if err := c.SetReadDeadline(time.Now().Add(3 * waitMax)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got[:1]); err != nil {
		t.Fatalf("read the first byte: %v", err)
	}
	firstAt := time.Now()
	if _, err := io.ReadFull(c, got[1:]); err != nil {
		t.Fatalf("read the rest: %v", err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("paced bytes arrived changed or out of order")
	}
	// 100 KB at 50 KB/s takes 2 s; generous lower bounds only.
	if elapsed := time.Since(start); elapsed < 1900*time.Millisecond {
		t.Fatalf("100 KB at 50 KB/s arrived in %s, want at least ~2s", elapsed)
	}
	// Paced, not one burst at the end: the bytes trickle in over the 2 s.
	if trickle := time.Since(firstAt); trickle < time.Second {
		t.Fatalf("the bytes after the first arrived within %s, want them spread over ~2s", trickle)
	}
}

func TestAllFaultsTogetherKeepBytesIntact(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	link := Link{Delay: time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 0.05, BandwidthBytesPerSecond: 4 << 20}
	f.SetLink("a", "b", link)
	f.SetLink("b", "a", link)
	c := dial(t, f, "a", server.addr)

	sent := make([]byte, 256<<10)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range sent {
		sent[i] = byte(rng.Uint32())
	}
	done := inBackground(func() (int, error) {
		for rest := sent; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(5000))
			if _, err := c.Write(rest[:n]); err != nil {
				return 0, err
			}
			rest = rest[n:]
		}
		return len(sent), nil
	})
	got := make([]byte, len(sent))
	if err := c.SetReadDeadline(time.Now().Add(3 * waitMax)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("bytes arrived changed or out of order")
	}
	if r := expectReturn(t, "writes", done); r.err != nil {
		t.Fatalf("write: %v", r.err)
	}
}

// lossPattern schedules count chunks through the a -> b faults of the first
// conn dialed from a to b in a fabric of seed, and says which were lost.
func lossPattern(seed int64, loss float64, count int) []bool {
	f := New(seed)
	defer f.Close()
	f.SetLink("a", "b", Link{Loss: loss, Jitter: time.Millisecond})
	_, faults, _ := f.linkState("a", "b")
	state := faultState{rng: f.faultRand("a", "b", 0, "a", "b")}
	now := time.Unix(0, 0)
	lost := make([]bool, count)
	for i := range lost {
		lost[i] = schedule(faults, now, 100, &state).Sub(now) >= LossStall
	}
	return lost
}

func TestSameSeedSameLossPattern(t *testing.T) {
	t.Parallel()
	const count = 400
	first, again, other := lossPattern(7, 0.25, count), lossPattern(7, 0.25, count), lossPattern(8, 0.25, count)
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatal("the same seed gave two loss patterns")
	}
	if fmt.Sprint(first) == fmt.Sprint(other) {
		t.Fatal("seeds 7 and 8 gave the same loss pattern")
	}
	lost := 0
	for _, l := range first {
		if l {
			lost++
		}
	}
	if lost < count/8 || lost > count/2 { // 25% expected; only a broken generator misses this.
		t.Fatalf("%d of %d chunks lost at a loss of 0.25", lost, count)
	}
}

func TestEachConnAndDirectionHasItsOwnStream(t *testing.T) {
	t.Parallel()
	f := newTestFabric(t)
	draw := func(r *rand.Rand) string { return fmt.Sprint(r.Uint64(), r.Uint64()) }
	streams := map[string]string{
		"conn 0 a->b":         draw(f.faultRand("a", "b", 0, "a", "b")),
		"conn 0 b->a":         draw(f.faultRand("a", "b", 0, "b", "a")),
		"conn 1 a->b":         draw(f.faultRand("a", "b", 1, "a", "b")),
		"conn 0 from b, b->a": draw(f.faultRand("b", "a", 0, "b", "a")),
	}
	seen := map[string]string{}
	for name, s := range streams {
		if other, dup := seen[s]; dup {
			t.Fatalf("%s and %s draw the same values", name, other)
		}
		seen[s] = name
	}
	if draw(f.faultRand("a", "b", 0, "a", "b")) != streams["conn 0 a->b"] {
		t.Fatal("the same conn and direction drew different values")
	}
}

func TestBandwidthScheduleIsExact(t *testing.T) {
	t.Parallel()
	faults := faultsOf(Link{BandwidthBytesPerSecond: 1000, Delay: 10 * time.Millisecond})
	state := faultState{rng: rand.New(rand.NewPCG(1, 1))}
	now := time.Unix(100, 0)
	if got := schedule(faults, now, 500, &state).Sub(now); got != 510*time.Millisecond {
		t.Fatalf("first 500 B at 1000 B/s + 10ms delivered after %s, want 510ms", got)
	}
	// The wire is busy until now+500ms: the next chunk queues behind it.
	if got := schedule(faults, now, 1000, &state).Sub(now); got != 1510*time.Millisecond {
		t.Fatalf("next 1000 B delivered after %s, want 1.51s", got)
	}
	// An idle wire starts at once.
	later := now.Add(time.Hour)
	if got := schedule(faults, later, 1, &state).Sub(later); got != 11*time.Millisecond {
		t.Fatalf("1 B on an idle wire delivered after %s, want 11ms", got)
	}
	if got := chunkBytesMax(faults); got != bandwidthChunkBytesMin {
		t.Fatalf("chunkBytesMax at 1000 B/s = %d, want the minimum %d", got, bandwidthChunkBytesMin)
	}
	if got := chunkBytesMax(faultsOf(Link{BandwidthBytesPerSecond: 1 << 40})); got != pumpBufferBytes {
		t.Fatalf("chunkBytesMax on a fast link = %d, want %d", got, pumpBufferBytes)
	}
}

func TestFaultsOfCompilesOnlyWhatIsOn(t *testing.T) {
	t.Parallel()
	if got := faultsOf(Link{}); len(got) != 0 {
		t.Fatalf("faults of the zero Link = %v", got)
	}
	got := faultsOf(Link{Cut: true, Loss: 0.1, Jitter: time.Millisecond, BandwidthBytesPerSecond: 1})
	want := []fault{bandwidthFault{bytesPerSecond: 1}, delayFault{jitter: time.Millisecond}, lossFault{probability: 0.1}, cutFault{}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("faults = %v, want %v in that order", got, want)
	}
	if !holding(got) || holding(got[:3]) {
		t.Fatal("only the cut may hold a direction")
	}
}

func TestCloseWriteDeliversTheEndAfterTheBytes(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo) // Echoes, then closes when it reads the end.
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	f.SetDelay("a", "b", 20*time.Millisecond, 5*time.Millisecond)
	c := dial(t, f, "a", server.addr)

	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatalf("write: %v", err)
	}
	half, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("a fabric conn has no CloseWrite")
	}
	if err := half.CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	if _, err := c.Write([]byte("more")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
	if err := c.SetReadDeadline(time.Now().Add(waitMax)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last words" {
		t.Fatalf("ReadAll = (%q, %v), want the echo, then the end the server sent back", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := half.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("close write after close: err = %v, want net.ErrClosed", err)
	}
}

func TestCloseWriteWaitsForACutToHeal(t *testing.T) {
	t.Parallel()
	server := startServer(t, echo)
	f := newTestFabric(t)
	f.Register(server.addr, "b")
	c := dial(t, f, "a", server.addr)
	f.Cut("a", "b")
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if server.ended.Load() != 0 || server.received.Load() != 0 {
		t.Fatal("the bytes or the end crossed a cut link")
	}
	f.Heal("a", "b")
	expectRead(t, c, "held")
	replicationtest.Eventually(t, waitMax, func() bool { return server.ended.Load() == 1 }, "the server to read the end")
}
