package router

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/meta"
)

// firstWriteWaitMax bounds how long the controller watches for the first
// successful write after a fault or a move (for the first_write event).
const firstWriteWaitMax = time.Minute

// controller is the failover controller's loop around failover.Decide. It
// runs on every meta voter and acts only while its meta replica leads:
// every site change and every decision is recorded in the meta group before
// it is acted on, so a controller cut off from the meta quorum cannot act.
type controller struct {
	c   *Control
	obs *observerCache

	// Owned by the run goroutine.
	leading bool
	state   failover.State
	waits   map[uint64]firstWriteWait
	drill   *pb.Drill // the running or last drill

	requests chan drillRequest

	mu        sync.Mutex
	moving    map[uint64]failover.MoveKind
	retryAt   map[uint64]time.Time   // a failed move is not retried before this
	lastMoved map[uint64]movedRecord // completed moves not yet watched for a first write
	doneMoves map[uint64]movedRecord // the newest completed move of each cell
	movesWG   sync.WaitGroup
}

// firstWriteWait watches for the first successful write of a cell after a
// fault or a move: a write answered by a node outside excludeSite (after a
// fault) or by toNode (after a move), at or after since.
type firstWriteWait struct {
	since       time.Time
	excludeSite string
	toNode      string
	reason      string
}

type movedRecord struct {
	at       time.Time
	duration time.Duration
	toNode   string
}

func newController(c *Control) *controller {
	return &controller{
		c: c, obs: newObserverCache(c.conns, c.cfg.ObserveInterval, c.cfg.ObserveTimeout, c.cfg.Now),
		waits: map[uint64]firstWriteWait{}, moving: map[uint64]failover.MoveKind{}, retryAt: map[uint64]time.Time{},
		lastMoved: map[uint64]movedRecord{}, doneMoves: map[uint64]movedRecord{}, requests: make(chan drillRequest),
	}
}

func (k *controller) run(ctx context.Context) {
	defer k.movesWG.Wait()
	defer k.obs.stop()
	tick := time.NewTicker(k.c.cfg.TickInterval)
	defer tick.Stop()
	for {
		k.obs.reconcile(ctx, k.targets())
		if k.c.meta.IsLeader() {
			k.tick(ctx)
		} else {
			k.leading = false
		}
		k.c.metrics.sites(k.c.cfg.Topology, k.state, k.leading)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case r := <-k.requests:
			r.reply <- k.handleDrill(ctx, r)
		}
	}
}

// targets are every node and every router known from gossip.
func (k *controller) targets() []observerTarget {
	var out []observerTarget
	for _, n := range k.c.cfg.Topology.Nodes() {
		out = append(out, observerTarget{id: n.ID, kind: "node", addr: n.ClientAddr})
	}
	if k.c.cfg.Routers != nil {
		for _, r := range k.c.cfg.Routers() {
			out = append(out, observerTarget{id: r.ID, kind: "router", addr: r.Addr})
		}
	}
	return out
}

// load rebuilds the controller's state from the meta group after it
// became leader.
func (k *controller) load(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, k.c.cfg.MoveTimeout)
	defer cancel()
	if err := k.c.meta.LinearizableRead(rctx); err != nil {
		return false
	}
	snap, err := meta.Read(k.c.meta.Reader(), 0, 0)
	if err != nil {
		k.c.logger.Error("reading the meta group", "error", err)
		return false
	}
	st := failover.State{Sites: map[string]failover.SiteStatus{}, Pins: map[uint64]string{}, BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}}
	for _, s := range snap.Sites {
		ss := failover.SiteStatus{State: siteStateFromPB(s.GetState()), Reason: s.GetReason()}
		if s.GetSinceUnixMs() > 0 {
			ss.Since = time.UnixMilli(s.GetSinceUnixMs())
		}
		st.Sites[s.GetSite()] = ss
	}
	for _, p := range snap.Pins {
		st.Pins[p.GetCellId()] = p.GetSite()
	}
	k.state = st
	k.drill = snap.Drill
	k.c.logger.Info("controller leading", "node", k.c.host.NodeID(), "sites", len(st.Sites), "pins", len(st.Pins))
	return true
}

// input builds failover.Input from the observers' newest reports.
func (k *controller) input(now time.Time) (failover.Input, []observed) {
	topo := k.c.cfg.Topology
	snap := k.obs.snapshot()
	in := failover.Input{Now: now, Moving: map[uint64]failover.MoveKind{}}
	for _, s := range topo.Sites() {
		in.Sites = append(in.Sites, failover.Site{ID: s.ID, Region: s.Region, LeadersMax: s.LeadersMax})
	}
	replicas := map[string]map[uint64]*pb.ReplicaInfo{} // fresh node -> cell -> info
	for _, o := range snap {
		fo := failover.Observation{ObserverID: o.obs.GetObserverId(), ObserverSite: o.obs.GetObserverSite(), At: o.at, Sites: map[string]failover.SiteReach{}}
		for _, s := range o.obs.GetSites() {
			fo.Sites[s.GetSite()] = failover.SiteReach{Backbone: reachFromPB(s.GetBackbone()), Ingress: reachFromPB(s.GetIngress())}
		}
		in.Observations = append(in.Observations, fo)
		if o.obs.GetKind() == "node" && now.Sub(o.at) <= k.c.cfg.Failover.ObservationAgeMax {
			m := map[uint64]*pb.ReplicaInfo{}
			for _, r := range o.obs.GetReplicas() {
				m[r.GetCellId()] = r
			}
			replicas[o.obs.GetObserverId()] = m
		}
	}
	sort.Slice(in.Observations, func(i, j int) bool { return in.Observations[i].ObserverID < in.Observations[j].ObserverID })
	for _, c := range topo.Cells() {
		cv := failover.CellView{ID: c.ID, Home: c.Home}
		for _, id := range c.Replicas {
			n, _ := topo.Node(id)
			r := failover.Replica{Node: id, Site: n.Site}
			if info, ok := replicas[id][c.ID]; ok {
				r.Fresh, r.Leader, r.Term, r.Applied = true, info.GetLeader(), info.GetTerm(), info.GetAppliedIndex()
			}
			cv.Replicas = append(cv.Replicas, r)
		}
		in.Cells = append(in.Cells, cv)
	}
	k.mu.Lock()
	for id, kind := range k.moving {
		in.Moving[id] = kind
	}
	for id, at := range k.retryAt {
		if now.Before(at) {
			if _, ok := in.Moving[id]; !ok {
				in.Moving[id] = failover.Failover
			}
		} else {
			delete(k.retryAt, id)
		}
	}
	k.mu.Unlock()
	return in, snap
}

// tick is one round of the controller on the meta leader.
func (k *controller) tick(ctx context.Context) {
	if !k.leading {
		if !k.load(ctx) {
			return
		}
		k.leading = true
	}
	now := k.c.cfg.Now()
	in, snap := k.input(now)
	out := failover.Decide(k.c.cfg.Failover, k.state, in)
	pctx, cancel := context.WithTimeout(ctx, k.c.cfg.MoveTimeout)
	defer cancel()
	for _, ch := range out.Changes {
		rec := &pb.SiteRecord{Site: ch.Site, State: siteStateToPB(ch.To), SinceUnixMs: now.UnixMilli(), Reason: ch.Reason}
		if _, err := k.c.propose(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_SetSite{SetSite: rec}}); err != nil {
			k.c.logger.Warn("could not record a site change; not acting", "site", ch.Site, "to", ch.To, "error", err)
			return
		}
		k.event(pctx, &pb.MetaEvent{Kind: "site_state", Site: ch.Site, State: rec.State, Reason: ch.Reason})
		k.c.logger.Info("site state", "site", ch.Site, "from", ch.From, "to", ch.To, "reason", ch.Reason)
		if k.c.recon != nil && (ch.To == failover.Down || ch.From == failover.Down) {
			k.c.recon.moved() // A failover or a recovery: reconcile once it is quiet.
		}
		if ch.From == failover.Healthy && ch.To == failover.Suspect {
			k.watchFault(in, ch.Site, now)
		}
	}
	k.state = out.State
	for _, mv := range out.Moves {
		if _, err := k.c.propose(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: &pb.MetaEvent{
			Kind: "decision", CellId: mv.Cell, Site: mv.ToSite, FromNode: mv.FromNode, ToNode: mv.ToNode, Reason: string(mv.Kind) + ": " + mv.Reason,
		}}}); err != nil {
			k.c.logger.Warn("could not record a decision; not acting", "cell", mv.Cell, "error", err)
			return
		}
		k.startMove(ctx, mv)
	}
	k.checkFirstWrites(pctx, snap, now)
	k.c.drillTick(pctx, k, in, snap, now)
}

// watchFault starts waiting for the first write of every cell led in site
// or homed there (the first_write event that gives its RTO).
func (k *controller) watchFault(in failover.Input, site string, now time.Time) {
	for _, c := range in.Cells {
		// Cells led there, and cells homed there: Raft may have elected a
		// leader elsewhere already, before the observers agreed.
		watch := false
		if home, ok := k.c.cfg.Topology.Cell(c.ID); ok && home.Home == site {
			watch = true
		}
		for _, r := range c.Replicas {
			watch = watch || (r.Leader && r.Site == site)
		}
		if watch {
			k.waits[c.ID] = firstWriteWait{since: now, excludeSite: site, reason: "site " + site + " suspected"}
		}
	}
}

// startMove runs one move in the background, bounded by MoveTimeout.
func (k *controller) startMove(ctx context.Context, mv failover.Move) {
	k.mu.Lock()
	k.moving[mv.Cell] = mv.Kind
	k.mu.Unlock()
	k.movesWG.Add(1)
	go func() {
		defer k.movesWG.Done()
		start := k.c.cfg.Now()
		mctx, cancel := context.WithTimeout(ctx, k.c.cfg.MoveTimeout)
		defer cancel()
		err := k.c.moveVia(mctx, mv.FromNode, mv.Cell, mv.ToNode)
		took := k.c.cfg.Now().Sub(start)
		k.c.metrics.moved(mv.Kind, err)
		k.mu.Lock()
		delete(k.moving, mv.Cell)
		if err != nil {
			k.retryAt[mv.Cell] = k.c.cfg.Now().Add(time.Second)
		} else {
			// the observers see the new leader only after their next
			// report: until then the cell would look unmoved
			k.retryAt[mv.Cell] = k.c.cfg.Now().Add(k.c.cfg.ObserveInterval + k.c.cfg.ObserveTimeout)
			rec := movedRecord{at: k.c.cfg.Now(), duration: took, toNode: mv.ToNode}
			k.lastMoved[mv.Cell], k.doneMoves[mv.Cell] = rec, rec
		}
		k.mu.Unlock()
		ev := &pb.MetaEvent{Kind: "leader_moved", CellId: mv.Cell, Site: mv.ToSite, FromNode: mv.FromNode, ToNode: mv.ToNode, Reason: string(mv.Kind), DurationMs: took.Milliseconds()}
		if err != nil {
			ev.Kind, ev.Reason = "move_failed", string(mv.Kind)+": "+err.Error()
			k.c.logger.Warn("move failed", "cell", mv.Cell, "to", mv.ToNode, "error", err)
		} else {
			k.c.logger.Info("leader moved", "cell", mv.Cell, "from", mv.FromNode, "to", mv.ToNode, "kind", mv.Kind, "took", took)
			if k.c.recon != nil {
				k.c.recon.moved()
			}
		}
		ectx, ecancel := context.WithTimeout(context.Background(), k.c.cfg.MoveTimeout)
		defer ecancel()
		k.event(ectx, ev)
	}()
}

// event records ev, logging (not failing) when it cannot.
func (k *controller) event(ctx context.Context, ev *pb.MetaEvent) {
	k.c.metrics.event(ev.GetKind())
	if _, err := k.c.propose(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: ev}}); err != nil {
		k.c.logger.Warn("could not record an event", "kind", ev.GetKind(), "cell", ev.GetCellId(), "error", err)
	}
}

// checkFirstWrites records a first_write event for every watched cell a
// router has since written to through a new leader.
func (k *controller) checkFirstWrites(ctx context.Context, snap []observed, now time.Time) {
	k.mu.Lock()
	for id, m := range k.lastMoved {
		if w, ok := k.waits[id]; !ok || w.excludeSite == "" {
			k.waits[id] = firstWriteWait{since: m.at.Add(-m.duration), toNode: m.toNode, reason: "leader moved to " + m.toNode}
		}
		delete(k.lastMoved, id)
	}
	k.mu.Unlock()
	topo := k.c.cfg.Topology
	for id, w := range k.waits {
		if now.Sub(w.since) > firstWriteWaitMax {
			delete(k.waits, id)
			continue
		}
		var first time.Time
		var by string
		for _, o := range snap {
			for _, cw := range o.obs.GetWrites() {
				if cw.GetCellId() != id {
					continue
				}
				at := time.UnixMilli(cw.GetFirstOkUnixMs())
				n, _ := topo.Node(cw.GetLeaderNodeId())
				match := (w.toNode != "" && cw.GetLeaderNodeId() == w.toNode) || (w.excludeSite != "" && n.Site != "" && n.Site != w.excludeSite)
				if match && !at.Before(w.since) && (first.IsZero() || at.Before(first)) {
					first, by = at, cw.GetLeaderNodeId()
				}
			}
		}
		if first.IsZero() {
			continue
		}
		delete(k.waits, id)
		k.c.metrics.firstWrite(w, first.Sub(w.since))
		k.event(ctx, &pb.MetaEvent{Kind: "first_write", CellId: id, ToNode: by, Reason: w.reason, DurationMs: first.Sub(w.since).Milliseconds(), AtUnixMs: first.UnixMilli()})
	}
}

// moveVia asks node fromNode, the cell's leader, to move its leadership.
func (c *Control) moveVia(ctx context.Context, fromNode string, cellID uint64, toNode string) error {
	n, ok := c.cfg.Topology.Node(fromNode)
	if !ok {
		return fmt.Errorf("router: node %q is not in the topology", fromNode)
	}
	conn, err := c.conns.get(n.ClientAddr)
	if err != nil {
		return err
	}
	_, err = pb.NewControlClient(conn).MoveLeader(ctx, &pb.MoveLeaderRequest{CellId: cellID, TargetNodeId: toNode})
	return err
}

func siteStateToPB(s failover.SiteState) pb.SiteState {
	switch s {
	case failover.Suspect:
		return pb.SiteState_SITE_SUSPECT
	case failover.Down:
		return pb.SiteState_SITE_DOWN
	case failover.Drained:
		return pb.SiteState_SITE_DRAINED
	}
	return pb.SiteState_SITE_HEALTHY
}

func siteStateFromPB(s pb.SiteState) failover.SiteState {
	switch s {
	case pb.SiteState_SITE_SUSPECT:
		return failover.Suspect
	case pb.SiteState_SITE_DOWN:
		return failover.Down
	case pb.SiteState_SITE_DRAINED:
		return failover.Drained
	}
	return failover.Healthy
}

func reachFromPB(r pb.Reach) failover.Reach {
	switch r {
	case pb.Reach_REACH_OK:
		return failover.Reachable
	case pb.Reach_REACH_FAILED:
		return failover.Unreachable
	}
	return failover.Unknown
}
