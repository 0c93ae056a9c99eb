package failover

import (
	"reflect"
	"testing"
	"time"
)

// Leadership moves.

// hzaDown returns a sim in which hz-a has been down for a minute and is
// still unreachable from hz-b and sh-a.
func hzaDown(t *testing.T) *sim {
	t.Helper()
	s := newSim(t)
	s.set("hz-a", Down, t0.Add(-time.Minute))
	s.world = allUp().with("hz-a", dark)
	return s
}

// TestRaftLeaderInOtherRegion: while hz-a is down Raft elected sh-a's
// replica; the controller moves the leader to hz-b, in hz-a's region, if
// hz-b's replica is able to take it.
func TestRaftLeaderInOtherRegion(t *testing.T) {
	// homed in hz-a, hz-a's replica silent, sh-a-1 leads in term 4
	base := claims(stale(cell(1, "hz-a", ""), "hz-a-1"), "sh-a-1", 4)
	for _, tc := range []struct {
		name  string
		cell  CellView
		moves []string
	}{
		{"hz-b caught up", base, []string{"1:sh-a->hz-b(preferred)"}},
		{"hz-b exactly CatchUpLagMax behind", lagging(base, "hz-b-1", 256), []string{"1:sh-a->hz-b(preferred)"}},
		{"hz-b ahead of the leader", edit(base, "hz-b-1", func(r *Replica) { r.Applied += 5000 }), []string{"1:sh-a->hz-b(preferred)"}},
		{"hz-b one entry too far behind", lagging(base, "hz-b-1", 257), nil},
		{"hz-b far behind", lagging(base, "hz-b-1", 1000), nil},
		{"hz-b not fresh", stale(base, "hz-b-1"), nil},
		{"hz-b has no replica", only(base, "hz-a", "sh-a"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := hzaDown(t)
			s.cells = []CellView{tc.cell}
			out := s.tick()
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("hz-a %s, want down", got)
			}
			wantMoves(t, out.Moves, tc.moves...)
			for _, m := range out.Moves {
				containsAll(t, "move reason", m.Reason, "hz-b", "sh-a")
			}
		})
	}
}

// TestFailoverTargetMustBeCaughtUp: a leader in a down site goes to the
// first preferred site with a caught-up replica, else the cell is held and
// the hold says why.
func TestFailoverTargetMustBeCaughtUp(t *testing.T) {
	t.Run("hz-b behind: sh-a takes it", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = []CellView{lagging(cell(1, "hz-a", "hz-a"), "hz-b-1", 1000)}
		out := s.tick()
		wantMoves(t, out.Moves, "1:hz-a->sh-a(failover)")
		wantHeld(t, out.Held, nil)
	})
	t.Run("hz-b behind, sh-a silent: held", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = []CellView{stale(lagging(cell(1, "hz-a", "hz-a"), "hz-b-1", 1000), "sh-a-1")}
		out := s.tick()
		wantMoves(t, out.Moves)
		wantHeld(t, out.Held, []uint64{1}, "hz-b-1 1000 entries behind", "sh-a-1 not answering")
	})
	t.Run("lag is measured from the leader", func(t *testing.T) {
		s := hzaDown(t)
		// the leader itself is behind its followers: nobody lags
		c := edit(cell(1, "hz-a", "hz-a"), "hz-a-1", func(r *Replica) { r.Applied = 10 })
		s.cells = []CellView{c}
		wantMoves(t, s.tick().Moves, "1:hz-a->hz-b(failover)")
	})
	t.Run("CatchUpLagMax from the config", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.CatchUpLagMax = 0
		s.cells = []CellView{lagging(cell(1, "hz-a", "hz-a"), "hz-b-1", 1), lagging(cell(2, "hz-a", "hz-a"), "hz-b-1", 0)}
		wantMoves(t, s.tick().Moves, "1:hz-a->sh-a(failover)", "2:hz-a->hz-b(failover)")
	})
}

func TestRecoveryAndFailback(t *testing.T) {
	s := newSim(t)
	s.set("hz-a", Down, t0.Add(-time.Minute))
	// After the failover: cells homed in hz-a are led from hz-b.
	s.cells = append(cells(1, 5, "hz-a", "hz-b"), cell(6, "hz-b", "hz-b"), cell(7, "sh-a", "sh-a"))
	s.world = allUp()

	start := s.now
	healthyAt := s.runUntil("hz-a", Healthy, s.cfg.RecoverAfter+time.Second)
	if !healthyAt.Equal(start.Add(s.cfg.RecoverAfter)) {
		t.Fatalf("healthy at %s, want %s", s.since(healthyAt), s.since(start.Add(s.cfg.RecoverAfter)))
	}
	if len(s.moves) > 0 {
		t.Fatalf("moves while recovering: %+v", s.moves)
	}

	// Hold-down: nothing moves back yet.
	for s.now.Before(healthyAt.Add(s.cfg.HoldDown)) {
		out := s.tick()
		noMoves(t, s.since(s.at)+" (hold-down)", out)
		if len(out.Held) > 0 {
			t.Fatalf("holds during the hold-down: %+v", out.Held)
		}
	}

	// Hold-down over: the first wave.
	out := s.tick()
	if !s.at.Equal(healthyAt.Add(s.cfg.HoldDown)) {
		t.Fatalf("tick at %s", s.since(s.at))
	}
	wantMoves(t, out.Moves, "1:hz-b->hz-a(failback)", "2:hz-b->hz-a(failback)")
	for _, m := range out.Moves {
		containsAll(t, "failback reason", m.Reason, "hz-a", "hold-down")
	}
	wantHeld(t, out.Held, []uint64{3, 4, 5}, "failback wave full")

	// The wave is under way: no second move for 1 and 2, no third failback.
	s.moving = map[uint64]MoveKind{1: Failback, 2: Failback}
	out = s.tick()
	wantMoves(t, out.Moves)
	wantHeld(t, out.Held, []uint64{3, 4, 5}, "failback wave full (2 under way)")

	// Cell 2 is home; cell 1 still moving; a failover under way elsewhere
	// does not count against the failback wave.
	s.cells[1] = cell(2, "hz-a", "hz-a")
	s.moving = map[uint64]MoveKind{1: Failback, 42: Failover}
	out = s.tick()
	wantMoves(t, out.Moves, "3:hz-b->hz-a(failback)")
	wantHeld(t, out.Held, []uint64{4, 5}, "failback wave full")

	// All done.
	s.cells = append(cells(1, 5, "hz-a", "hz-a"), cell(6, "hz-b", "hz-b"), cell(7, "sh-a", "sh-a"))
	s.moving = nil
	out = s.tick()
	wantMoves(t, out.Moves)
	wantHeld(t, out.Held, nil)
}

func TestFailbackWaveMaxFromConfig(t *testing.T) {
	s := newSim(t)
	s.cfg.FailbackWaveMax = 3
	s.cfg.MovesInFlightMax = 1 // failbacks are not bounded by it
	s.cells = cells(1, 5, "hz-a", "hz-b")
	wantMoves(t, s.tick().Moves, "1:hz-b->hz-a(failback)", "2:hz-b->hz-a(failback)", "3:hz-b->hz-a(failback)")
	s.moving = map[uint64]MoveKind{1: Failback}
	s.cells = s.cells[1:]
	wantMoves(t, s.tick().Moves, "2:hz-b->hz-a(failback)", "3:hz-b->hz-a(failback)")
}

func TestSuspectDuringHoldDownGetsNoFailback(t *testing.T) {
	s := newSim(t)
	s.set("hz-a", Down, t0.Add(-time.Minute))
	s.cells = cells(1, 3, "hz-a", "hz-b")
	s.world = allUp()
	healthyAt := s.runUntil("hz-a", Healthy, 3*time.Second)

	for s.now.Before(healthyAt.Add(s.cfg.HoldDown - 2*tickEvery)) {
		noMoves(t, s.since(s.now), s.tick())
	}
	// Unreachable again shortly before the hold-down ends, and for less
	// than DownAfter, past the end of the hold-down.
	s.world = allUp().with("hz-a", backboneCut)
	for s.now.Before(healthyAt.Add(s.cfg.HoldDown + 3*tickEvery)) {
		out := s.tick()
		if got := s.state("hz-a"); got != Suspect {
			t.Fatalf("at %s hz-a %s, want suspect", s.since(s.at), got)
		}
		noMoves(t, s.since(s.at)+" (suspect)", out)
	}
	// Reachable again: healthy at once, and a new hold-down starts.
	s.world = allUp()
	out := s.tick()
	if got := s.state("hz-a"); got != Healthy {
		t.Fatalf("hz-a %s, want healthy", got)
	}
	noMoves(t, "healthy again", out)
	again := s.at
	if since := s.st.Sites["hz-a"].Since; !since.Equal(again) {
		t.Fatalf("healthy since %s, want %s", s.since(since), s.since(again))
	}
	for s.now.Before(again.Add(s.cfg.HoldDown)) {
		noMoves(t, s.since(s.now)+" (second hold-down)", s.tick())
	}
	wantMoves(t, s.tick().Moves, "1:hz-b->hz-a(failback)", "2:hz-b->hz-a(failback)")
}

// TestLeaderInSuspectSiteIsLeftAlone: no move on suspicion alone, even for
// a pinned cell or a cell away from its healthy home.
func TestLeaderInSuspectSiteIsLeftAlone(t *testing.T) {
	s := newSim(t)
	s.set("hz-b", Suspect, t0)
	s.st.Pins = map[uint64]string{2: "sh-a"}
	s.world = allUp().with("hz-b", dark)
	s.cells = []CellView{cell(1, "hz-a", "hz-b"), cell(2, "hz-a", "hz-b")}
	out := s.tick()
	if got := s.state("hz-b"); got != Suspect {
		t.Fatalf("hz-b %s, want suspect", got)
	}
	wantMoves(t, out.Moves)
	wantHeld(t, out.Held, nil)
}

func TestDrainedSiteIsEmptied(t *testing.T) {
	t.Run("leaders move away", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Drained, t0.Add(-time.Hour))
		s.cells = []CellView{
			cell(1, "hz-a", "hz-a"),
			cell(2, "hz-b", "hz-a"),
			cell(3, "hz-a", "hz-b"), // stays off its drained home
			only(cell(4, "hz-a", "hz-a"), "hz-a", "sh-a"),
			cell(5, "sh-a", "sh-a"),
		}
		out := s.tick()
		wantMoves(t, out.Moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)", "4:hz-a->sh-a(failover)")
		for _, m := range out.Moves {
			containsAll(t, "reason", m.Reason, "hz-a", "drained")
		}
		wantHeld(t, out.Held, nil)

		s.moving = map[uint64]MoveKind{1: Failover, 2: Failover, 4: Failover}
		for _, w := range []seen{allUp(), allUp().with("hz-a", dark), allUp()} {
			s.world = w
			s.runFor(20*time.Second, func(out Output) {
				if got := s.state("hz-a"); got != Drained {
					t.Fatalf("at %s hz-a %s, want drained", s.since(s.at), got)
				}
				noMoves(t, s.since(s.at), out)
			})
		}
	})

	t.Run("no healthy replica site: held", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Drained, t0.Add(-time.Hour))
		s.set("sh-a", Down, t0.Add(-time.Minute))
		s.set("hz-b", Suspect, t0)
		s.world = allUp().with("sh-a", dark).with("hz-b", dark)
		s.cells = []CellView{
			only(cell(1, "hz-a", "hz-a"), "hz-a", "sh-a"),
			only(cell(2, "hz-a", "hz-a"), "hz-a"),
			cell(3, "hz-a", "hz-a"),
		}
		out := s.tick()
		if s.state("hz-b") != Suspect || s.state("sh-a") != Down {
			t.Fatalf("sites %+v", s.st.Sites)
		}
		wantMoves(t, out.Moves)
		wantHeld(t, out.Held, []uint64{1, 2, 3}, "drained", "hz-a", "no healthy replica site")
	})

	t.Run("down leader site, no healthy replica site: held", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = []CellView{only(cell(1, "hz-a", "hz-a"), "hz-a")}
		out := s.tick()
		wantMoves(t, out.Moves)
		wantHeld(t, out.Held, []uint64{1}, "down", "hz-a", "no healthy replica site")
	})
}

func TestPins(t *testing.T) {
	s := newSim(t)
	s.st.Pins = map[uint64]string{1: "sh-a", 2: "sh-a", 4: "hz-b", 5: "hz-a"}
	s.cells = []CellView{
		cell(1, "hz-a", "hz-a"),                         // moved to its pin
		cell(2, "hz-a", "sh-a"),                         // already there
		cell(3, "hz-a", "hz-a"),                         // not pinned
		lagging(cell(4, "hz-a", "hz-a"), "hz-b-1", 300), // pin's replica behind
		cell(5, "hz-b", "hz-b"),                         // pinned away from its home
	}
	out := s.tick()
	wantMoves(t, out.Moves, "1:hz-a->sh-a(pinned)", "5:hz-b->hz-a(pinned)")
	containsAll(t, "reason", out.Moves[0].Reason, "pinned", "sh-a")
	wantHeld(t, out.Held, []uint64{4}, "hz-b-1 300 entries behind")

	// A pin to a site that is not healthy is ignored.
	s = newSim(t)
	s.set("sh-a", Down, t0.Add(-time.Minute))
	s.world = allUp().with("sh-a", dark)
	s.st.Pins = map[uint64]string{1: "sh-a", 2: "sh-a"}
	s.cells = []CellView{cell(1, "hz-a", "hz-a"), cell(2, "hz-a", "sh-a")}
	out = s.tick()
	wantMoves(t, out.Moves, "2:sh-a->hz-a(failover)")

	// The drill is over: the pin is gone, the cell goes home.
	s = newSim(t)
	s.cells = []CellView{cell(1, "hz-a", "sh-a")}
	wantMoves(t, s.tick().Moves, "1:sh-a->hz-a(failback)")
}

func TestLeaderClaims(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cell  CellView
		moves []string
	}{
		{"no claim", cell(1, "hz-a", ""), nil},
		{"only a stale claim", stale(cell(1, "hz-a", "hz-a"), "hz-a-1"), nil},
		{"higher term in sh-a wins", claims(cell(1, "hz-b", "hz-b"), "sh-a-1", 5), []string{"1:sh-a->hz-b(failback)"}},
		{"higher term at home wins", claims(cell(1, "hz-b", "sh-a"), "hz-b-1", 5), nil},
		{"stale higher term does not count", stale(claims(cell(1, "hz-b", "hz-b"), "sh-a-1", 9), "sh-a-1"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// hz-a is down: any leader seen in hz-a would be moved.
			s := hzaDown(t)
			s.cells = []CellView{tc.cell}
			out := s.tick()
			wantMoves(t, out.Moves, tc.moves...)
			wantHeld(t, out.Held, nil)
		})
	}
	t.Run("higher term in the down site wins", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = []CellView{claims(cell(1, "hz-b", "hz-b"), "hz-a-1", 4)}
		wantMoves(t, s.tick().Moves, "1:hz-a->hz-b(failover)")
	})
}

func TestMovesInFlightMax(t *testing.T) {
	t.Run("per tick", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.MovesInFlightMax = 2
		s.cells = cells(1, 5, "hz-a", "hz-a")
		out := s.tick()
		wantMoves(t, out.Moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)")
		wantHeld(t, out.Held, []uint64{3, 4, 5}, "2 moves under way")
	})
	t.Run("moves under way count", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.MovesInFlightMax = 2
		s.cells = cells(1, 5, "hz-a", "hz-a")
		s.moving = map[uint64]MoveKind{99: Preferred}
		out := s.tick()
		wantMoves(t, out.Moves, "1:hz-a->hz-b(failover)")
		wantHeld(t, out.Held, []uint64{2, 3, 4, 5}, "2 moves under way")
	})
	t.Run("failbacks under way do not count", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.MovesInFlightMax = 2
		s.cells = cells(1, 5, "hz-a", "hz-a")
		s.moving = map[uint64]MoveKind{97: Failback, 98: Failback}
		wantMoves(t, s.tick().Moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)")
	})
	t.Run("every non-failback kind counts", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.MovesInFlightMax = 3
		s.st.Pins = map[uint64]string{10: "sh-a"}
		s.cells = append(cells(1, 3, "hz-a", "hz-a"), cell(10, "hz-b", "hz-b"))
		out := s.tick()
		wantMoves(t, out.Moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)", "3:hz-a->hz-b(failover)")
		wantHeld(t, out.Held, []uint64{10}, "3 moves under way")
	})
	t.Run("the next tick continues", func(t *testing.T) {
		s := hzaDown(t)
		s.cfg.MovesInFlightMax = 2
		s.cells = cells(1, 5, "hz-a", "hz-a")
		wantMoves(t, s.tick().Moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)")
		// 1 done, 2 under way
		s.cells[0] = cell(1, "hz-a", "hz-b")
		s.moving = map[uint64]MoveKind{2: Failover}
		wantMoves(t, s.tick().Moves, "3:hz-a->hz-b(failover)")
	})
}

// deepCopy copies a State without using State.Clone.
func deepCopy(s State) State {
	out := State{}
	if s.Sites != nil {
		out.Sites = map[string]SiteStatus{}
		for k, v := range s.Sites {
			out.Sites[k] = v
		}
	}
	if s.Pins != nil {
		out.Pins = map[uint64]string{}
		for k, v := range s.Pins {
			out.Pins[k] = v
		}
	}
	if s.BadSince != nil {
		out.BadSince = map[string]time.Time{}
		for k, v := range s.BadSince {
			out.BadSince[k] = v
		}
	}
	if s.GoodSince != nil {
		out.GoodSince = map[string]time.Time{}
		for k, v := range s.GoodSince {
			out.GoodSince[k] = v
		}
	}
	return out
}

func TestDecideDoesNotModifyItsArguments(t *testing.T) {
	cfg := DefaultConfig()
	now := t0.Add(time.Minute)
	st := State{
		Sites: map[string]SiteStatus{
			"hz-a": {State: Healthy, Since: t0, Reason: "fine"},
			"hz-b": {State: Down, Since: t0, Reason: "was down"},
			"sh-a": {State: Suspect, Since: now.Add(-5 * time.Second), Reason: "suspect"},
		},
		Pins:      map[uint64]string{3: "sh-a"},
		BadSince:  map[string]time.Time{"sh-a": now.Add(-5 * time.Second)},
		GoodSince: map[string]time.Time{"hz-b": now.Add(-time.Hour)},
	}
	before := deepCopy(st)
	in := Input{
		Now:          now,
		Sites:        []Site{{ID: "sh-a", Region: "shanghai"}, {ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}},
		Observations: allUp().with("hz-a", dark).with("sh-a", dark).at(now),
		Cells:        []CellView{cell(3, "hz-a", "hz-a"), cell(2, "hz-a", "hz-a"), cell(1, "hz-a", "sh-a")},
		Moving:       map[uint64]MoveKind{7: Failback},
	}
	inBefore := Input{
		Now:          in.Now,
		Sites:        append([]Site(nil), in.Sites...),
		Observations: allUp().with("hz-a", dark).with("sh-a", dark).at(now),
		Moving:       map[uint64]MoveKind{7: Failback},
	}
	for _, c := range in.Cells {
		c.Replicas = append([]Replica(nil), c.Replicas...)
		inBefore.Cells = append(inBefore.Cells, c)
	}

	out := Decide(cfg, st, in)

	if !reflect.DeepEqual(st, before) {
		t.Errorf("Decide modified its State:\n got  %+v\n want %+v", st, before)
	}
	if !reflect.DeepEqual(in, inBefore) {
		t.Errorf("Decide modified its Input:\n got  %+v\n want %+v", in, inBefore)
	}
	// The test means something only if the new state differs.
	if reflect.DeepEqual(out.State, before) {
		t.Fatalf("out.State equals the old state; the test proves nothing")
	}
	if out.State.Sites["hz-a"].State != Suspect || out.State.Sites["sh-a"].State != Down || out.State.Sites["hz-b"].State != Healthy {
		t.Errorf("new states %+v, want hz-a suspect, sh-a down, hz-b healthy", out.State.Sites)
	}
	// Changes come in site order; moves in cell order.
	var order []string
	for _, c := range out.Changes {
		order = append(order, c.Site)
	}
	if !reflect.DeepEqual(order, []string{"hz-a", "hz-b", "sh-a"}) {
		t.Errorf("changes in order %v", order)
	}
	// Cell 1 leads from sh-a, now down, and its home hz-a is suspect: to
	// hz-b, healthy this very tick. Cells 2 and 3: hz-a suspect, left alone
	// (3's pin is down anyway).
	wantMoves(t, out.Moves, "1:sh-a->hz-b(failover)")

	// Changing the output does not reach the input.
	out.State.Sites["hz-a"] = SiteStatus{State: Drained}
	out.State.Pins[3] = "hz-b"
	out.State.BadSince["x"] = now
	out.State.GoodSince["x"] = now
	if !reflect.DeepEqual(st, before) {
		t.Errorf("the output state shares maps with the input state")
	}
}

func TestDecideFromZeroState(t *testing.T) {
	out := Decide(DefaultConfig(), State{}, Input{Now: t0, Sites: topology(), Observations: allUp().at(t0), Cells: cells(1, 3, "hz-a", "hz-a")})
	if len(out.Changes) > 0 || len(out.Moves) > 0 || len(out.Held) > 0 {
		t.Fatalf("output %+v, want nothing", out)
	}
	if out.State.Sites == nil || out.State.Pins == nil || out.State.BadSince == nil || out.State.GoodSince == nil {
		t.Fatalf("output state has nil maps: %+v", out.State)
	}
	// Sites nobody judged yet are healthy.
	if got := out.State.Sites["hz-a"].State; got != Healthy {
		t.Errorf("hz-a %s", got)
	}
	// A zero input is fine too.
	_ = Decide(DefaultConfig(), State{}, Input{})
}

func TestStateCloneIsDeep(t *testing.T) {
	st := State{
		Sites:     map[string]SiteStatus{"hz-a": {State: Down, Since: t0}},
		Pins:      map[uint64]string{1: "sh-a"},
		BadSince:  map[string]time.Time{"hz-a": t0},
		GoodSince: map[string]time.Time{"hz-b": t0},
	}
	before := deepCopy(st)
	c := st.Clone()
	if !reflect.DeepEqual(c, before) {
		t.Fatalf("Clone() = %+v, want %+v", c, before)
	}
	c.Sites["hz-a"] = SiteStatus{}
	c.Pins[1] = "hz-b"
	c.BadSince["hz-a"] = t0.Add(time.Hour)
	c.GoodSince["sh-a"] = t0
	if !reflect.DeepEqual(st, before) {
		t.Errorf("changing the clone changed the original: %+v", st)
	}
	if z := (State{}).Clone(); z.Sites == nil || z.Pins == nil || z.BadSince == nil || z.GoodSince == nil {
		t.Errorf("Clone of the zero State has nil maps: %+v", z)
	}
}

// TestBackupsBySiteID: among backups of the same rank, the lowest site id
// wins, whatever the order of the replicas (a fourth site, hz-c, in
// hangzhou, and a second shanghai site, sh-b).
func TestBackupsBySiteID(t *testing.T) {
	s := hzaDown(t)
	s.sites = append(s.sites, Site{ID: "hz-c", Region: "hangzhou"}, Site{ID: "sh-b", Region: "shanghai"})
	rep := func(site string, leader bool) Replica {
		return Replica{Node: site + "-1", Site: site, Fresh: true, Leader: leader, Term: 3, Applied: 1000}
	}
	s.cells = []CellView{
		{ID: 1, Home: "hz-a", Replicas: []Replica{rep("hz-c", false), rep("sh-a", false), rep("hz-b", false), rep("hz-a", true)}},
		{ID: 2, Home: "hz-a", Replicas: []Replica{rep("sh-b", false), rep("sh-a", false), rep("hz-a", true)}},
		{ID: 3, Home: "hz-a", Replicas: []Replica{rep("sh-b", false), rep("hz-c", false), rep("hz-a", true)}},
	}
	wantMoves(t, s.tick().Moves, "1:hz-a->hz-b(failover)", "2:hz-a->sh-a(failover)", "3:hz-a->hz-c(failover)")
}
