package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
)

// ErrNotAdmitted marks the refusals of AdmitTopology; check it with
// errors.Is.
var ErrNotAdmitted = errors.New("gossip: member not admitted")

// AdmitTopology is a Config.Admit that believes only the members topo
// names:
//   - kind "node": a node of the topology, advertising the topology's site
//     and client address for it;
//   - kind "router": naming a site of the topology as its site, under a
//     name that is not a node's;
//   - anything else (another kind, no meta) is refused.
//
// Every refusal matches ErrNotAdmitted and says what did not match.
// Nodes must then advertise exactly the client address of the topology
// (not the resolved address of their listener when the topology names a
// host): see control.JoinNodeAs.
func AdmitTopology(topo *topology.Topology) func(name string, meta *pb.MemberMeta) error {
	return func(name string, meta *pb.MemberMeta) error {
		refuse := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s", ErrNotAdmitted, fmt.Sprintf(format, args...))
		}
		if meta == nil {
			return refuse("member %q advertises no meta", name)
		}
		switch meta.GetKind() {
		case KindNode:
			n, ok := topo.Node(name)
			if !ok {
				return refuse("node %q is not a node of the topology", name)
			}
			if meta.GetSite() != n.Site {
				return refuse("node %q advertises site %q; the topology has it in %q", name, meta.GetSite(), n.Site)
			}
			if meta.GetClientAddr() != n.ClientAddr {
				return refuse("node %q advertises client address %q; the topology has %q", name, meta.GetClientAddr(), n.ClientAddr)
			}
			return nil
		case KindRouter:
			if _, ok := topo.Node(name); ok {
				return refuse("router %q has the name of a topology node", name)
			}
			if _, ok := topo.Site(meta.GetSite()); !ok {
				return refuse("router %q advertises site %q, not a site of the topology", name, meta.GetSite())
			}
			return nil
		}
		return refuse("member %q has kind %q; want %q or %q", name, meta.GetKind(), KindNode, KindRouter)
	}
}

// Refusal logging limits, with why.
const (
	// refusalLogInterval: a refused member keeps gossiping (every gossip
	// round and state sync repeats its alive message); one line per member
	// per interval says enough.
	refusalLogInterval = time.Minute
	// refusalNamesMax bounds the names remembered for that; past it the
	// memory is cleared (a flood of names logs again, once each).
	refusalNamesMax = 1024
)

// admission applies Config.Admit for the delegate: it admits this member
// itself always (memberlist asks about it too, at start and on every
// meta update), logs and counts refusals.
type admission struct {
	self     string
	admit    func(name string, meta *pb.MemberMeta) error // nil: admit all
	onRefuse func(name string, reason error)
	logger   *slog.Logger
	now      func() time.Time

	refused atomic.Uint64

	mu        sync.Mutex
	loggedAt  map[string]time.Time // member name -> last refusal logged
	lastError map[string]string    // member name -> reason last logged
}

func newAdmission(cfg Config, logger *slog.Logger) *admission {
	return &admission{
		self:      cfg.Name,
		admit:     cfg.Admit,
		onRefuse:  cfg.OnRefuse,
		logger:    logger,
		now:       time.Now,
		loggedAt:  make(map[string]time.Time),
		lastError: make(map[string]string),
	}
}

// check decides about a member memberlist heard of.
func (a *admission) check(n *memberlist.Node) error {
	if a.admit == nil || n.Name == a.self {
		return nil
	}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		meta = nil // the admit function decides about a member without meta
	}
	if err := a.admit(n.Name, meta); err != nil {
		a.refuse(n.Name, n.Address(), err)
		return err
	}
	return nil
}

func (a *admission) refuse(name, addr string, reason error) {
	a.refused.Add(1)
	if a.onRefuse != nil {
		a.onRefuse(name, reason)
	}
	now := a.now()
	a.mu.Lock()
	last, seen := a.loggedAt[name]
	changed := a.lastError[name] != reason.Error()
	logIt := !seen || changed || now.Sub(last) >= refusalLogInterval
	if logIt {
		if !seen && len(a.loggedAt) >= refusalNamesMax {
			clear(a.loggedAt)
			clear(a.lastError)
		}
		a.loggedAt[name], a.lastError[name] = now, reason.Error()
	}
	a.mu.Unlock()
	if logIt {
		a.logger.Warn("gossip: member refused; its messages about itself are ignored",
			"refused_member", name, "addr", addr, "reason", reason, "refusals_total", a.refused.Load())
	}
}

// NotifyAlive (memberlist.AliveDelegate): every alive message about a
// member (a join, a meta update, a refutation, each entry of a state sync)
// passes here before memberlist records it; an error drops it.
func (d *delegate) NotifyAlive(n *memberlist.Node) error { return d.admission.check(n) }

// NotifyMerge (memberlist.MergeDelegate): a join (ours or another
// member's to us) is refused when the other side knows no member that is
// admitted: a stranger's pool or a lone rogue. A pool with some refused
// members is merged; NotifyAlive drops those one by one.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	if d.admission.admit == nil {
		return nil
	}
	others := 0
	for _, p := range peers {
		if p.Name == d.name {
			continue
		}
		others++
		if d.admission.check(p) == nil {
			return nil
		}
	}
	if others == 0 {
		return nil
	}
	return fmt.Errorf("%w: none of the %d members of the joining side is admitted", ErrNotAdmitted, others)
}

var (
	_ memberlist.AliveDelegate = (*delegate)(nil)
	_ memberlist.MergeDelegate = (*delegate)(nil)
)
