package gossip

import (
	"slices"
	"strings"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Member states, the values of Member.State.
const (
	// StateAlive: memberlist considers the member alive.
	StateAlive = "alive"
	// StateSuspect: this member's own probe of it failed and memberlist has
	// not yet declared it dead (nor heard it refute). Best effort: memberlist
	// reports no event for a suspicion learned from other members, so a
	// member may also go from alive straight to dead.
	StateSuspect = "suspect"
	// StateDead: memberlist declared it failed (no leave).
	StateDead = "dead"
	// StateLeft: it left gracefully (Agent.Close).
	StateLeft = "left"
)

// Member kinds, the values of MemberMeta.kind: a router advertises its
// site and client address; a node also the cells it leads.
const (
	KindRouter = "router"
	KindNode   = "node"
)

// Live reports whether the member is alive or suspect (not dead, not left).
func (m Member) Live() bool { return m.State != StateDead && m.State != StateLeft }

// Member is one member of the pool as this agent sees it.
type Member struct {
	Name string
	// Addr is the member's gossip address, ip:port.
	Addr string
	// State is StateAlive, StateSuspect, StateDead or StateLeft.
	State string
	// Meta is the member's decoded metadata, nil if it advertises none or
	// its meta did not decode. Shared between callers: read only.
	Meta *pb.MemberMeta
}

// memberEntry is what the view keeps of one member.
type memberEntry struct {
	Member
	// leaving is set when the member announced its graceful leave, so that
	// its coming death is a leave.
	leaving bool
	// goneSince is when it became dead or left, for reaping.
	goneSince time.Time
}

// view is the agent's membership table, fed by memberlist's events (joins,
// meta updates, deaths), its failed probes (suspect), its acks (alive
// again) and leave notices. Memberlist calls in with its node lock held, so
// view never calls memberlist. Every change signals changes (capacity 1,
// never blocking).
type view struct {
	retention time.Duration // GossipToTheDeadTime: how long dead members stay listed
	now       func() time.Time
	changes   chan struct{}

	mu      sync.Mutex
	members map[string]*memberEntry
}

func newView(retention time.Duration, now func() time.Time) *view {
	return &view{
		retention: retention,
		now:       now,
		changes:   make(chan struct{}, 1),
		members:   make(map[string]*memberEntry),
	}
}

func (v *view) signal() {
	select {
	case v.changes <- struct{}{}:
	default: // a signal is already pending; the reader will see this change too
	}
}

// entry returns the member's entry, creating it if new. Caller holds mu.
func (v *view) entry(name string) *memberEntry {
	e, ok := v.members[name]
	if !ok {
		e = &memberEntry{Member: Member{Name: name}}
		v.members[name] = e
	}
	return e
}

// alive records a join or a meta update: the member is alive with this
// address and meta.
func (v *view) alive(name, addr string, meta *pb.MemberMeta) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entry(name)
	if e.State == StateDead || e.State == StateLeft || e.State == "" {
		e.leaving = false // a new life: an old leave notice no longer applies
	}
	e.Addr, e.State, e.Meta, e.goneSince = addr, StateAlive, meta, time.Time{}
	v.signal()
}

// gone records a death: a leave if the member announced it, else dead.
func (v *view) gone(name, addr string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.entry(name)
	if e.Addr == "" {
		e.Addr = addr
	}
	e.State = StateDead
	if e.leaving {
		e.State = StateLeft
	}
	e.goneSince = v.now()
	v.signal()
}

// leaveNotice records that the member announced its leave. The notice may
// arrive after the death it explains: then the death becomes a leave.
func (v *view) leaveNotice(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.members[name]
	if !ok {
		return // never seen alive: nothing to explain
	}
	e.leaving = true
	if e.State == StateDead {
		e.State = StateLeft
		v.signal()
	}
}

// suspect records a failed probe of an alive member.
func (v *view) suspect(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.members[name]; ok && e.State == StateAlive {
		e.State = StateSuspect
		v.signal()
	}
}

// acked records a probe answered by a suspect member: reachable again.
// Never revives a dead member: only memberlist (a join event) does.
func (v *view) acked(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.members[name]; ok && e.State == StateSuspect {
		e.State = StateAlive
		v.signal()
	}
}

// expired reports whether an entry is past its retention at now.
func (v *view) expired(e *memberEntry, now time.Time) bool {
	return !e.goneSince.IsZero() && now.Sub(e.goneSince) > v.retention
}

// reap forgets members dead or left for longer than the retention, as
// memberlist does.
func (v *view) reap() {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	reaped := false
	for name, e := range v.members {
		if v.expired(e, now) {
			delete(v.members, name)
			reaped = true
		}
	}
	if reaped {
		v.signal()
	}
}

// snapshot returns every listed member, sorted by name.
func (v *view) snapshot() []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	out := make([]Member, 0, len(v.members))
	for _, e := range v.members {
		if !v.expired(e, now) {
			out = append(out, e.Member)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// reachableAddrs returns the addresses of alive and suspect members.
func (v *view) reachableAddrs() map[string]bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]bool, len(v.members))
	for _, e := range v.members {
		if e.State == StateAlive || e.State == StateSuspect {
			out[e.Addr] = true
		}
	}
	return out
}

// count is the number of alive and suspect members, at least 1: the pool
// size memberlist's broadcast queue scales retransmissions by.
func (v *view) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, e := range v.members {
		if e.State == StateAlive || e.State == StateSuspect {
			n++
		}
	}
	return max(n, 1)
}
