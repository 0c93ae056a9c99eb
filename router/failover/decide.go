package failover

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// verdict is what the observer sites, together, say of one site.
type verdict int

const (
	noVerdict verdict = iota
	judgedReachable
	judgedUnreachable
)

// judge returns the verdict on site and a short account of the votes.
func judge(cfg Config, now time.Time, site string, obs []Observation) (verdict, string) {
	type tally struct{ bbKnown, bbBad, inKnown, inBad int }
	bySite := map[string]*tally{}
	for _, o := range obs {
		if o.ObserverSite == site || now.Sub(o.At) > cfg.ObservationAgeMax {
			continue // a site does not judge itself; stale reports do not count
		}
		r, ok := o.Sites[site]
		if !ok {
			continue
		}
		t := bySite[o.ObserverSite]
		if t == nil {
			t = &tally{}
			bySite[o.ObserverSite] = t
		}
		if r.Backbone != Unknown {
			t.bbKnown++
			if r.Backbone == Unreachable {
				t.bbBad++
			}
		}
		if r.Ingress != Unknown {
			t.inKnown++
			if r.Ingress == Unreachable {
				t.inBad++
			}
		}
	}
	var bad, good []string
	for s, t := range bySite {
		switch {
		case 2*t.bbBad > t.bbKnown || 2*t.inBad > t.inKnown:
			// a strict majority of the site's observers of one path
			var what []string
			if 2*t.bbBad > t.bbKnown {
				what = append(what, fmt.Sprintf("backbone %d/%d", t.bbBad, t.bbKnown))
			}
			if 2*t.inBad > t.inKnown {
				what = append(what, fmt.Sprintf("ingress %d/%d", t.inBad, t.inKnown))
			}
			bad = append(bad, s+" ("+strings.Join(what, ", ")+")")
		case t.bbKnown+t.inKnown > 0 && (t.bbKnown == 0 || 2*t.bbBad < t.bbKnown) && (t.inKnown == 0 || 2*t.inBad < t.inKnown):
			// a strict majority on every path the site's observers probe
			good = append(good, s)
		}
	}
	sort.Strings(bad)
	sort.Strings(good)
	switch {
	case len(bad) >= cfg.ObserverSitesMin:
		return judgedUnreachable, "unreachable from " + strings.Join(bad, ", ")
	case len(good) >= cfg.ObserverSitesMin:
		return judgedReachable, "reachable from " + strings.Join(good, ", ")
	}
	return noVerdict, fmt.Sprintf("no verdict (unreachable from %d sites, reachable from %d; %d needed)", len(bad), len(good), cfg.ObserverSitesMin)
}

// Decide runs one tick: it judges every site, changes site states, and
// chooses the leadership moves to make now. It does not modify st.
func Decide(cfg Config, st State, in Input) Output {
	next := st.Clone()
	out := Output{}
	sites := append([]Site(nil), in.Sites...)
	sort.Slice(sites, func(i, j int) bool { return sites[i].ID < sites[j].ID })
	for _, s := range sites {
		if ch, ok := step(cfg, &next, in, s.ID); ok {
			out.Changes = append(out.Changes, ch)
		}
	}
	out.State = next
	out.Moves, out.Held = place(cfg, next, in, sites, limits{failback: cfg.FailbackWaveMax, other: cfg.MovesInFlightMax}, false)
	return out
}

// step advances one site's state machine.
func step(cfg Config, st *State, in Input, site string) (SiteChange, bool) {
	cur := st.Sites[site]
	v, why := judge(cfg, in.Now, site, in.Observations)
	if v == judgedUnreachable {
		if _, ok := st.BadSince[site]; !ok {
			st.BadSince[site] = in.Now
		}
		delete(st.GoodSince, site)
	} else {
		delete(st.BadSince, site)
	}
	if v == judgedReachable {
		if _, ok := st.GoodSince[site]; !ok {
			st.GoodSince[site] = in.Now
		}
	} else {
		delete(st.GoodSince, site)
	}
	to := cur.State
	reason := why
	switch cur.State {
	case Healthy:
		if v == judgedUnreachable {
			to = Suspect
		}
	case Suspect:
		switch {
		case v == judgedUnreachable && in.Now.Sub(st.BadSince[site]) >= cfg.DownAfter:
			to = Down
			reason = fmt.Sprintf("%s for %s", why, in.Now.Sub(st.BadSince[site]).Round(time.Millisecond))
		case v != judgedUnreachable:
			to = Healthy
		}
	case Down:
		if v == judgedReachable && in.Now.Sub(st.GoodSince[site]) >= cfg.RecoverAfter {
			to = Healthy
			n := FailuresAt(cfg, cur, in.Now)
			reason = fmt.Sprintf("%s for %s; hold-down %s before failback (%s)", why, in.Now.Sub(st.GoodSince[site]).Round(time.Millisecond),
				HoldDownFor(cfg, n), plural(n, "failure"))
		}
	case Drained:
		// only an operator undrains
	}
	if to == cur.State {
		return SiteChange{}, false
	}
	failures := failuresAfter(cfg, cur, to, in.Now)
	if to == Down {
		reason = fmt.Sprintf("%s (%s)", reason, plural(failures, "failure"))
	}
	st.Sites[site] = SiteStatus{State: to, Since: in.Now, Reason: reason, Failures: failures}
	return SiteChange{Site: site, From: cur.State, To: to, Reason: reason, Failures: failures}, true
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// limits bounds the moves under way by kind.
type limits struct{ failback, other int }

// place chooses the moves to start now. With ignoreHoldDown the hold-down
// before a failback is waived (an operator's failback drill).
func place(cfg Config, st State, in Input, sites []Site, lim limits, ignoreHoldDown bool) ([]Move, []Hold) {
	region := map[string]string{}
	for _, s := range sites {
		region[s.ID] = s.Region
	}
	movingFailback, movingOther := 0, 0
	for _, k := range in.Moving {
		if k == Failback {
			movingFailback++
		} else {
			movingOther++
		}
	}
	eligible := func(site string) bool { return st.Sites[site].State == Healthy }
	homeReady := func(site string) bool {
		s := st.Sites[site]
		// flap damping: the hold-down grows with the site's failures
		return s.State == Healthy && (ignoreHoldDown || s.Since.IsZero() || in.Now.Sub(s.Since) >= HoldDownFor(cfg, FailuresAt(cfg, s, in.Now)))
	}
	cells := append([]CellView(nil), in.Cells...)
	sort.Slice(cells, func(i, j int) bool { return cells[i].ID < cells[j].ID })
	var moves []Move
	var held []Hold
	for _, c := range cells {
		if _, busy := in.Moving[c.ID]; busy {
			continue
		}
		leader, ok := c.Leader()
		if !ok {
			continue // no leader seen: Raft elects one first
		}
		cur := st.Sites[leader.Site].State
		if cur == Suspect {
			continue // do not act on suspicion alone
		}
		want, kind := preferredSites(c, st, region, eligible, homeReady, leader.Site)
		if len(want) == 0 {
			if cur == Down || cur == Drained {
				held = append(held, Hold{Cell: c.ID, Reason: fmt.Sprintf("leader in %s site %s and no healthy replica site", cur, leader.Site)})
			}
			continue
		}
		if want[0] == leader.Site {
			continue
		}
		if cur == Down || cur == Drained {
			kind = Failover
		}
		target, reason := pickTarget(cfg, c, leader, want)
		if target == nil {
			if reason != "" {
				held = append(held, Hold{Cell: c.ID, Reason: reason})
			}
			continue
		}
		if kind == Failback {
			if movingFailback >= lim.failback {
				held = append(held, Hold{Cell: c.ID, Reason: fmt.Sprintf("failback wave full (%d under way)", movingFailback)})
				continue
			}
			movingFailback++
		} else {
			if movingOther >= lim.other {
				held = append(held, Hold{Cell: c.ID, Reason: fmt.Sprintf("%d moves under way", movingOther)})
				continue
			}
			movingOther++
		}
		moves = append(moves, Move{
			Cell: c.ID, FromNode: leader.Node, ToNode: target.Node, FromSite: leader.Site, ToSite: target.Site, Kind: kind,
			Reason: moveReason(kind, leader.Site, cur, target.Site),
		})
	}
	return moves, held
}

func moveReason(kind MoveKind, from string, fromState SiteState, to string) string {
	switch kind {
	case Failover:
		return fmt.Sprintf("leader site %s is %s; %s is the preferred backup", from, fromState, to)
	case Failback:
		return fmt.Sprintf("home site %s is healthy past its hold-down", to)
	case Pinned:
		return fmt.Sprintf("pinned to %s by a drill", to)
	}
	return fmt.Sprintf("%s is preferred over %s", to, from)
}

// preferredSites lists, best first, the sites the cell's leader should be
// on, and the kind of move that takes it to the first. The current site is
// included where it is acceptable, so "already there" stops the search.
func preferredSites(c CellView, st State, region map[string]string, eligible, homeReady func(string) bool, current string) ([]string, MoveKind) {
	if pin := st.Pins[c.ID]; pin != "" && eligible(pin) {
		return []string{pin}, Pinned
	}
	if eligible(c.Home) && (homeReady(c.Home) || current == c.Home) {
		return []string{c.Home}, Failback
	}
	seen := map[string]bool{c.Home: true}
	var same, other []string
	for _, r := range c.Replicas {
		if seen[r.Site] || !eligible(r.Site) {
			continue
		}
		seen[r.Site] = true
		if region[r.Site] == region[c.Home] {
			same = append(same, r.Site)
		} else {
			other = append(other, r.Site)
		}
	}
	sort.Strings(same)
	sort.Strings(other)
	out := append(same, other...)
	if eligible(c.Home) {
		// a home still in its hold-down is the last resort, better than a
		// site that is down
		out = append(out, c.Home)
	}
	return out, Preferred
}

// pickTarget returns a caught-up replica in the first of want that has one.
func pickTarget(cfg Config, c CellView, leader Replica, want []string) (*Replica, string) {
	var why []string
	for _, site := range want {
		if site == leader.Site {
			return nil, "" // the current site is acceptable and no better one is ready
		}
		for i := range c.Replicas {
			r := &c.Replicas[i]
			if r.Site != site {
				continue
			}
			switch {
			case !r.Fresh:
				why = append(why, r.Node+" not answering")
			case leader.Applied > r.Applied && leader.Applied-r.Applied > cfg.CatchUpLagMax:
				why = append(why, fmt.Sprintf("%s %d entries behind", r.Node, leader.Applied-r.Applied))
			default:
				return r, ""
			}
		}
	}
	if len(why) == 0 {
		return nil, "no replica in " + strings.Join(want, ", ")
	}
	return nil, "no caught-up replica: " + strings.Join(why, "; ")
}
