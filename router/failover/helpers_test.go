package failover

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// The tests' world: three sites, hz-a and hz-b in region hangzhou and sh-a
// in region shanghai; in each site a router (router-<site>) and two nodes
// (<site>-1, <site>-2) observe the others; every cell has one replica per
// site (hz-a-1, hz-b-1, sh-a-1). Time is fake: it starts at t0 and moves by
// tickEvery per tick.

var t0 = time.Date(2031, time.March, 14, 9, 26, 53, 0, time.UTC)

const tickEvery = 200 * time.Millisecond

// Ways to reach a site.
var (
	up          = SiteReach{Backbone: Reachable, Ingress: Reachable}
	backboneCut = SiteReach{Backbone: Unreachable, Ingress: Reachable}
	ingressCut  = SiteReach{Backbone: Reachable, Ingress: Unreachable}
	dark        = SiteReach{Backbone: Unreachable, Ingress: Unreachable}
)

var siteIDs = []string{"hz-a", "hz-b", "sh-a"}

func topology() []Site {
	return []Site{
		{ID: "hz-a", Region: "hangzhou"},
		{ID: "hz-b", Region: "hangzhou"},
		{ID: "sh-a", Region: "shanghai"},
	}
}

// observersOf lists a site's observers: its router and its nodes.
func observersOf(site string) []string {
	return []string{"router-" + site, site + "-1", site + "-2"}
}

// obs is one observer's report, taken at at.
func obs(observer, site string, at time.Time, reach map[string]SiteReach) Observation {
	m := make(map[string]SiteReach, len(reach))
	for k, v := range reach {
		m[k] = v
	}
	return Observation{ObserverID: observer, ObserverSite: site, At: at, Sites: m}
}

// seen is what each observer site sees of each target site.
type seen map[string]map[string]SiteReach

// allUp: every site sees every other site reachable.
func allUp() seen {
	w := seen{}
	for _, from := range siteIDs {
		w[from] = map[string]SiteReach{}
		for _, to := range siteIDs {
			if to != from {
				w[from][to] = up
			}
		}
	}
	return w
}

// with returns a copy of w in which the observers of every site in from
// (all sites but target when from is empty) see target as r.
func (w seen) with(target string, r SiteReach, from ...string) seen {
	out := seen{}
	for k, v := range w {
		out[k] = map[string]SiteReach{}
		for kk, vv := range v {
			out[k][kk] = vv
		}
	}
	if len(from) == 0 {
		for _, s := range siteIDs {
			if s != target {
				from = append(from, s)
			}
		}
	}
	for _, s := range from {
		if out[s] == nil {
			out[s] = map[string]SiteReach{}
		}
		out[s][target] = r
	}
	return out
}

// without returns a copy of w in which the observers of site report
// nothing at all (they are gone).
func (w seen) without(site string) seen {
	out := seen{}
	for k, v := range w {
		if k != site {
			out[k] = v
		}
	}
	return out
}

// at returns the fresh observations, taken at now, of every observer of
// every site of w, in a fixed order.
func (w seen) at(now time.Time) []Observation {
	var from []string
	for s := range w {
		from = append(from, s)
	}
	sort.Strings(from)
	var out []Observation
	for _, s := range from {
		for _, o := range observersOf(s) {
			out = append(out, obs(o, s, now, w[s]))
		}
	}
	return out
}

// cell returns a cell homed in home with a fresh replica in each site, all
// at applied index 1000, led (term 3) by the replica in leaderSite; no
// leader if leaderSite is "".
func cell(id uint64, home, leaderSite string) CellView {
	c := CellView{ID: id, Home: home}
	for _, s := range siteIDs {
		c.Replicas = append(c.Replicas, Replica{
			Node: s + "-1", Site: s, Fresh: true, Leader: s == leaderSite, Term: 3, Applied: 1000,
		})
	}
	return c
}

// edit returns a copy of c with f applied to the replica on node.
func edit(c CellView, node string, f func(*Replica)) CellView {
	out := c
	out.Replicas = append([]Replica(nil), c.Replicas...)
	found := false
	for i := range out.Replicas {
		if out.Replicas[i].Node == node {
			f(&out.Replicas[i])
			found = true
		}
	}
	if !found {
		panic("edit: no replica on " + node)
	}
	return out
}

// lagging: node's replica is behind the others by n entries.
func lagging(c CellView, node string, n uint64) CellView {
	return edit(c, node, func(r *Replica) { r.Applied -= n })
}

// stale: node does not answer.
func stale(c CellView, node string) CellView {
	return edit(c, node, func(r *Replica) { r.Fresh = false })
}

// claims: node claims leadership in term.
func claims(c CellView, node string, term uint64) CellView {
	return edit(c, node, func(r *Replica) { r.Leader, r.Term = true, term })
}

// only keeps the replicas of c in the given sites.
func only(c CellView, sites ...string) CellView {
	out := c
	out.Replicas = nil
	for _, r := range c.Replicas {
		for _, s := range sites {
			if r.Site == s {
				out.Replicas = append(out.Replicas, r)
			}
		}
	}
	return out
}

// cells returns cells ids from..to, homed in home, led from leaderSite.
func cells(from, to uint64, home, leaderSite string) []CellView {
	var out []CellView
	for id := from; id <= to; id++ {
		out = append(out, cell(id, home, leaderSite))
	}
	return out
}

// sim runs Decide tick after tick, carrying the state over.
type sim struct {
	t      *testing.T
	cfg    Config
	st     State
	now    time.Time // time of the next tick
	sites  []Site
	cells  []CellView
	moving map[uint64]MoveKind
	world  seen
	// stale, when set, makes every observation that old at the tick.
	staleBy time.Duration

	at      time.Time // time of the last tick
	out     Output    // last tick's output
	changes []SiteChange
	moves   []Move // every move of every tick
}

func newSim(t *testing.T) *sim {
	t.Helper()
	return &sim{t: t, cfg: DefaultConfig(), now: t0, sites: topology(), world: allUp()}
}

// set puts site in state s since since (as the meta group's records would).
func (s *sim) set(site string, state SiteState, since time.Time) {
	if s.st.Sites == nil {
		s.st.Sites = map[string]SiteStatus{}
	}
	s.st.Sites[site] = SiteStatus{State: state, Since: since, Reason: "set by test"}
}

func (s *sim) input() Input {
	return Input{
		Now:          s.now,
		Sites:        s.sites,
		Observations: s.world.at(s.now.Add(-s.staleBy)),
		Cells:        s.cells,
		Moving:       s.moving,
	}
}

// tick runs one Decide at s.now and moves the clock on.
func (s *sim) tick() Output {
	s.t.Helper()
	out := Decide(s.cfg, s.st, s.input())
	s.st, s.out, s.at = out.State, out, s.now
	s.changes = append(s.changes, out.Changes...)
	s.moves = append(s.moves, out.Moves...)
	s.now = s.now.Add(tickEvery)
	return out
}

// runFor ticks for d, calling check (if not nil) after each tick.
func (s *sim) runFor(d time.Duration, check func(Output)) {
	s.t.Helper()
	end := s.now.Add(d)
	for s.now.Before(end) {
		out := s.tick()
		if check != nil {
			check(out)
		}
	}
}

// runUntil ticks until site is in state want, for at most limit, and
// returns the time of the tick that put it there.
func (s *sim) runUntil(site string, want SiteState, limit time.Duration) time.Time {
	s.t.Helper()
	end := s.now.Add(limit)
	for s.now.Before(end) {
		s.tick()
		if s.state(site) == want {
			return s.at
		}
	}
	s.t.Fatalf("%s still %s at %s, want %s within %s", site, s.state(site), s.since(s.at), want, limit)
	return time.Time{}
}

func (s *sim) state(site string) SiteState { return s.st.Sites[site].State }

// since formats a time as an offset from t0.
func (s *sim) since(at time.Time) string { return "t0+" + at.Sub(t0).String() }

// mv is a move in short: cell:from->to(kind), with the nodes checked too.
func mv(m Move) string {
	return fmt.Sprintf("%d:%s->%s(%s)", m.Cell, m.FromSite, m.ToSite, m.Kind)
}

// wantMoves checks the moves, in order, and that each goes from and to the
// <site>-1 replica.
func wantMoves(t *testing.T, got []Move, want ...string) {
	t.Helper()
	var g []string
	for _, m := range got {
		g = append(g, mv(m))
		if m.FromNode != m.FromSite+"-1" || m.ToNode != m.ToSite+"-1" {
			t.Errorf("move %s: nodes %s -> %s, want %s-1 -> %s-1", mv(m), m.FromNode, m.ToNode, m.FromSite, m.ToSite)
		}
		if m.Reason == "" {
			t.Errorf("move %s has no reason", mv(m))
		}
	}
	if strings.Join(g, " ") != strings.Join(want, " ") {
		t.Errorf("moves:\n got  %v\n want %v", g, want)
	}
}

// wantHeld checks which cells are held, in order, and that each reason
// contains all the given fragments.
func wantHeld(t *testing.T, got []Hold, cells []uint64, fragments ...string) {
	t.Helper()
	var ids []uint64
	for _, h := range got {
		ids = append(ids, h.Cell)
		for _, f := range fragments {
			if !strings.Contains(h.Reason, f) {
				t.Errorf("hold of cell %d: reason %q does not mention %q", h.Cell, h.Reason, f)
			}
		}
	}
	if fmt.Sprint(ids) != fmt.Sprint(cells) {
		t.Errorf("held cells %v, want %v (holds %+v)", ids, cells, got)
	}
}

// noMoves fails on any move of out.
func noMoves(t *testing.T, when string, out Output) {
	t.Helper()
	if len(out.Moves) > 0 {
		var g []string
		for _, m := range out.Moves {
			g = append(g, mv(m))
		}
		t.Fatalf("%s: unexpected moves %v", when, g)
	}
}

// changesOf lists the changes of site.
func changesOf(chs []SiteChange, site string) []SiteChange {
	var out []SiteChange
	for _, c := range chs {
		if c.Site == site {
			out = append(out, c)
		}
	}
	return out
}

func containsAll(t *testing.T, what, s string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			t.Errorf("%s %q does not mention %q", what, s, f)
		}
	}
}
