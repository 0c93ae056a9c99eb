package failover

import (
	"sort"
	"strings"
	"testing"
	"time"
)

// Regression tests for four bugs fixed in decide.go and plan.go.

// TestHomeInHoldDownIsTheLastResort: a leader in a down (or drained) site
// whose only healthy replica site is its home, still in its hold-down, is
// failed over to the home at once instead of being held; the hold-down only
// keeps a cell from leaving a healthy site.
func TestHomeInHoldDownIsTheLastResort(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hzb, sha  SiteState // states of hz-b and sh-a
		homeSince time.Duration
		cell      CellView
		moves     []string
		held      []uint64
		mentions  []string // of the hold
	}{
		{
			name: "leader in hz-b, hz-b and sh-a down", hzb: Down, sha: Down, homeSince: -time.Second,
			cell: cell(1, "hz-a", "hz-b"), moves: []string{"1:hz-b->hz-a(failover)"},
		},
		{
			name: "leader in sh-a, hz-b and sh-a down", hzb: Down, sha: Down, homeSince: -time.Second,
			cell: cell(1, "hz-a", "sh-a"), moves: []string{"1:sh-a->hz-a(failover)"},
		},
		{
			name: "home healthy this very tick", hzb: Down, sha: Down, homeSince: 0,
			cell: cell(1, "hz-a", "hz-b"), moves: []string{"1:hz-b->hz-a(failover)"},
		},
		{
			name: "leader in a drained site", hzb: Drained, sha: Down, homeSince: -time.Second,
			cell: cell(1, "hz-a", "hz-b"), moves: []string{"1:hz-b->hz-a(failover)"},
		},
		{
			// control: a healthy backup is still preferred over the home in
			// its hold-down
			name: "sh-a healthy takes it", hzb: Down, sha: Healthy, homeSince: -time.Second,
			cell: cell(1, "hz-a", "hz-b"), moves: []string{"1:hz-b->sh-a(failover)"},
		},
		{
			// the home's replica must still be caught up, and the hold says so
			name: "home's replica behind: held", hzb: Down, sha: Down, homeSince: -time.Second,
			cell: lagging(cell(1, "hz-a", "hz-b"), "hz-a-1", 1000), held: []uint64{1},
			mentions: []string{"hz-a-1 1000 entries behind"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			homeSince := s.now.Add(tc.homeSince)
			s.set("hz-a", Healthy, homeSince)
			s.set("hz-b", tc.hzb, t0.Add(-time.Minute))
			s.set("sh-a", tc.sha, t0.Add(-time.Minute))
			w := allUp().with("hz-b", dark)
			if tc.sha != Healthy {
				w = w.with("sh-a", dark)
			}
			s.world = w
			s.cells = []CellView{tc.cell}

			// Plan (without ignoreHoldDown) agrees with Decide.
			pm, ph := Plan(s.cfg, s.st, s.input(), false)
			wantMoves(t, pm, tc.moves...)
			wantHeld(t, ph, tc.held, tc.mentions...)

			out := s.tick()
			if st := s.st.Sites["hz-a"]; st.State != Healthy || !st.Since.Equal(homeSince) || s.at.Sub(st.Since) >= s.cfg.HoldDown {
				t.Fatalf("hz-a %+v, want healthy since %s, in its hold-down", st, s.since(homeSince))
			}
			if s.state("hz-b") != tc.hzb || s.state("sh-a") != tc.sha {
				t.Fatalf("sites %+v", s.st.Sites)
			}
			wantMoves(t, out.Moves, tc.moves...)
			wantHeld(t, out.Held, tc.held, tc.mentions...)
			for _, m := range out.Moves {
				containsAll(t, "move reason", m.Reason, m.FromSite, s.st.Sites[m.FromSite].State.String(), m.ToSite)
			}
			if len(tc.moves) == 0 {
				return
			}

			// Under way: not moved again.
			s.moving = map[uint64]MoveKind{1: Failover}
			out = s.tick()
			wantMoves(t, out.Moves)
			wantHeld(t, out.Held, nil)

			// Done: a leader that reached its home in the hold-down stays.
			if tc.moves[0] == "1:hz-b->hz-a(failover)" || tc.moves[0] == "1:sh-a->hz-a(failover)" {
				s.moving = nil
				s.cells = []CellView{cell(1, "hz-a", "hz-a")}
				out = s.tick()
				wantMoves(t, out.Moves)
				wantHeld(t, out.Held, nil)
			}
		})
	}
}

// votes is what each observer says of hz-a, by observer site then
// observer; every observer sees the other sites up. An observer left out
// reports nothing.
type votes map[string]map[string]SiteReach

func (v votes) at(now time.Time) []Observation {
	var sites []string
	for s := range v {
		sites = append(sites, s)
	}
	sort.Strings(sites)
	var out []Observation
	for _, site := range sites {
		var observers []string
		for o := range v[site] {
			observers = append(observers, o)
		}
		sort.Strings(observers)
		for _, o := range observers {
			reach := map[string]SiteReach{"hz-a": v[site][o]}
			for _, to := range siteIDs {
				if to != site && to != "hz-a" {
					reach[to] = up
				}
			}
			out = append(out, obs(o, site, now, reach))
		}
	}
	return out
}

// TestRecoveryByMajority: a down site recovers when a strict majority of
// each observer site's observers (not all of them) reach it, after
// RecoverAfter and not before; a tie inside an observer site is no
// "reachable" from that site.
func TestRecoveryByMajority(t *testing.T) {
	shaUp := map[string]SiteReach{"router-sh-a": up, "sh-a-1": up, "sh-a-2": up}
	run := func(t *testing.T, v votes, d time.Duration, check func(s *sim, out Output)) *sim {
		t.Helper()
		s := newSim(t)
		s.set("hz-a", Down, t0.Add(-time.Minute))
		s.cells = []CellView{cell(1, "hz-a", "hz-b")}
		end := s.now.Add(d)
		for s.now.Before(end) {
			in := s.input()
			in.Observations = v.at(s.now)
			out := Decide(s.cfg, s.st, in)
			s.st, s.out, s.at = out.State, out, s.now
			s.now = s.now.Add(tickEvery)
			check(s, out)
		}
		return s
	}

	for _, tc := range []struct {
		name string
		v    votes
		from string // the reason's list of sites
	}{
		{
			name: "one of hz-b's three says unreachable",
			v: votes{
				"hz-b": {"router-hz-b": up, "hz-b-1": up, "hz-b-2": dark},
				"sh-a": shaUp,
			},
			from: "reachable from hz-b, sh-a",
		},
		{
			name: "one dissenter in each site",
			v: votes{
				"hz-b": {"router-hz-b": up, "hz-b-1": up, "hz-b-2": dark},
				"sh-a": {"router-sh-a": dark, "sh-a-1": up, "sh-a-2": up},
			},
			from: "reachable from hz-b, sh-a",
		},
		{
			name: "dissent on one path only",
			v: votes{
				"hz-b": {"router-hz-b": up, "hz-b-1": up, "hz-b-2": backboneCut},
				"sh-a": {"router-sh-a": ingressCut, "sh-a-1": up, "sh-a-2": up},
			},
			from: "reachable from hz-b, sh-a",
		},
		{
			name: "unknown does not dilute the majority",
			v: votes{
				"hz-b": {"router-hz-b": up, "hz-b-1": {}, "hz-b-2": {}},
				"sh-a": shaUp,
			},
			from: "reachable from hz-b, sh-a",
		},
	} {
		t.Run("recovers: "+tc.name, func(t *testing.T) {
			start := t0
			healthyAt := start.Add(DefaultConfig().RecoverAfter)
			var got []SiteChange
			s := run(t, tc.v, DefaultConfig().RecoverAfter+time.Second, func(s *sim, out Output) {
				got = append(got, changesOf(out.Changes, "hz-a")...)
				want := Down
				if !s.at.Before(healthyAt) {
					want = Healthy
				}
				if st := s.state("hz-a"); st != want {
					t.Fatalf("at %s (%s reachable) hz-a %s, want %s", s.since(s.at), s.at.Sub(start), st, want)
				}
				if s.state("hz-b") != Healthy || s.state("sh-a") != Healthy {
					t.Fatalf("at %s sites %+v", s.since(s.at), s.st.Sites)
				}
			})
			if len(got) != 1 || got[0].From != Down || got[0].To != Healthy {
				t.Fatalf("changes of hz-a %+v, want one, down -> healthy", got)
			}
			containsAll(t, "reason", got[0].Reason, tc.from, "for 2s")
			if since := s.st.Sites["hz-a"].Since; !since.Equal(healthyAt) {
				t.Errorf("healthy since %s, want %s", s.since(since), s.since(healthyAt))
			}
		})
	}

	for _, tc := range []struct {
		name string
		hzb  map[string]SiteReach
	}{
		{"tie 1-1 in hz-b", map[string]SiteReach{"router-hz-b": up, "hz-b-1": dark}},
		{"tie 2-2 in hz-b", map[string]SiteReach{"router-hz-b": up, "hz-b-1": up, "hz-b-2": dark, "hz-b-3": dark}},
		{"tie 1-1, the third unknown", map[string]SiteReach{"router-hz-b": up, "hz-b-1": dark, "hz-b-2": {}}},
		{"tie on the backbone only", map[string]SiteReach{"router-hz-b": up, "hz-b-1": backboneCut}},
		{"tie on ingress only", map[string]SiteReach{"router-hz-b": up, "hz-b-1": ingressCut}},
		{"minority reachable", map[string]SiteReach{"router-hz-b": up, "hz-b-1": dark, "hz-b-2": dark}},
	} {
		t.Run("never recovers: "+tc.name, func(t *testing.T) {
			s := run(t, votes{"hz-b": tc.hzb, "sh-a": shaUp}, 10*time.Second, func(s *sim, out Output) {
				if st := s.state("hz-a"); st != Down {
					t.Fatalf("at %s hz-a %s, want down (sh-a alone is not enough)", s.since(s.at), st)
				}
				if chs := changesOf(out.Changes, "hz-a"); len(chs) > 0 {
					t.Fatalf("at %s changes %+v", s.since(s.at), chs)
				}
			})
			if _, ok := s.st.GoodSince["hz-a"]; ok {
				t.Errorf("GoodSince[hz-a] set without a reachable verdict")
			}
		})
	}
}

// TestPlanIgnoresLimitsWithManyMovesUnderWay: the moves under way, even
// more of them than there are cells in the input, do not bound Plan.
func TestPlanIgnoresLimitsWithManyMovesUnderWay(t *testing.T) {
	t.Run("failovers", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = cells(1, 2, "hz-a", "hz-a")
		s.moving = map[uint64]MoveKind{10: Failover, 11: Failover, 12: Failover}
		moves, held := Plan(s.cfg, s.st, s.input(), false)
		if len(moves) != 2 {
			t.Fatalf("Plan returned %d moves, want 2: moves %+v, holds %+v", len(moves), moves, held)
		}
		wantMoves(t, moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)")
		wantHeld(t, held, nil)

		// ignoreHoldDown makes no difference here.
		moves, held = Plan(s.cfg, s.st, s.input(), true)
		wantMoves(t, moves, "1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)")
		wantHeld(t, held, nil)

		// Decide, with room for 3 moves, keeps to the limit.
		s.cfg.MovesInFlightMax = 3
		out := s.tick()
		wantMoves(t, out.Moves)
		wantHeld(t, out.Held, []uint64{1, 2}, "3 moves under way")
	})

	t.Run("failbacks", func(t *testing.T) {
		s := newSim(t)
		s.cells = cells(1, 2, "hz-a", "hz-b")
		s.moving = map[uint64]MoveKind{10: Failback, 11: Failback, 12: Failback}
		moves, held := Plan(s.cfg, s.st, s.input(), false)
		wantMoves(t, moves, "1:hz-b->hz-a(failback)", "2:hz-b->hz-a(failback)")
		wantHeld(t, held, nil)

		out := s.tick() // FailbackWaveMax 2, 3 under way
		wantMoves(t, out.Moves)
		wantHeld(t, out.Held, []uint64{1, 2}, "failback wave full (3 under way)")
	})

	t.Run("both kinds, many under way", func(t *testing.T) {
		s := hzaDown(t)
		s.cells = []CellView{cell(1, "hz-a", "hz-a"), cell(2, "hz-b", "sh-a")}
		s.moving = map[uint64]MoveKind{}
		for id := uint64(10); id < 30; id++ {
			s.moving[id] = Failover
		}
		for id := uint64(30); id < 40; id++ {
			s.moving[id] = Failback
		}
		moves, held := Plan(s.cfg, s.st, s.input(), false)
		wantMoves(t, moves, "1:hz-a->hz-b(failover)", "2:sh-a->hz-b(failback)")
		wantHeld(t, held, nil)
	})
}

// TestHoldReasonNeverEndsWithAnEmptyList: a cell held because the site it
// belongs on has no replica of it says so, instead of "...: " with nothing
// after the colon.
func TestHoldReasonNeverEndsWithAnEmptyList(t *testing.T) {
	check := func(t *testing.T, what string, moves []Move, held []Hold, site string) {
		t.Helper()
		for _, m := range moves {
			if m.ToSite == site {
				t.Errorf("%s: move %s to %s, which has no replica", what, mv(m), site)
			}
		}
		for _, h := range held {
			r := strings.TrimSpace(h.Reason)
			if r == "" || strings.HasSuffix(h.Reason, ": ") || strings.HasSuffix(r, ":") {
				t.Errorf("%s: hold of cell %d has reason %q, ending with an empty list", what, h.Cell, h.Reason)
			}
			containsAll(t, what+": hold reason", h.Reason, site)
		}
	}
	for _, tc := range []struct {
		name string
		pins map[uint64]string
		set  map[string]SiteState
		cell CellView
		site string // where the cell belongs, without a replica there
	}{
		{
			name: "pinned to a site without a replica",
			pins: map[uint64]string{1: "sh-a"},
			cell: only(cell(1, "hz-a", "hz-a"), "hz-a", "hz-b"),
			site: "sh-a",
		},
		{
			name: "pinned to a site without a replica, led from elsewhere",
			pins: map[uint64]string{1: "sh-a"},
			cell: only(cell(1, "hz-a", "hz-b"), "hz-a", "hz-b"),
			site: "sh-a",
		},
		{
			name: "healthy home without a replica",
			cell: only(cell(1, "hz-a", "hz-b"), "hz-b", "sh-a"),
			site: "hz-a",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.st.Pins = tc.pins
			s.cells = []CellView{tc.cell}
			for _, ignore := range []bool{false, true} {
				moves, held := Plan(s.cfg, s.st, s.input(), ignore)
				check(t, "Plan", moves, held, tc.site)
			}
			out := s.tick()
			check(t, "Decide", out.Moves, out.Held, tc.site)
		})
	}

	// The hold, as it now reads.
	s := newSim(t)
	s.st.Pins = map[uint64]string{1: "sh-a"}
	s.cells = []CellView{only(cell(1, "hz-a", "hz-a"), "hz-a", "hz-b")}
	out := s.tick()
	wantMoves(t, out.Moves)
	for _, h := range out.Held {
		if h.Reason != "no replica in sh-a" {
			t.Errorf("hold of cell %d: reason %q, want %q", h.Cell, h.Reason, "no replica in sh-a")
		}
	}
}
