package failover

import (
	"fmt"
	"strings"
	"time"
)

// DrillKind is the kind of an operator's drill. Its values are the wire
// values of the drill request's kind.
type DrillKind string

// Drill kinds.
const (
	// DrillEvacuate drains a site: its leaders move out, and it stays
	// drained until an operator aborts the drill or fails it back.
	DrillEvacuate DrillKind = "evacuate"
	// DrillFailback vouches for a site: its hold-down is waived, its
	// failures forgiven and its cells' pins dropped, so its cells come home.
	DrillFailback DrillKind = "failback"
	// DrillMove pins one cell to a target site.
	DrillMove DrillKind = "move"
)

// DrillRequest is an operator's request for a drill, as plain values.
type DrillRequest struct {
	Kind DrillKind
	// Site is the site evacuated or failed back (evacuate, failback).
	Site string
	// CellID and TargetSite are the cell moved and where to (move).
	CellID     uint64
	TargetSite string
	// Operator is who asked (authenticated by the caller).
	Operator string
	// DryRun: plan only. A dry run is planned even while another drill
	// runs, and is refused only for the reasons a real one would be.
	DryRun bool
}

// RunningDrill names the drill under way, if any (zero ID: none); a real
// drill is refused while one runs.
type RunningDrill struct {
	ID     string
	Detail string // DrillDetail of the drill
}

// Drill is a planned drill: what it changes is in the State PlanDrill
// returns beside it; Moves are the moves it causes now.
type Drill struct {
	ID         string
	Kind       DrillKind
	Site       string
	CellID     uint64
	TargetSite string
	Operator   string
	Moves      []Move
	// LeadersBefore and LeadersAfter count leaders per site before and
	// after the moves; Warnings name the sites that would pass their
	// LeadersMax (a real drill with warnings is refused).
	LeadersBefore, LeadersAfter []SiteLeaders
	Warnings                    []string
}

// Detail is the drill's one-line description (DrillDetail).
func (d Drill) Detail() string {
	return DrillDetail(d.Kind, d.Site, d.CellID, d.TargetSite, len(d.Moves))
}

// DrillDetail describes a drill in one line, for audit entries, events and
// refusals.
func DrillDetail(kind DrillKind, site string, cellID uint64, targetSite string, moves int) string {
	if kind == DrillMove {
		return fmt.Sprintf("move cell %d to %s (%d moves)", cellID, targetSite, moves)
	}
	return fmt.Sprintf("%s site %s (%d moves)", kind, site, moves)
}

// RefusalReason says why a drill was refused; it is machine-readable and
// stable.
type RefusalReason string

// Refusal reasons. The Unknown ones mean the request itself is wrong
// (RefusalReason.Invalid); the others that the cluster's state forbids it
// now.
const (
	RefusedUnknownKind RefusalReason = "unknown_kind"
	RefusedUnknownSite RefusalReason = "unknown_site"
	RefusedUnknownCell RefusalReason = "unknown_cell"
	// RefusedBusy: another drill is running.
	RefusedBusy RefusalReason = "busy"
	// RefusedNoReplicaInTarget: the cell has no replica in the target site.
	RefusedNoReplicaInTarget RefusalReason = "no_replica_in_target"
	// RefusedAlreadyDrained: the site to evacuate is drained already.
	RefusedAlreadyDrained RefusalReason = "already_drained"
	// RefusedLastHealthySite: an evacuation would leave a cell without a
	// healthy site among its replicas.
	RefusedLastHealthySite RefusalReason = "last_healthy_site"
	// RefusedSiteNotRecovered: a failback of a suspect or down site.
	RefusedSiteNotRecovered RefusalReason = "site_not_recovered"
	// RefusedTargetNotHealthy: a move to a site that is not healthy.
	RefusedTargetNotHealthy RefusalReason = "target_not_healthy"
	// RefusedHeld: a cell the drill must move cannot move now (Hold).
	RefusedHeld RefusalReason = "held"
	// RefusedNoLeader: the cell to move has no leader the controller sees.
	RefusedNoLeader RefusalReason = "no_leader"
	// RefusedAlreadyThere: the cell to move already leads in the target.
	RefusedAlreadyThere RefusalReason = "already_there"
	// RefusedLeadersMax: the drill would take a site past its LeadersMax
	// (a dry run reports it as Warnings instead).
	RefusedLeadersMax RefusalReason = "leaders_max"
)

// Invalid reports whether the request itself is wrong (an unknown kind,
// site or cell), rather than refused for the cluster's state.
func (r RefusalReason) Invalid() bool {
	switch r {
	case RefusedUnknownKind, RefusedUnknownSite, RefusedUnknownCell:
		return true
	}
	return false
}

// DrillRefusal is PlanDrill's refusal: nothing changes.
type DrillRefusal struct {
	Reason RefusalReason
	// Detail says why in words, naming the site or cell.
	Detail string
}

// Error says the refusal with its reason, prefixed "failover:".
func (e *DrillRefusal) Error() string {
	return fmt.Sprintf("failover: drill refused (%s): %s", e.Reason, e.Detail)
}

func refuse(reason RefusalReason, format string, args ...any) *DrillRefusal {
	return &DrillRefusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// PlanDrill checks a drill against the controller's state st and the
// newest input (its Sites and Cells are the topology; its Moving is
// ignored: a drill plans every cell it concerns, including those under way,
// whose moves are then the drill's to follow) and plans it at now. It
// returns the drill, the state the drill sets (site states and pins; the
// caller records them before adopting them), or a *DrillRefusal. A
// refusal for Warnings (RefusedLeadersMax) comes with the drill planned.
// It modifies neither st nor in.
func PlanDrill(cfg Config, st State, in Input, req DrillRequest, running RunningDrill, now time.Time) (Drill, State, error) {
	if running.ID != "" && !req.DryRun {
		return Drill{}, State{}, refuse(RefusedBusy, "drill %s (%s) is running; wait for it or abort it", running.ID, running.Detail)
	}
	next := st.Clone()
	if err := checkDrillRequest(in, req); err != nil {
		return Drill{}, next, err
	}
	ignoreHoldDown, err := drillState(&next, in, req, now)
	if err != nil {
		return Drill{}, next, err
	}
	in.Moving = nil // in is a copy: the caller's map is untouched
	mine, err := drillMoves(cfg, next, in, req, ignoreHoldDown)
	if err != nil {
		return Drill{}, next, err
	}
	d := Drill{ID: fmt.Sprintf("drill-%d", now.UnixMilli()), Kind: req.Kind, Site: req.Site, CellID: req.CellID,
		TargetSite: req.TargetSite, Operator: req.Operator, Moves: mine}
	d.LeadersBefore, d.LeadersAfter, d.Warnings = LeadersPerSite(in.Sites, in.Cells, mine)
	if !req.DryRun && len(d.Warnings) > 0 {
		return d, next, refuse(RefusedLeadersMax, "%s", strings.Join(d.Warnings, "; "))
	}
	return d, next, nil
}

// checkDrillRequest checks that the request names a kind, and sites and
// cells of the topology.
func checkDrillRequest(in Input, req DrillRequest) error {
	switch req.Kind {
	case DrillEvacuate, DrillFailback:
		if !hasSite(in, req.Site) {
			return refuse(RefusedUnknownSite, "drill %s: site %q is not in the topology", req.Kind, req.Site)
		}
	case DrillMove:
		c, ok := cellOf(in, req.CellID)
		if !ok {
			return refuse(RefusedUnknownCell, "drill move: cell %d is not in the topology", req.CellID)
		}
		if !hasSite(in, req.TargetSite) {
			return refuse(RefusedUnknownSite, "drill move: target site %q is not in the topology", req.TargetSite)
		}
		hasReplica := false
		for _, r := range c.Replicas {
			hasReplica = hasReplica || r.Site == req.TargetSite
		}
		if !hasReplica {
			return refuse(RefusedNoReplicaInTarget, "cell %d has no replica in site %s", c.ID, req.TargetSite)
		}
	default:
		return refuse(RefusedUnknownKind, "drill kind %q: want evacuate, move or failback", req.Kind)
	}
	return nil
}

// drillState sets in next what the drill changes, and reports whether home
// sites' hold-downs are waived.
func drillState(next *State, in Input, req DrillRequest, now time.Time) (ignoreHoldDown bool, err error) {
	site := req.Site
	switch req.Kind {
	case DrillEvacuate:
		if next.Sites[site].State == Drained {
			return false, refuse(RefusedAlreadyDrained, "site %s is already drained", site)
		}
		// a drain is no failure: the site's count is kept as it is
		next.Sites[site] = SiteStatus{State: Drained, Since: now, Reason: "drill evacuate by " + req.Operator, Failures: next.Sites[site].Failures}
		for _, c := range in.Cells {
			if leavesNoHealthySite(*next, c, site) {
				return false, refuse(RefusedLastHealthySite, "evacuating %s would leave cell %d without a healthy site among its replicas", site, c.ID)
			}
		}
	case DrillFailback:
		switch st := next.Sites[site].State; st {
		case Suspect, Down:
			return false, refuse(RefusedSiteNotRecovered, "site %s is %s: the controller fails back once observers see it healthy", site, st)
		}
		// the operator vouches for the site: its hold-down is waived and its
		// failures forgiven (Failures 0)
		next.Sites[site] = SiteStatus{State: Healthy, Reason: "drill failback by " + req.Operator}
		for _, c := range in.Cells {
			if c.Home == site {
				delete(next.Pins, c.ID)
			}
		}
		return true, nil
	case DrillMove:
		if st := next.Sites[req.TargetSite].State; st != Healthy {
			return false, refuse(RefusedTargetNotHealthy, "target site %s is %s", req.TargetSite, st)
		}
		next.Pins[req.CellID] = req.TargetSite
	}
	return false, nil
}

// leavesNoHealthySite reports whether cell c has a replica in site and no
// healthy site among its other replicas' sites.
func leavesNoHealthySite(st State, c CellView, site string) bool {
	inSite, healthyElsewhere := false, 0
	seen := map[string]bool{}
	for _, r := range c.Replicas {
		if r.Site == site {
			inSite = true
		} else if !seen[r.Site] && st.Sites[r.Site].State == Healthy {
			healthyElsewhere++
		}
		seen[r.Site] = true
	}
	return inSite && healthyElsewhere == 0
}

// drillMoves plans every move state next causes and keeps the drill's
// own; a held cell the drill must move refuses it.
func drillMoves(cfg Config, next State, in Input, req DrillRequest, ignoreHoldDown bool) ([]Move, error) {
	moves, holds := Plan(cfg, next, in, ignoreHoldDown)
	var mine []Move
	for _, m := range moves {
		switch {
		case req.Kind == DrillEvacuate && m.FromSite == req.Site,
			req.Kind == DrillFailback && m.ToSite == req.Site,
			req.Kind == DrillMove && m.Cell == req.CellID:
			mine = append(mine, m)
		}
	}
	for _, h := range holds {
		cv, ok := cellOf(in, h.Cell)
		if !ok {
			continue
		}
		l, led := cv.Leader()
		switch {
		case req.Kind == DrillEvacuate && led && l.Site == req.Site,
			req.Kind == DrillMove && h.Cell == req.CellID:
			return nil, refuse(RefusedHeld, "cell %d: %s", h.Cell, h.Reason)
		}
	}
	if req.Kind == DrillMove && len(mine) == 0 {
		cv, _ := cellOf(in, req.CellID)
		if l, ok := cv.Leader(); !ok {
			return nil, refuse(RefusedNoLeader, "cell %d has no leader the controller can see", req.CellID)
		} else if l.Site == req.TargetSite {
			return nil, refuse(RefusedAlreadyThere, "cell %d already leads in %s", req.CellID, req.TargetSite)
		}
	}
	return mine, nil
}

// AbortDrillState returns the state after an operator aborts a running
// drill of kind: an evacuated site is healthy again (its failures kept;
// its cells return after the hold-down), a pinned cell is unpinned; a
// failback is not undone. It does not modify st.
func AbortDrillState(st State, kind DrillKind, site string, cellID uint64, operator string, now time.Time) State {
	next := st.Clone()
	switch kind {
	case DrillEvacuate:
		next.Sites[site] = SiteStatus{State: Healthy, Since: now, Reason: "drill aborted by " + operator, Failures: next.Sites[site].Failures}
	case DrillMove:
		delete(next.Pins, cellID)
	}
	return next
}

func hasSite(in Input, id string) bool {
	for _, s := range in.Sites {
		if s.ID == id {
			return true
		}
	}
	return false
}

// cellOf returns the cell id of in.
func cellOf(in Input, id uint64) (CellView, bool) {
	for _, c := range in.Cells {
		if c.ID == id {
			return c, true
		}
	}
	return CellView{}, false
}
