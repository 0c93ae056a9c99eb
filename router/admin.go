package router

import (
	"context"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
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
		ok, rtt, at := r.prober.site(s.ID)
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
	for _, c := range topo.Cells() {
		out.Cells = append(out.Cells, a.cellStatus(ctx, topo, c))
	}
	return out, nil
}

// cellStatus asks every replica of c for its state, in parallel.
func (a *admin) cellStatus(ctx context.Context, topo *topology.Topology, c topology.Cell) *pb.CellStatus {
	cs := &pb.CellStatus{CellId: c.ID, HomeSite: c.Home}
	cs.RequestsOk, cs.RequestsFailed = a.r.fwd.counters(c.ID)
	replicas := make([]*pb.ReplicaState, len(c.Replicas))
	var wg sync.WaitGroup
	for i, id := range c.Replicas {
		n, _ := topo.Node(id)
		replicas[i] = &pb.ReplicaState{NodeId: id, Site: n.Site}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := a.r.conns.get(n.ClientAddr)
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
				a.r.table.observe(c.ID, id, st.GetTerm()) // a fresh, first-hand claim
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
		cs.LeaderNodeId, _ = a.r.table.leader(c.ID)
	}
	_, cs.Term = a.r.table.leader(c.ID)
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
