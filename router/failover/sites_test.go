package failover

import (
	"testing"
	"time"
)

// Site judgement and the site state machine.

func TestOneObserverSiteNeverFailsASite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		world seen
	}{
		{"sh-a says unreachable, hz-b says reachable", allUp().with("hz-a", dark, "sh-a")},
		{"sh-a says unreachable, hz-b silent", allUp().with("hz-a", dark, "sh-a").without("hz-b")},
		{"sh-a says backbone cut, hz-b silent", allUp().with("hz-a", backboneCut, "sh-a").without("hz-b")},
		// hz-a's own observers do not count as a second site.
		{"sh-a and hz-a itself say unreachable, hz-b silent", allUp().with("hz-a", dark, "sh-a", "hz-a").without("hz-b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.cells = []CellView{cell(1, "hz-a", "hz-a"), only(cell(2, "hz-a", "hz-a"), "hz-a", "sh-a"), cell(3, "sh-a", "sh-a")}
			s.world = tc.world
			s.runFor(30*time.Second, func(out Output) {
				if st := s.state("hz-a"); st != Healthy {
					t.Fatalf("at %s hz-a is %s, want healthy", s.since(s.at), st)
				}
				if len(out.Changes) > 0 {
					t.Fatalf("at %s: changes %+v, want none", s.since(s.at), out.Changes)
				}
				noMoves(t, s.since(s.at), out)
				if len(out.Held) > 0 {
					t.Fatalf("at %s: holds %+v, want none", s.since(s.at), out.Held)
				}
			})
			if _, ok := s.st.BadSince["hz-a"]; ok {
				t.Errorf("BadSince[hz-a] set although no verdict was reached")
			}
		})
	}
}

// TestTwoObserverSitesFailASite covers the paths of unreachability:
// backbone only, ingress only, and both.
func TestTwoObserverSitesFailASite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reach    SiteReach
		mentions []string
	}{
		{"backbone", backboneCut, []string{"backbone 3/3"}},
		{"ingress only", ingressCut, []string{"ingress 3/3"}},
		{"both", dark, []string{"backbone 3/3", "ingress 3/3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.cells = []CellView{
				cell(1, "hz-a", "hz-a"),
				// replicas listed with sh-a first: same region still wins.
				{ID: 2, Home: "hz-a", Replicas: []Replica{
					{Node: "sh-a-1", Site: "sh-a", Fresh: true, Term: 3, Applied: 1000},
					{Node: "hz-b-1", Site: "hz-b", Fresh: true, Term: 3, Applied: 1000},
					{Node: "hz-a-1", Site: "hz-a", Fresh: true, Leader: true, Term: 3, Applied: 1000},
				}},
				cell(5, "hz-b", "hz-b"),
				cell(6, "sh-a", "sh-a"),
			}
			// sites given out of order
			s.sites = []Site{{ID: "sh-a", Region: "shanghai"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "hz-a", Region: "hangzhou"}}

			s.runFor(time.Second, func(out Output) {
				noMoves(t, "all up", out)
				if len(out.Changes) > 0 {
					t.Fatalf("all up: changes %+v", out.Changes)
				}
			})

			// As hz-a fails, Raft has already moved some leaders.
			s.cells = append(s.cells,
				cell(3, "sh-a", "hz-a"), // its home is healthy: back to sh-a
				cell(4, "hz-a", "hz-b"), // already on the preferred backup
			)
			s.world = allUp().with("hz-a", tc.reach, "hz-b", "sh-a")
			start := s.now
			out := s.tick()
			if got := s.state("hz-a"); got != Suspect {
				t.Fatalf("first unreachable tick: hz-a %s, want suspect at once", got)
			}
			if len(out.Changes) != 1 || out.Changes[0].Site != "hz-a" || out.Changes[0].From != Healthy || out.Changes[0].To != Suspect {
				t.Fatalf("changes %+v, want hz-a healthy -> suspect", out.Changes)
			}
			containsAll(t, "suspect reason", out.Changes[0].Reason, append([]string{"hz-b", "sh-a"}, tc.mentions...)...)
			if st := s.st.Sites["hz-a"]; !st.Since.Equal(start) || st.Reason != out.Changes[0].Reason {
				t.Errorf("hz-a status %+v, want since %s with the change's reason", st, start)
			}
			noMoves(t, "suspect", out)

			// Suspect, and no moves, until DownAfter has passed.
			for s.now.Before(start.Add(s.cfg.DownAfter)) {
				out := s.tick()
				if got := s.state("hz-a"); got != Suspect {
					t.Fatalf("at %s (%s after the first verdict) hz-a is %s, want suspect", s.since(s.at), s.at.Sub(start), got)
				}
				if len(out.Changes) > 0 {
					t.Fatalf("at %s: changes %+v", s.since(s.at), out.Changes)
				}
				noMoves(t, "suspect", out)
			}

			out = s.tick()
			if !s.at.Equal(start.Add(s.cfg.DownAfter)) {
				t.Fatalf("tick at %s, want %s", s.at, start.Add(s.cfg.DownAfter))
			}
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("after DownAfter of unreachability hz-a is %s, want down", got)
			}
			if len(out.Changes) != 1 || out.Changes[0].From != Suspect || out.Changes[0].To != Down {
				t.Fatalf("changes %+v, want hz-a suspect -> down", out.Changes)
			}
			containsAll(t, "down reason", out.Changes[0].Reason, append([]string{"hz-b", "sh-a", "for 1s"}, tc.mentions...)...)
			wantMoves(t, out.Moves,
				"1:hz-a->hz-b(failover)",
				"2:hz-a->hz-b(failover)",
				"3:hz-a->sh-a(failover)",
			)
			for _, m := range out.Moves {
				containsAll(t, "move reason", m.Reason, "hz-a", "down")
			}
			if len(out.Held) > 0 {
				t.Errorf("holds %+v, want none", out.Held)
			}

			// The moves are under way: no second move, and hz-a stays down.
			s.moving = map[uint64]MoveKind{1: Failover, 2: Failover, 3: Failover}
			s.runFor(5*time.Second, func(out Output) {
				noMoves(t, "moves under way", out)
				if got := s.state("hz-a"); got != Down {
					t.Fatalf("at %s hz-a is %s, want down", s.since(s.at), got)
				}
				if len(out.Changes) > 0 {
					t.Fatalf("at %s: changes %+v", s.since(s.at), out.Changes)
				}
			})
		})
	}
}

// TestDownNeedsContinuousUnreachability: a break in the verdicts brings a
// suspect site back to healthy and restarts the DownAfter timer.
func TestDownNeedsContinuousUnreachability(t *testing.T) {
	s := newSim(t)
	s.cells = []CellView{cell(1, "hz-a", "hz-a")}
	bad := allUp().with("hz-a", dark)

	s.world = bad
	first := s.runUntil("hz-a", Suspect, tickEvery)
	for s.now.Before(first.Add(s.cfg.DownAfter)) {
		s.tick()
	}
	if got := s.state("hz-a"); got != Suspect {
		t.Fatalf("hz-a %s, want suspect just before DownAfter", got)
	}

	// sh-a's observers fall silent for one tick: only one site says
	// unreachable, no verdict.
	s.world = bad.without("sh-a")
	out := s.tick()
	if got := s.state("hz-a"); got != Healthy {
		t.Fatalf("without a verdict hz-a is %s, want healthy", got)
	}
	if len(out.Changes) != 1 || out.Changes[0].From != Suspect || out.Changes[0].To != Healthy {
		t.Fatalf("changes %+v, want hz-a suspect -> healthy", out.Changes)
	}
	containsAll(t, "reason", out.Changes[0].Reason, "no verdict")

	s.world = bad
	second := s.runUntil("hz-a", Suspect, tickEvery)
	for s.now.Before(second.Add(s.cfg.DownAfter)) {
		noMoves(t, s.since(s.now), s.tick())
		if got := s.state("hz-a"); got != Suspect {
			t.Fatalf("at %s (%s into the second run) hz-a is %s, want suspect", s.since(s.at), s.at.Sub(second), got)
		}
	}
	if at := s.runUntil("hz-a", Down, tickEvery); !at.Equal(second.Add(s.cfg.DownAfter)) {
		t.Errorf("down at %s, want %s", s.since(at), s.since(second.Add(s.cfg.DownAfter)))
	}
}

func TestStaleObservationsAreIgnored(t *testing.T) {
	t.Run("all stale", func(t *testing.T) {
		s := newSim(t)
		s.cells = []CellView{cell(1, "hz-a", "hz-a")}
		s.world = allUp().with("hz-a", dark)
		s.staleBy = s.cfg.ObservationAgeMax + time.Millisecond
		s.runFor(10*time.Second, func(out Output) {
			if got := s.state("hz-a"); got != Healthy {
				t.Fatalf("at %s hz-a %s on stale reports, want healthy", s.since(s.at), got)
			}
			if len(out.Changes) > 0 {
				t.Fatalf("changes %+v on stale reports", out.Changes)
			}
			noMoves(t, "stale", out)
		})
		// Control: reports exactly ObservationAgeMax old still count.
		s.staleBy = s.cfg.ObservationAgeMax
		s.tick()
		if got := s.state("hz-a"); got != Suspect {
			t.Fatalf("reports %s old: hz-a %s, want suspect", s.staleBy, got)
		}
	})

	t.Run("one site's reports stale", func(t *testing.T) {
		cfg := DefaultConfig()
		now := t0
		in := Input{Now: now, Sites: topology()}
		for _, o := range observersOf("hz-b") {
			in.Observations = append(in.Observations, obs(o, "hz-b", now, map[string]SiteReach{"hz-a": dark}))
		}
		for _, o := range observersOf("sh-a") {
			in.Observations = append(in.Observations, obs(o, "sh-a", now.Add(-3*time.Second), map[string]SiteReach{"hz-a": dark}))
		}
		out := Decide(cfg, State{}, in)
		if got := out.State.Sites["hz-a"].State; got != Healthy || len(out.Changes) > 0 {
			t.Fatalf("hz-a %s, changes %+v; want healthy, no changes", got, out.Changes)
		}
		// The same with sh-a's reports fresh.
		for i := range in.Observations {
			in.Observations[i].At = now
		}
		if got := Decide(cfg, State{}, in).State.Sites["hz-a"].State; got != Suspect {
			t.Fatalf("fresh control: hz-a %s, want suspect", got)
		}
	})

	t.Run("stale reachable reports do not recover a down site", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.staleBy = s.cfg.ObservationAgeMax + tickEvery
		s.runFor(10*time.Second, func(out Output) {
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("at %s hz-a %s, want down", s.since(s.at), got)
			}
		})
	})
}

// TestObserverSiteMajority: an observer site judges by the strict majority
// of its fresh observers that have an opinion.
func TestObserverSiteMajority(t *testing.T) {
	// hz-b's observers say of hz-a; sh-a's all say it is dark.
	run := func(t *testing.T, hzb map[string]SiteReach) SiteState {
		t.Helper()
		s := newSim(t)
		s.cells = []CellView{cell(1, "hz-a", "hz-a")}
		for s.now.Before(t0.Add(5 * time.Second)) {
			in := s.input()
			in.Observations = nil
			for o, r := range hzb {
				in.Observations = append(in.Observations, obs(o, "hz-b", s.now, map[string]SiteReach{"hz-a": r}))
			}
			for _, o := range observersOf("sh-a") {
				in.Observations = append(in.Observations, obs(o, "sh-a", s.now, map[string]SiteReach{"hz-a": dark}))
			}
			out := Decide(s.cfg, s.st, in)
			s.st = out.State
			if out.State.Sites["hz-a"].State != Down {
				noMoves(t, "hz-a not down", out)
			}
			s.now = s.now.Add(tickEvery)
		}
		return s.state("hz-a")
	}
	for _, tc := range []struct {
		name string
		hzb  map[string]SiteReach
		want SiteState
	}{
		{"tie 1-1", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": up}, Healthy},
		{"tie 2-2", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": dark, "hz-b-2": up, "hz-b-3": up}, Healthy},
		{"tie on backbone, ingress fine", map[string]SiteReach{"hz-b-1": backboneCut, "hz-b-2": up}, Healthy},
		{"minority 1-2", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": up, "hz-b-2": up}, Healthy},
		{"majority 2-1", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": dark, "hz-b-2": up}, Down},
		{"unanimous", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": dark}, Down},
		// Unknown is no opinion: it does not dilute the others.
		{"one opinion, others unknown", map[string]SiteReach{"router-hz-b": dark, "hz-b-1": {}, "hz-b-2": {}}, Down},
		{"no opinions", map[string]SiteReach{"router-hz-b": {}, "hz-b-1": {}}, Healthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, tc.hzb); got != tc.want {
				t.Errorf("hz-a %s after 5s, want %s", got, tc.want)
			}
		})
	}
}

func TestRecoverAfter(t *testing.T) {
	t.Run("two sites reachable", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.world = allUp()
		start := s.now
		for s.now.Before(start.Add(s.cfg.RecoverAfter)) {
			out := s.tick()
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("at %s (%s reachable) hz-a is %s, want down until RecoverAfter", s.since(s.at), s.at.Sub(start), got)
			}
			if len(out.Changes) > 0 {
				t.Fatalf("changes %+v", out.Changes)
			}
		}
		out := s.tick()
		if got := s.state("hz-a"); got != Healthy {
			t.Fatalf("after RecoverAfter hz-a is %s, want healthy", got)
		}
		if len(out.Changes) != 1 || out.Changes[0].From != Down || out.Changes[0].To != Healthy {
			t.Fatalf("changes %+v, want hz-a down -> healthy", out.Changes)
		}
		containsAll(t, "reason", out.Changes[0].Reason, "reachable from hz-b, sh-a", "for 2s")
		if since := s.st.Sites["hz-a"].Since; !since.Equal(start.Add(s.cfg.RecoverAfter)) {
			t.Errorf("healthy since %s, want %s", s.since(since), s.since(start.Add(s.cfg.RecoverAfter)))
		}
	})

	t.Run("one site reachable never recovers", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.world = allUp().without("sh-a")
		s.runFor(30*time.Second, func(Output) {
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("at %s hz-a %s, want down", s.since(s.at), got)
			}
		})
	})

	t.Run("tie in one observer site never recovers", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		for s.now.Before(t0.Add(10 * time.Second)) {
			in := s.input()
			in.Observations = []Observation{
				obs("router-hz-b", "hz-b", s.now, map[string]SiteReach{"hz-a": up}),
				obs("hz-b-1", "hz-b", s.now, map[string]SiteReach{"hz-a": dark}),
				obs("router-sh-a", "sh-a", s.now, map[string]SiteReach{"hz-a": up}),
			}
			s.st = Decide(s.cfg, s.st, in).State
			if got := s.state("hz-a"); got != Down {
				t.Fatalf("at %s hz-a %s, want down", s.since(s.now), got)
			}
			s.now = s.now.Add(tickEvery)
		}
	})

	t.Run("a break restarts the timer", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.world = allUp()
		s.runFor(s.cfg.RecoverAfter-tickEvery, nil)
		s.world = allUp().without("sh-a") // no verdict for a tick
		s.tick()
		s.world = allUp()
		restart := s.now
		at := s.runUntil("hz-a", Healthy, 10*time.Second)
		if !at.Equal(restart.Add(s.cfg.RecoverAfter)) {
			t.Errorf("healthy at %s, want %s", s.since(at), s.since(restart.Add(s.cfg.RecoverAfter)))
		}
	})

	t.Run("unreachable again keeps it down", func(t *testing.T) {
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.world = allUp().with("hz-a", ingressCut)
		s.runFor(30*time.Second, func(out Output) {
			if got := s.state("hz-a"); got != Down || len(out.Changes) > 0 {
				t.Fatalf("at %s hz-a %s, changes %+v; want down, none", s.since(s.at), got, out.Changes)
			}
		})
	})
}

func TestDrainedSiteStaysDrained(t *testing.T) {
	for _, tc := range []struct {
		name  string
		world seen
	}{
		{"all reachable", allUp()},
		{"unreachable from two sites", allUp().with("hz-a", dark)},
		{"no observations", seen{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.set("hz-a", Drained, t0.Add(-time.Hour))
			s.world = tc.world
			s.runFor(30*time.Second, func(out Output) {
				if got := s.state("hz-a"); got != Drained {
					t.Fatalf("at %s hz-a %s, want drained", s.since(s.at), got)
				}
				if len(changesOf(out.Changes, "hz-a")) > 0 {
					t.Fatalf("changes %+v", out.Changes)
				}
			})
			if st := s.st.Sites["hz-a"]; !st.Since.Equal(t0.Add(-time.Hour)) || st.Reason != "set by test" {
				t.Errorf("hz-a status %+v changed", st)
			}
		})
	}
}

func TestSiteStateString(t *testing.T) {
	for s, want := range map[SiteState]string{Healthy: "healthy", Suspect: "suspect", Down: "down", Drained: "drained", SiteState(42): "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("SiteState(%d).String() = %q, want %q", int(s), got, want)
		}
	}
	var zero SiteStatus
	if zero.State != Healthy {
		t.Errorf("zero SiteState is %s, want healthy", zero.State)
	}
}
