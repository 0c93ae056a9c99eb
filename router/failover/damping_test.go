package failover

import (
	"math"
	"strings"
	"testing"
	"time"
)

// Flap damping: the hold-down grows with a site's failures and is forgiven
// after a quiet period.

func TestHoldDownFor(t *testing.T) {
	def := DefaultConfig() // HoldDown 10 s, HoldDownMax 5 min
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		failures int
		want     time.Duration
	}{
		{"no failure", nil, 0, 10 * time.Second},
		{"one failure", nil, 1, 10 * time.Second},
		{"two", nil, 2, 20 * time.Second},
		{"three", nil, 3, 40 * time.Second},
		{"five", nil, 5, 160 * time.Second},
		{"six: bounded by HoldDownMax", nil, 6, 5 * time.Minute},
		{"FailuresMax", nil, FailuresMax, 5 * time.Minute},
		{"beyond FailuresMax", nil, FailuresMax + 50, 5 * time.Minute},
		{"a negative count is none", nil, -3, 10 * time.Second},
		{"HoldDownMax = HoldDown: no growth", func(c *Config) { c.HoldDownMax = c.HoldDown }, 7, 10 * time.Second},
		{"HoldDown 0: nothing to grow", func(c *Config) { c.HoldDown = 0 }, 7, 0},
		{"max not a power-of-two multiple", func(c *Config) { c.HoldDownMax = 25 * time.Second }, 3, 25 * time.Second},
		{"doubling near the largest duration does not overflow", func(c *Config) {
			c.HoldDown, c.HoldDownMax = time.Duration(1<<62), time.Duration(math.MaxInt64)
		}, 3, time.Duration(math.MaxInt64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := def
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if got := HoldDownFor(cfg, tc.failures); got != tc.want {
				t.Errorf("HoldDownFor(HoldDown %s, HoldDownMax %s, %d failures) = %s, want %s", cfg.HoldDown, cfg.HoldDownMax, tc.failures, got, tc.want)
			}
		})
	}
}

func TestFailuresAreForgivenAfterFlapResetAfter(t *testing.T) {
	cfg := DefaultConfig()
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		s    SiteStatus
		want int
	}{
		{"healthy, not yet quiet", SiteStatus{State: Healthy, Since: now.Add(-cfg.FlapResetAfter + time.Millisecond), Failures: 4}, 4},
		{"healthy for FlapResetAfter", SiteStatus{State: Healthy, Since: now.Add(-cfg.FlapResetAfter), Failures: 4}, 0},
		{"healthy since before anyone watched", SiteStatus{State: Healthy, Failures: 4}, 0},
		{"down for long is not quiet", SiteStatus{State: Down, Since: now.Add(-24 * time.Hour), Failures: 4}, 4},
		{"suspect for long is not quiet", SiteStatus{State: Suspect, Since: now.Add(-24 * time.Hour), Failures: 4}, 4},
		{"drained for long is not quiet", SiteStatus{State: Drained, Since: now.Add(-24 * time.Hour), Failures: 4}, 4},
		{"a count beyond FailuresMax is bounded", SiteStatus{State: Down, Since: now, Failures: FailuresMax + 1}, FailuresMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FailuresAt(cfg, tc.s, now); got != tc.want {
				t.Errorf("FailuresAt(%+v) = %d, want %d", tc.s, got, tc.want)
			}
		})
	}
}

// flapSim drives a sim in which every move completes at once, counting
// moves by kind.
type flapSim struct {
	*sim
	moves map[MoveKind]int
}

func newFlapSim(t *testing.T) *flapSim {
	s := newSim(t)
	// A hold-down shorter than the ~9.4 s a 13 s cycle leaves hz-a healthy,
	// so that without damping it fails back in every cycle.
	s.cfg.HoldDown = 5 * time.Second
	s.cells = cells(1, 2, "hz-a", "hz-a")
	return &flapSim{sim: s, moves: map[MoveKind]int{}}
}

// runFor ticks for d; each tick's moves complete before the next tick.
func (f *flapSim) runFor(d time.Duration) {
	f.t.Helper()
	f.sim.runFor(d, func(out Output) {
		for _, m := range out.Moves {
			f.moves[m.Kind]++
			for i, c := range f.cells {
				if c.ID != m.Cell {
					continue
				}
				c = edit(c, m.FromNode, func(r *Replica) { r.Leader = false })
				f.cells[i] = claims(c, m.ToNode, c.Replicas[0].Term+1)
			}
		}
	})
}

// cycle: hz-a goes dark for outage, then is up until period has passed.
func (f *flapSim) cycle(outage, period time.Duration) {
	f.t.Helper()
	f.world = allUp().with("hz-a", dark)
	f.runFor(outage)
	f.world = allUp()
	f.runFor(period - outage)
}

func (f *flapSim) leadersIn(site string) int {
	n := 0
	for _, c := range f.cells {
		if l, ok := c.Leader(); ok && l.Site == site {
			n++
		}
	}
	return n
}

// TestFlappingSiteFailsBackLessAndLess is issue 13 item 10: hz-a is out
// for 1.5 s every 13 s. Each outage lasts past DownAfter, so hz-a goes
// down each time; without damping its two cells would fail over and back
// in every cycle. With damping the hold-down doubles with each failure,
// the cells stay on the backup after the second cycle, the count survives
// a new controller (it is in the site's record), and after a long quiet
// period the hold-down is back to HoldDown.
func TestFlappingSiteFailsBackLessAndLess(t *testing.T) {
	const outage, period, cycles = 1500 * time.Millisecond, 13 * time.Second, 8

	// Control: without growth (HoldDownMax = HoldDown) the site flaps in
	// every cycle, so the scenario below proves something.
	undamped := newFlapSim(t)
	undamped.cfg.HoldDownMax = undamped.cfg.HoldDown
	for range cycles {
		undamped.cycle(outage, period)
	}
	if got := undamped.moves[Failback]; got != 2*cycles {
		t.Fatalf("without damping: %d failbacks over %d cycles, want %d (both cells, every cycle)", got, cycles, 2*cycles)
	}

	f := newFlapSim(t)
	for i := range cycles {
		if i == cycles/2 {
			// A new meta leader: it starts from the records (site states
			// with their failure counts, pins), timing afresh.
			f.st = State{Sites: f.st.Sites, Pins: f.st.Pins}
		}
		f.cycle(outage, period)
		if got, want := f.st.Sites["hz-a"].Failures, i+1; got != want {
			t.Fatalf("after cycle %d: hz-a has %d failures, want %d", i+1, got, want)
		}
	}
	// Cycle 1: over and back (hold-down 5 s). Cycle 2: over, and the
	// hold-down (10 s) outlasts the healthy stretch. Then the cells stay
	// on hz-b: no more moves at all.
	if f.moves[Failover] != 4 || f.moves[Failback] != 2 {
		t.Fatalf("with damping: %d failovers and %d failbacks over %d cycles, want 4 and 2", f.moves[Failover], f.moves[Failback], cycles)
	}
	if n := f.leadersIn("hz-b"); n != 2 {
		t.Fatalf("%d cells lead in hz-b after the flapping, want 2", n)
	}
	hza := f.st.Sites["hz-a"]
	if hza.State != Healthy {
		t.Fatalf("hz-a is %s after the last cycle, want healthy", hza.State)
	}
	containsAll(t, "hz-a's reason", hza.Reason, "hold-down 5m0s before failback", "8 failures")
	longest := HoldDownFor(f.cfg, cycles)
	if longest != f.cfg.HoldDownMax {
		t.Fatalf("HoldDownFor(%d failures) = %s, want HoldDownMax %s", cycles, longest, f.cfg.HoldDownMax)
	}

	// Quiet: the cells come home once hz-a has been healthy for the
	// longest hold-down, and not before.
	healthySince := hza.Since
	for f.moves[Failback] == 2 {
		if f.now.Sub(healthySince) > longest+time.Second {
			t.Fatalf("no failback %s after hz-a turned healthy", f.now.Sub(healthySince))
		}
		f.runFor(tickEvery)
	}
	if waited := f.at.Sub(healthySince); waited < longest {
		t.Fatalf("failback after %s healthy, before the hold-down of %s", waited, longest)
	}
	f.runFor(time.Second)
	if f.moves[Failback] != 4 || f.leadersIn("hz-a") != 2 {
		t.Fatalf("after the hold-down: %d failbacks, %d cells home; want 4 and 2", f.moves[Failback], f.leadersIn("hz-a"))
	}

	// Forgiven: after FlapResetAfter of health, the next outage is the
	// first failure again, and its cells come home after HoldDown.
	f.runFor(f.cfg.FlapResetAfter - f.now.Sub(healthySince))
	if got := FailuresAt(f.cfg, f.st.Sites["hz-a"], f.now); got != 0 {
		t.Fatalf("after %s healthy hz-a counts %d failures, want 0", f.now.Sub(healthySince), got)
	}
	if got := HoldDownFor(f.cfg, FailuresAt(f.cfg, f.st.Sites["hz-a"], f.now)); got != f.cfg.HoldDown {
		t.Fatalf("hold-down after the quiet period %s, want HoldDown %s", got, f.cfg.HoldDown)
	}
	f.cycle(outage, period)
	if got := f.st.Sites["hz-a"].Failures; got != 1 {
		t.Fatalf("the first outage after the quiet period counts as failure %d, want 1", got)
	}
	if f.moves[Failover] != 6 || f.moves[Failback] != 6 {
		t.Fatalf("after the quiet period: %d failovers and %d failbacks in all, want 6 and 6 (over and back once more)", f.moves[Failover], f.moves[Failback])
	}
	var last SiteChange
	for _, ch := range changesOf(f.changes, "hz-a") {
		if ch.To == Healthy {
			last = ch
		}
	}
	if last.Failures != 1 || !strings.Contains(last.Reason, "hold-down 5s before failback (1 failure)") {
		t.Errorf("the last recovery of hz-a: %+v, want 1 failure and a hold-down of 5s", last)
	}
}

// TestDrillsAndSuspicionDoNotCountAsFailures: a suspect site that recovers
// before DownAfter and a site drained by an operator keep their count.
func TestDrillsAndSuspicionDoNotCountAsFailures(t *testing.T) {
	s := newSim(t)
	s.cells = cells(1, 1, "hz-a", "hz-a")
	s.set("hz-a", Healthy, t0.Add(-time.Minute))
	st := s.st.Sites["hz-a"]
	st.Failures = 2
	s.st.Sites["hz-a"] = st
	s.world = allUp().with("hz-a", dark)
	s.runFor(s.cfg.DownAfter-tickEvery, nil) // suspect, not yet down
	if s.state("hz-a") != Suspect || s.st.Sites["hz-a"].Failures != 2 {
		t.Fatalf("hz-a %+v, want suspect with 2 failures", s.st.Sites["hz-a"])
	}
	s.world = allUp()
	s.tick()
	if s.state("hz-a") != Healthy || s.st.Sites["hz-a"].Failures != 2 {
		t.Fatalf("hz-a %+v, want healthy again with 2 failures", s.st.Sites["hz-a"])
	}
	s.set("hz-a", Drained, s.now)
	st = s.st.Sites["hz-a"]
	st.Failures = 2
	s.st.Sites["hz-a"] = st
	s.world = allUp().with("hz-a", dark)
	s.runFor(10*time.Second, nil)
	if s.state("hz-a") != Drained || s.st.Sites["hz-a"].Failures != 2 {
		t.Fatalf("hz-a %+v, want drained with 2 failures", s.st.Sites["hz-a"])
	}
}
