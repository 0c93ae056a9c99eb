package failover

import "time"

// SiteState is what the controller believes of a site.
type SiteState int

// Site states. The zero value is Healthy: a site nobody has judged yet is
// presumed well.
const (
	Healthy SiteState = iota
	Suspect
	Down
	Drained
)

func (s SiteState) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Suspect:
		return "suspect"
	case Down:
		return "down"
	case Drained:
		return "drained"
	}
	return "unknown"
}

// Reach is one observer's answer about one path to a site.
type Reach int

// Reach values: Unknown means the observer has no opinion (it does not
// probe that path, or has not yet).
const (
	Unknown Reach = iota
	Reachable
	Unreachable
)

// SiteReach is how an observer reaches one site: its nodes over the
// backbone, and its routers the way clients do (ingress).
type SiteReach struct {
	Backbone, Ingress Reach
}

// Observation is the newest report of one observer.
type Observation struct {
	ObserverID, ObserverSite string
	// At is when the report was taken (the caller's clock).
	At    time.Time
	Sites map[string]SiteReach
}

// Site is a site of the topology.
type Site struct {
	ID, Region string
	// LeadersMax is how many cell leaders the site may hold (0: no limit).
	LeadersMax int
}

// SiteStatus is a site's state and since when.
type SiteStatus struct {
	State SiteState
	// Since is when the state began; zero for "since before anyone
	// watched" (a healthy site with zero Since has served its hold-down).
	Since  time.Time
	Reason string
	// Failures counts the site's failures (entries into Down) without
	// FlapResetAfter of healthy time in between; the hold-down before
	// failback grows with it (HoldDownFor). It is part of the site's
	// record in the meta group, so a new controller keeps counting.
	Failures int
}

// Replica is one replica of a cell as the controller sees it.
type Replica struct {
	Node, Site string
	// Fresh: the replica's node answered recently, so Leader and Applied
	// are current.
	Fresh   bool
	Leader  bool
	Term    uint64
	Applied uint64
}

// CellView is a cell with its replicas, in topology order.
type CellView struct {
	ID       uint64
	Home     string
	Replicas []Replica
}

// Leader returns the fresh replica that claims leadership with the highest
// term, if any.
func (c CellView) Leader() (Replica, bool) {
	var best Replica
	found := false
	for _, r := range c.Replicas {
		if r.Fresh && r.Leader && (!found || r.Term > best.Term) {
			best, found = r, true
		}
	}
	return best, found
}

// State is the controller's memory between ticks.
type State struct {
	Sites map[string]SiteStatus
	// Pins hold cells to a site (move drills).
	Pins map[uint64]string
	// BadSince and GoodSince time the current run of unreachable and
	// reachable verdicts of each site (in memory only: a new controller
	// starts timing afresh, which only delays it).
	BadSince, GoodSince map[string]time.Time
}

// Clone returns a deep copy.
func (s State) Clone() State {
	out := State{Sites: map[string]SiteStatus{}, Pins: map[uint64]string{}, BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}}
	for k, v := range s.Sites {
		out.Sites[k] = v
	}
	for k, v := range s.Pins {
		out.Pins[k] = v
	}
	for k, v := range s.BadSince {
		out.BadSince[k] = v
	}
	for k, v := range s.GoodSince {
		out.GoodSince[k] = v
	}
	return out
}

// Input is everything one tick decides from.
type Input struct {
	Now          time.Time
	Sites        []Site
	Observations []Observation
	Cells        []CellView
	// Moving lists cells whose move is under way, with its kind.
	Moving map[uint64]MoveKind
}

// MoveKind says why a cell's leadership moves.
type MoveKind string

// Move kinds.
const (
	// Failover: the leader's site is down or drained.
	Failover MoveKind = "failover"
	// Failback: back to a healthy home after the hold-down.
	Failback MoveKind = "failback"
	// Preferred: from a healthy but worse site to the preferred backup
	// (correcting Raft's own choice).
	Preferred MoveKind = "preferred"
	// Pinned: to the site a move drill pinned the cell to.
	Pinned MoveKind = "pinned"
)

// SiteChange is a state change of a site, with what its record holds
// after it (the state entered began at Input.Now).
type SiteChange struct {
	Site     string
	From, To SiteState
	Reason   string
	// Failures is the site's failure count after the change.
	Failures int
}

// Move is one leadership transfer to make.
type Move struct {
	Cell             uint64
	FromNode, ToNode string
	FromSite, ToSite string
	Kind             MoveKind
	Reason           string
}

// Hold is a cell that should move but cannot now, and why.
type Hold struct {
	Cell   uint64
	Reason string
}

// Output is one tick's decisions.
type Output struct {
	State   State
	Changes []SiteChange
	Moves   []Move
	Held    []Hold
}
