package router

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/gossip"
	"github.com/cellpay/cellpay/router/meta"
)

// statusReplicaTimeout bounds the ReplicaStatus call to each replica.
const statusReplicaTimeout = time.Second

// admin serves RouterAdmin: the operators' view of the cluster from this
// router.
type admin struct {
	pb.UnimplementedRouterAdminServer
	r *Router
}

func (a *admin) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.ClusterStatus, error) {
	r := a.r
	topo := r.cfg.Topology
	out := &pb.ClusterStatus{RouterId: r.cfg.ID, RouterSite: r.cfg.Site, GeneratedAtUnixMs: time.Now().UnixMilli()}
	for _, s := range topo.Sites() {
		ok, rtt, at := r.prober.Site(s.ID)
		h := &pb.SiteHealth{ObserverId: r.cfg.ID, ObserverSite: r.cfg.Site, TargetSite: s.ID, Reachable: ok, RttUs: rtt.Microseconds()}
		if !at.IsZero() {
			h.ProbedAtUnixMs = at.UnixMilli()
		}
		out.Sites = append(out.Sites, h)
	}
	for _, m := range r.agent.Members() {
		ms := &pb.MemberStatus{Id: m.Name, State: m.State, Addr: m.Addr}
		if m.Meta != nil {
			ms.Kind, ms.Site = m.Meta.GetKind(), m.Meta.GetSite()
		}
		out.Members = append(out.Members, ms)
	}
	// Every cell and the meta group at once: with a site cut off, each
	// waits statusReplicaTimeout for its replica there, and one after the
	// other that would be a second per cell.
	cells := topo.Cells()
	out.Cells = make([]*pb.CellStatus, len(cells))
	limit := make(chan struct{}, statusCellsInFlightMax)
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			limit <- struct{}{}
			defer func() { <-limit }()
			out.Cells[i] = a.cellStatus(ctx, topo, c)
		}()
	}
	ms := a.metaStatus(ctx)
	wg.Wait()
	if ms != nil {
		out.SiteStates, out.Events = ms.GetSites(), ms.GetEvents()
	}
	return out, nil
}

// statusCellsInFlightMax bounds the cells Status asks about at once (each
// asks all its replicas in parallel).
const statusCellsInFlightMax = 32

// statusEventsMax is how many recent failover events Status shows.
const statusEventsMax = 50

// metaStatus asks every meta voter for the meta group's records and keeps
// the meta leader's answer (else any); nil if none answers.
func (a *admin) metaStatus(ctx context.Context) *pb.MetaStatus {
	mc, err := meta.NewClient(meta.ClientConfig{Topology: a.r.cfg.Topology, CallTimeout: statusReplicaTimeout,
		Conn: func(addr string) (grpc.ClientConnInterface, error) { return a.r.conns.Get(addr) }})
	if err != nil {
		return nil
	}
	ms, _ := mc.Status(ctx, &pb.MetaStatusRequest{EventsMax: statusEventsMax})
	return ms
}

// Observe implements RouterAdmin: this router's view for the failover
// controller.
func (a *admin) Observe(ctx context.Context, _ *pb.ObserveRequest) (*pb.Observation, error) {
	r := a.r
	out := &pb.Observation{ObserverId: r.cfg.ID, ObserverSite: r.cfg.Site, Kind: gossip.KindRouter}
	out.Sites = forward.BackboneView(r.cfg.Topology, r.prober)
	for _, s := range out.Sites {
		s.Ingress = r.ingress.reach(s.GetSite())
	}
	for _, c := range r.cfg.Topology.Cells() {
		ok, failed := r.fwd.Counters(c.ID)
		out.RequestsOk += ok
		out.RequestsFailed += failed
		if ans := r.fwd.LastAnswer(c.ID); ans.Node != "" {
			out.Writes = append(out.Writes, &pb.CellWrite{CellId: c.ID, LeaderNodeId: ans.Node, FirstOkUnixMs: ans.FirstAt.UnixMilli(), LastOkUnixMs: ans.LastAt.UnixMilli()})
		}
	}
	return out, nil
}

// cellStatus asks every replica of c for its state, in parallel.
func (a *admin) cellStatus(ctx context.Context, topo *topology.Topology, c topology.Cell) *pb.CellStatus {
	cs := &pb.CellStatus{CellId: c.ID, HomeSite: c.Home}
	cs.RequestsOk, cs.RequestsFailed = a.r.fwd.Counters(c.ID)
	replicas := make([]*pb.ReplicaState, len(c.Replicas))
	var alertMu sync.Mutex // guards cs's alert fields against two claimed leaders
	var wg sync.WaitGroup
	for i, id := range c.Replicas {
		n, _ := topo.Node(id)
		replicas[i] = &pb.ReplicaState{NodeId: id, Site: n.Site}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := a.r.conns.Get(n.ClientAddr)
			if err != nil {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, statusReplicaTimeout)
			defer cancel()
			st, err := pb.NewCellClient(conn).ReplicaStatus(rctx, &pb.ReplicaStatusRequest{CellId: c.ID})
			if err != nil {
				return
			}
			replicas[i].Reachable, replicas[i].AppliedIndex, replicas[i].Leader = true, st.GetAppliedIndex(), st.GetLeader()
			if st.GetLeader() {
				a.r.table.Observe(c.ID, id, st.GetTerm()) // a fresh, first-hand claim
				alertMu.Lock()
				cs.UnresolvedPayouts, cs.OldestUnresolvedPayoutUnixMs = st.GetUnresolvedPayouts(), st.GetOldestUnresolvedPayoutUnixMs()
				alertMu.Unlock()
			}
		}()
	}
	wg.Wait()
	var leaderApplied uint64
	for _, rs := range replicas {
		if rs.Leader {
			leaderApplied = rs.AppliedIndex
			cs.LeaderNodeId = rs.NodeId
		}
	}
	if cs.LeaderNodeId == "" {
		cs.LeaderNodeId, _ = a.r.table.Leader(c.ID)
	}
	_, cs.Term = a.r.table.Leader(c.ID)
	if n, ok := topo.Node(cs.LeaderNodeId); ok {
		cs.ActingSite = n.Site
	}
	for _, rs := range replicas {
		if rs.Reachable && leaderApplied > rs.AppliedIndex {
			rs.Lag = leaderApplied - rs.AppliedIndex
		}
	}
	cs.Replicas = replicas
	return cs
}
