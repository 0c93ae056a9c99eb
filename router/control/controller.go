package control

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/meta"
)

// moveRetryAfterFailureDuration is how long a cell whose move failed is
// left alone before the controller may move it again (one second: a few
// ticks, so a node that refuses does not get a move every tick).
const moveRetryAfterFailureDuration = time.Second

// controller is the failover controller's loop around failover.Decide. It
// runs on every meta voter and acts only while its meta replica leads, for
// one meta term at a time (the Raft term of the meta group in which it
// leads): every site change and every decision is recorded in the meta
// group, stamped with the term, before it is acted on, so a controller cut
// off from the meta quorum, or whose term is over, cannot act; every move
// carries the term, so nodes refuse the moves of an older term.
//
// Everything it holds in memory belongs to its term: when the term changes
// (even when the node lost and regained the meta leadership between two
// ticks) it is dropped, the term's moves are cancelled, and the next term
// starts from the meta group's records.
//
// It owns what controllerDeps gives it and reaches nothing else of Control.
type controller struct {
	controllerDeps

	requests chan drillRequest
	movesWG  sync.WaitGroup // the move goroutines of every term

	// Owned by the run goroutine; term 0: not leading.
	term     uint64
	termCtx  context.Context // ends with the term: cancels its moves
	endCtx   context.CancelFunc
	fenced   bool                 // a write or move was refused as stale: end the term
	state    failover.State       // as recorded in the meta group, plus timers
	versions map[string]uint64    // site -> version of its record
	rto      *failover.RTOTracker // the term's first-write watches
	drill    *pb.Drill            // the running or last drill
	book     *moveBook            // the term's moves
}

// moveBook records one term's moves. A move goroutine writes only to the
// book of its own term, so a move that outlives its term cannot touch the
// next term's state.
type moveBook struct {
	mu    sync.Mutex
	moves *failover.MoveTracker
	stale bool // a node refused a move as of an older term
}

func newMoveBook(settle time.Duration) *moveBook {
	return &moveBook{moves: failover.NewMoveTracker(moveRetryAfterFailureDuration, settle)}
}

func newController(deps controllerDeps) *controller {
	k := &controller{controllerDeps: deps, requests: make(chan drillRequest)}
	k.forget()
	return k
}

func (k *controller) run(ctx context.Context) {
	defer k.movesWG.Wait()
	defer k.obs.stop()
	defer k.endTerm("shutting down")
	tick := time.NewTicker(k.tickInterval)
	defer tick.Stop()
	for {
		k.obs.reconcile(ctx, k.targets())
		if k.follow(ctx) {
			k.tick()
		}
		k.metrics.sites(k.topo, k.state, k.term != 0)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case r := <-k.requests:
			r.reply <- k.handleDrill(ctx, r)
		}
	}
}

// metaTerm returns the meta term this replica leads in now, 0 if it does
// not lead. The term is read before and after the leadership check: terms
// only grow, so equal readings are the term of the leadership seen.
func (k *controller) metaTerm() uint64 {
	_, _, before := k.meta.Leader()
	if !k.meta.IsLeader() {
		return 0
	}
	if _, _, after := k.meta.Leader(); after != before {
		return 0 // the term moved under us: look again next tick
	}
	return before
}

// follow makes the controller's term the meta term its replica leads in:
// a term that changed or ended (or was fenced) is ended; a new one begins
// from the meta group's records. It reports whether the controller leads.
func (k *controller) follow(ctx context.Context) bool {
	term := k.metaTerm()
	switch {
	case k.term != 0 && k.fenced:
		k.endTerm("a write or move of the term was refused as stale")
	case k.term != 0 && k.book.isStale():
		k.endTerm("a node saw a newer controller term")
	case k.term != 0 && term != k.term:
		k.endTerm(fmt.Sprintf("the meta term is now %d", term))
	}
	if term == 0 {
		return false
	}
	if k.term == 0 && !k.beginTerm(ctx, term) {
		return false
	}
	return true
}

// beginTerm starts leading in term: it reads the meta group's records
// (after a linearizable read, so every write of earlier terms is in them)
// and starts from them.
func (k *controller) beginTerm(ctx context.Context, term uint64) bool {
	rctx, cancel := context.WithTimeout(ctx, k.moveTimeout)
	defer cancel()
	if err := k.meta.LinearizableRead(rctx); err != nil {
		return false
	}
	if k.metaTerm() != term {
		return false // lost it while reading
	}
	snap, err := meta.Read(k.meta.Reader(), 0, 0)
	if err != nil {
		k.logger.Error("reading the meta group", "error", err)
		return false
	}
	st, versions := stateFromRecords(snap)
	k.forget()
	k.term, k.state, k.versions, k.drill = term, st, versions, snap.Drill
	k.termCtx, k.endCtx = context.WithCancel(ctx)
	k.logger.Info("controller leading", "node", k.nodeID, "meta_term", term, "sites", len(st.Sites), "pins", len(st.Pins))
	return true
}

// endTerm drops everything held for the current term and cancels its
// moves (a transfer a node has already begun completes or times out in
// Raft; no new one starts, and nodes refuse the old term once they see a
// newer one).
func (k *controller) endTerm(why string) {
	if k.term == 0 {
		return
	}
	k.logger.Info("controller no longer leading", "node", k.nodeID, "meta_term", k.term, "why", why)
	k.endCtx()
	k.forget()
}

// forget resets the in-memory state to that of a controller that leads in
// no term.
func (k *controller) forget() {
	k.term, k.termCtx, k.endCtx, k.fenced = 0, nil, nil, false
	k.state = failover.State{Sites: map[string]failover.SiteStatus{}, Pins: map[uint64]string{}, BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}}
	k.versions, k.rto, k.drill, k.book = map[string]uint64{}, failover.NewRTOTracker(failover.FirstWriteWaitMax), nil, newMoveBook(k.settle)
}

func (b *moveBook) isStale() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stale
}

// stateFromRecords is the controller's state as the meta group records it
// (BadSince and GoodSince are timed afresh), and each site record's
// version.
func stateFromRecords(snap *meta.Snapshot) (failover.State, map[string]uint64) {
	st := failover.State{Sites: map[string]failover.SiteStatus{}, Pins: map[uint64]string{}, BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}}
	versions := map[string]uint64{}
	for _, s := range snap.Sites {
		ss := failover.SiteStatus{State: siteStateFromPB(s.GetState()), Reason: s.GetReason(), Failures: int(min(s.GetFailures(), failover.FailuresMax))}
		if s.GetSinceUnixMs() > 0 {
			ss.Since = time.UnixMilli(s.GetSinceUnixMs())
		}
		st.Sites[s.GetSite()] = ss
		versions[s.GetSite()] = s.GetVersion()
	}
	for _, p := range snap.Pins {
		st.Pins[p.GetCellId()] = p.GetSite()
	}
	return st, versions
}

// siteRecord is the meta record of a site's status.
func siteRecord(site string, s failover.SiteStatus) *pb.SiteRecord {
	rec := &pb.SiteRecord{Site: site, State: siteStateToPB(s.State), Reason: s.Reason, Failures: uint32(min(max(s.Failures, 0), failover.FailuresMax))}
	if !s.Since.IsZero() {
		rec.SinceUnixMs = s.Since.UnixMilli()
	}
	return rec
}

// record proposes cmd as the controller of the current term; a refusal as
// stale (an older term, a changed record) ends the term at the next
// follow, so that the next term starts from the records.
func (k *controller) record(ctx context.Context, cmd *pb.MetaCommand) (meta.Result, error) {
	r, err := k.proposer.proposeAs(ctx, k.term, cmd)
	if errors.Is(err, meta.ErrStaleTerm) || errors.Is(err, meta.ErrSiteChanged) {
		k.fenced = true
	}
	return r, err
}

// setSite records a site's status, conditional on the record's version
// the controller last read or wrote, and adopts it.
func (k *controller) setSite(ctx context.Context, site string, s failover.SiteStatus) (*pb.SiteRecord, error) {
	rec := siteRecord(site, s)
	r, err := k.record(ctx, &pb.MetaCommand{Op: &pb.MetaCommand_SetSite{SetSite: rec}, ExpectedSiteVersion: k.versions[site]})
	if err != nil {
		return nil, err
	}
	k.versions[site] = r.Version
	k.state.Sites[site] = s
	return rec, nil
}

// targets are every node and every router known from gossip.
func (k *controller) targets() []observerTarget {
	var out []observerTarget
	for _, n := range k.topo.Nodes() {
		out = append(out, observerTarget{id: n.ID, kind: observerKindNode, addr: n.ClientAddr})
	}
	if k.routers != nil {
		for _, r := range k.routers() {
			out = append(out, observerTarget{id: r.ID, kind: observerKindRouter, addr: r.Addr})
		}
	}
	return out
}

// input builds failover.Input from the observers' newest reports.
func (k *controller) input(now time.Time) (failover.Input, []observed) {
	topo := k.topo
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
		if o.obs.GetKind() == observerKindNode && now.Sub(o.at) <= k.observationAgeMax {
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
	b := k.book
	b.mu.Lock()
	in.Moving = b.moves.Moving(now)
	b.mu.Unlock()
	return in, snap
}

// tick is one round of the controller on the meta leader, in its term.
func (k *controller) tick() {
	now := k.now()
	in, snap := k.input(now)
	out := failover.Decide(k.failover, k.state, in)
	pctx, cancel := context.WithTimeout(k.termCtx, k.moveTimeout)
	defer cancel()
	for _, ch := range out.Changes {
		rec, err := k.setSite(pctx, ch.Site, out.State.Sites[ch.Site])
		if err != nil {
			k.logger.Warn("could not record a site change; not acting", "site", ch.Site, "to", ch.To, "meta_term", k.term, "error", err)
			return
		}
		k.event(pctx, k.term, &pb.MetaEvent{Kind: string(EventSiteState), Site: ch.Site, State: rec.State, Reason: ch.Reason})
		k.logger.Info("site state", "site", ch.Site, "from", ch.From, "to", ch.To, "reason", ch.Reason, "failures", ch.Failures)
		if ch.To == failover.Down || ch.From == failover.Down {
			k.kickReconcile() // A failover or a recovery: reconcile once it is quiet.
		}
		if ch.From == failover.Healthy && ch.To == failover.Suspect {
			k.rto.WatchFault(ch.Site, in.Cells, now)
		}
	}
	k.state = out.State
	for _, mv := range out.Moves {
		if _, err := k.record(pctx, &pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: &pb.MetaEvent{
			Kind: string(EventDecision), CellId: mv.Cell, Site: mv.ToSite, FromNode: mv.FromNode, ToNode: mv.ToNode, Reason: string(mv.Kind) + ": " + mv.Reason,
		}}}); err != nil {
			k.logger.Warn("could not record a decision; not acting", "cell", mv.Cell, "meta_term", k.term, "error", err)
			return
		}
		k.startMove(mv)
	}
	k.checkFirstWrites(pctx, snap, now)
	k.drillTick(pctx, in, snap, now)
}

// kickReconcile tells the automatic reconciler, if any, a leader moved.
func (k *controller) kickReconcile() {
	if k.reconcileKick != nil {
		k.reconcileKick()
	}
}

// startMove runs one move of the current term in the background, bounded
// by MoveTimeout and cancelled when the term ends.
func (k *controller) startMove(mv failover.Move) {
	term, ctx, b := k.term, k.termCtx, k.book
	b.mu.Lock()
	b.moves.Started(mv.Cell, mv.Kind)
	b.mu.Unlock()
	k.movesWG.Go(func() {
		start := k.now()
		mctx, cancel := context.WithTimeout(ctx, k.moveTimeout)
		defer cancel()
		err := k.mover.moveLeader(mctx, term, mv.FromNode, mv.Cell, mv.ToNode)
		end := k.now()
		took := end.Sub(start)
		k.metrics.moved(mv.Kind, err)
		b.mu.Lock()
		b.moves.Finished(mv.Cell, mv.ToNode, err == nil, end, took)
		b.stale = b.stale || (err != nil && rpcstatus.Reason(err) == rpcstatus.ReasonStaleTerm)
		b.mu.Unlock()
		ev := &pb.MetaEvent{Kind: string(EventLeaderMoved), CellId: mv.Cell, Site: mv.ToSite, FromNode: mv.FromNode, ToNode: mv.ToNode, Reason: string(mv.Kind), DurationMs: took.Milliseconds()}
		if err != nil {
			ev.Kind, ev.Reason = string(EventMoveFailed), string(mv.Kind)+": "+err.Error()
			k.logger.Warn("move failed", "cell", mv.Cell, "to", mv.ToNode, "error", err)
		} else {
			k.logger.Info("leader moved", "cell", mv.Cell, "from", mv.FromNode, "to", mv.ToNode, "kind", mv.Kind, "took", took)
			k.kickReconcile()
		}
		// Recorded even after the term was cancelled (the move's outcome
		// is worth keeping), but stamped with its term: the meta group
		// refuses it if that term is over.
		ectx, ecancel := context.WithTimeout(context.Background(), k.moveTimeout)
		defer ecancel()
		k.event(ectx, term, ev)
	})
}

// event records ev as the controller of term, logging (not failing) when
// it cannot. Safe from any goroutine.
func (k *controller) event(ctx context.Context, term uint64, ev *pb.MetaEvent) {
	k.metrics.event(EventKind(ev.GetKind()))
	if _, err := k.proposer.proposeAs(ctx, term, &pb.MetaCommand{Op: &pb.MetaCommand_Event{Event: ev}}); err != nil {
		k.logger.Warn("could not record an event", "kind", ev.GetKind(), "cell", ev.GetCellId(), "meta_term", term, "error", err)
	}
}

// checkFirstWrites feeds the term's completed moves and the routers'
// first writes to the RTO tracker, and records a first_write event for
// every recovery time it measures.
func (k *controller) checkFirstWrites(ctx context.Context, snap []observed, now time.Time) {
	b := k.book
	b.mu.Lock()
	completed := b.moves.TakeCompleted()
	b.mu.Unlock()
	for _, m := range completed {
		k.rto.WatchMove(m.Cell, m.Start, m.ToNode)
	}
	measured, expired := k.rto.Observe(now, k.firstWrites(snap))
	for _, e := range expired {
		k.logger.Debug("no first write seen", "cell", e.Cell, "cause", e.Cause, "why", e.Reason, "waited_max", failover.FirstWriteWaitMax)
	}
	for _, m := range measured {
		k.metrics.firstWrite(m.Cause, m.Duration)
		k.event(ctx, k.term, &pb.MetaEvent{Kind: string(EventFirstWrite), CellId: m.Cell, ToNode: m.By, Reason: m.Reason, DurationMs: m.Duration.Milliseconds(), AtUnixMs: m.At.UnixMilli()})
	}
}

// firstWrites are the first writes the observers report, with their
// leaders' sites.
func (k *controller) firstWrites(snap []observed) []failover.Write {
	var out []failover.Write
	for _, o := range snap {
		for _, cw := range o.obs.GetWrites() {
			n, _ := k.topo.Node(cw.GetLeaderNodeId())
			out = append(out, failover.Write{Cell: cw.GetCellId(), LeaderNode: cw.GetLeaderNodeId(), LeaderSite: n.Site, At: time.UnixMilli(cw.GetFirstOkUnixMs())})
		}
	}
	return out
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
