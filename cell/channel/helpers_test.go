package channel

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// testTime is the simulator's clock in tests: every payment at one instant.
var testTime = time.Date(2026, 1, 16, 14, 40, 0, 0, time.UTC)

// newTestSim is a simulator named bank-a with a fixed clock and a short
// hang bound, closed at the end of the test.
func newTestSim(t testing.TB) *Sim {
	t.Helper()
	cfg := DefaultSimConfig("bank-a")
	cfg.Clock = func() time.Time { return testTime }
	cfg.HangDurationMax = 10 * time.Second
	sim, err := NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// fakeClock is a clock a test moves by hand. Safe for concurrent use: the
// simulator reads it under its own lock while the test moves it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d (back when d < 0).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newWindowSim is a simulator named bank-a that forgets payout ids window
// after recording them, by a fake clock starting at testTime; closed at
// the end of the test.
func newWindowSim(t testing.TB, window time.Duration, change ...func(*SimConfig)) (*Sim, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: testTime}
	cfg := DefaultSimConfig("bank-a")
	cfg.Clock = clock.Now
	cfg.HangDurationMax = 10 * time.Second
	cfg.IdempotencyWindow = window
	for _, c := range change {
		c(&cfg)
	}
	sim, err := NewSim(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim, clock
}

func payout(id string) Payout {
	return Payout{ID: id, Account: "investor-42", AmountMinor: 10_000, Currency: "CNY"}
}

// shortContext is a context that ends after d.
func shortContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustSet sets the simulator's standing submit behaviour.
func mustSet(t testing.TB, sim *Sim, b Behaviour) {
	t.Helper()
	if err := sim.SetBehaviour(b); err != nil {
		t.Fatal(err)
	}
}

// wantDefinite checks (res, err) is the definite outcome want.
func wantDefinite(t testing.TB, what string, res Result, err error, want Outcome) {
	t.Helper()
	if !Definite(res, err) || res.Outcome != want {
		t.Fatalf("%s = %+v, %v; want definite %v", what, res, err, want)
	}
}

// wantUnknown checks err is not definite and of kind ErrOutcomeUnknown.
func wantUnknown(t testing.TB, what string, res Result, err error) {
	t.Helper()
	if Definite(res, err) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("%s = %+v, %v; want an ErrOutcomeUnknown error", what, res, err)
	}
	for _, definite := range []error{ErrInvalidPayout, ErrIDReused, ErrNotFound} {
		if errors.Is(err, definite) {
			t.Fatalf("%s: %v is also %v", what, err, definite)
		}
	}
}

// wantStatement checks the simulator paid exactly the payouts ids, in order.
func wantStatement(t testing.TB, entries []StatementEntry, ids ...string) {
	t.Helper()
	if len(entries) != len(ids) {
		t.Fatalf("statement has %d entries %+v, want %d %v", len(entries), entries, len(ids), ids)
	}
	for i, e := range entries {
		if e.PayoutID != ids[i] {
			t.Fatalf("statement[%d] pays %s, want %s (%+v)", i, e.PayoutID, ids[i], entries)
		}
	}
}
