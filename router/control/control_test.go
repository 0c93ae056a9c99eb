package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/meta"
)

// Term fencing of the control plane, on three local replication hosts (no
// cell nodes, no cluster): hz-a-1, hz-b-1 and sh-a-1, one per site.

// Bounds of the helpers: local replicas elect and transfer leadership in
// well under a second; these only fire when something is stuck.
const (
	electionWaitMax = 20 * time.Second
	callTimeoutMax  = 20 * time.Second
)

// fenceNodes are the test's nodes.
var fenceNodes = []string{"hz-a-1", "hz-b-1", "sh-a-1"}

// fenceWorld is a replication host per node, a topology naming them, and
// each node's client address served by a fakeControl.
type fenceWorld struct {
	topo  *topology.Topology
	hosts map[string]*replication.Host
	fakes map[string]*fakeControl
}

func newFenceWorld(t *testing.T) *fenceWorld {
	t.Helper()
	w := &fenceWorld{hosts: map[string]*replication.Host{}, fakes: map[string]*fakeControl{}}
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Cells: []topology.Cell{{ID: 1, Home: "hz-a", Replicas: fenceNodes,
			Slots: []topology.SlotRange{{First: 0, Last: topology.Slots - 1}}}},
	}
	for _, id := range fenceNodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := replication.DefaultConfig()
		cfg.NodeID, cfg.DataDir, cfg.Listener, cfg.AdvertiseAddr = id, t.TempDir(), ln, ln.Addr().String()
		cfg.RaftLogOutput = io.Discard
		cfg.HeartbeatIntervalMin = 20 * time.Millisecond
		cfg.Storage.CacheSizeBytes = 8 << 20
		cfg.Storage.MemTableSizeBytes = 4 << 20
		host, err := replication.NewHost(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := host.Close(); err != nil {
				t.Errorf("closing host %s: %v", id, err)
			}
		})
		w.hosts[id] = host
		w.fakes[id] = startFakeControl(t)
		spec.Nodes = append(spec.Nodes, topology.Node{ID: id, Site: id[:len("hz-a")], RaftAddr: host.Addr(), ClientAddr: w.fakes[id].addr})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	w.topo = topo
	return w
}

// startGroup starts group id with sm on every host and returns its
// replicas once hz-a-1's leads.
func (w *fenceWorld) startGroup(t *testing.T, id uint64, sm func() replication.StateMachine) map[string]*replication.Group {
	t.Helper()
	var peers []replication.Peer
	for _, n := range fenceNodes {
		peers = append(peers, replication.Peer{NodeID: n, Addr: w.hosts[n].Addr()})
	}
	gs := map[string]*replication.Group{}
	for _, n := range fenceNodes {
		g, err := w.hosts[n].StartGroup(id, sm(), peers)
		if err != nil {
			t.Fatal(err)
		}
		gs[n] = g
	}
	waitLeader(t, gs, "")
	lead(t, gs, "hz-a-1")
	return gs
}

// waitLeader waits until some replica of gs leads, other than not.
func waitLeader(t *testing.T, gs map[string]*replication.Group, not string) string {
	t.Helper()
	for deadline := time.Now().Add(electionWaitMax); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for n, g := range gs {
			if n != not && g.IsLeader() {
				return n
			}
		}
	}
	t.Fatalf("no replica leads within %s", electionWaitMax)
	return ""
}

// lead moves the leadership of gs to node (by hand, as Raft does) and
// waits until node's replica knows it leads.
func lead(t *testing.T, gs map[string]*replication.Group, node string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), electionWaitMax)
	defer cancel()
	for !gs[node].IsLeader() {
		for n, g := range gs {
			if n != node && g.IsLeader() {
				if err := g.TransferLeadership(ctx, node); err != nil {
					t.Fatalf("moving the leadership to %s: %v", node, err)
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%s does not lead within %s", node, electionWaitMax)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leaderOf(g *replication.Group) string {
	id, _, _ := g.Leader()
	return id
}

// control is a started Control of node bound to its host (and to its meta
// replica, if given), without a cell node.
func (w *fenceWorld) control(t *testing.T, node string, metaGroup *replication.Group) *Control {
	t.Helper()
	cfg := DefaultControlConfig()
	cfg.Topology = w.topo
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	// Long enough that a move ending early was cancelled, not timed out.
	cfg.MoveTimeout = time.Minute
	c, err := NewControl(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.conns.Close() })
	c.host, c.meta, c.started = w.hosts[node], metaGroup, true
	return c
}

// nopFSM is a state machine without state: the cell group of the move
// tests, where only leadership matters.
type nopFSM struct{}

func (nopFSM) Apply(*replication.Tx, replication.Entry) any { return nil }
func (nopFSM) Restored(uint64)                              {}

// fakeControl is a node's Control service whose MoveLeader hangs until
// its call ends, reporting the term it was asked for and how the call
// ended.
type fakeControl struct {
	pb.UnimplementedControlServer
	addr  string
	asked chan uint64 // the controller_term of each MoveLeader
	ended chan error  // each MoveLeader's context error
}

func startFakeControl(t *testing.T) *fakeControl {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeControl{addr: ln.Addr().String(), asked: make(chan uint64, 16), ended: make(chan error, 16)}
	srv := grpc.NewServer()
	pb.RegisterControlServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f
}

func (f *fakeControl) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	f.asked <- req.GetControllerTerm()
	select {
	case <-ctx.Done():
	case <-time.After(callTimeoutMax):
	}
	f.ended <- ctx.Err()
	return nil, status.Error(codes.Aborted, "fake: the move never completes")
}

// wantStaleTerm checks that err is the STALE_TERM refusal of term, with
// newest the newest term seen.
func wantStaleTerm(t *testing.T, what string, err error, term, newest uint64) {
	t.Helper()
	if status.Code(err) != codes.FailedPrecondition || rpcstatus.Reason(err) != rpcstatus.ReasonStaleTerm {
		t.Fatalf("%s: %v (reason %q), want FAILED_PRECONDITION with reason %s", what, err, rpcstatus.Reason(err), rpcstatus.ReasonStaleTerm)
	}
	info, _ := rpcstatus.Info(err)
	if got := info.GetMetadata(); got[rpcstatus.MetaControllerTerm] != strconv.FormatUint(term, 10) || got[rpcstatus.MetaControllerTermMax] != strconv.FormatUint(newest, 10) {
		t.Fatalf("%s: metadata %v, want %s=%d and %s=%d", what, got, rpcstatus.MetaControllerTerm, term, rpcstatus.MetaControllerTermMax, newest)
	}
}

// TestMoveLeaderRefusesAnOlderControllerTerm: once a node has seen a
// controller of term 7, a move of term 5 is refused with STALE_TERM and
// moves nothing, whether or not the node leads the cell; newer and equal
// terms move, and so does a move by hand (term 0), which is not fenced.
func TestMoveLeaderRefusesAnOlderControllerTerm(t *testing.T) {
	w := newFenceWorld(t)
	gs := w.startGroup(t, 1, func() replication.StateMachine { return nopFSM{} })
	hza, sha := w.control(t, "hz-a-1", nil), w.control(t, "sh-a-1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeoutMax)
	defer cancel()
	move := func(c *Control, to string, term uint64) error {
		_, err := c.MoveLeader(ctx, &pb.MoveLeaderRequest{CellId: 1, TargetNodeId: to, ControllerTerm: term})
		return err
	}

	// hz-a-1 sees term 7 (a move to where the leader already is).
	if err := move(hza, "hz-a-1", 7); err != nil {
		t.Fatal(err)
	}
	err := move(hza, "sh-a-1", 5)
	wantStaleTerm(t, "a move of term 5 after term 7", err, 5, 7)
	if l := leaderOf(gs["hz-a-1"]); l != "hz-a-1" || !gs["hz-a-1"].IsLeader() {
		t.Fatalf("after the refused move the leader is %q, want hz-a-1 still", l)
	}

	// By hand, without a term: not fenced, and the newest term stays 7.
	if err := move(hza, "sh-a-1", 0); err != nil {
		t.Fatalf("a move by hand (term 0): %v", err)
	}
	if l := leaderOf(gs["hz-a-1"]); l != "sh-a-1" {
		t.Fatalf("after the move by hand the leader is %q, want sh-a-1", l)
	}
	wantStaleTerm(t, "term 6 after a move by hand", move(hza, "sh-a-1", 6), 6, 7)

	// Each node fences on its own: sh-a-1 has seen no term yet.
	if err := move(sha, "hz-a-1", 7); err != nil {
		t.Fatalf("term 7 on sh-a-1: %v", err)
	}
	if l := leaderOf(gs["sh-a-1"]); l != "hz-a-1" {
		t.Fatalf("the leader is %q, want hz-a-1", l)
	}
	// The fence comes first: sh-a-1 no longer leads, yet the answer is
	// STALE_TERM, not NOT_LEADER.
	wantStaleTerm(t, "term 6 on a node that does not lead", move(sha, "hz-a-1", 6), 6, 7)

	// A newer term moves, and becomes the newest.
	if err := move(hza, "sh-a-1", 8); err != nil {
		t.Fatalf("term 8: %v", err)
	}
	if l := leaderOf(gs["hz-a-1"]); l != "sh-a-1" {
		t.Fatalf("after the move of term 8 the leader is %q, want sh-a-1", l)
	}
	wantStaleTerm(t, "term 7 after term 8", move(hza, "hz-a-1", 7), 7, 8)
}

// TestControllerStartsAfreshWhenItsMetaTermChanges: a controller leads in
// a term, records a site and holds unrecorded state, a drill and a move
// in flight; its meta replica loses and regains the leadership between two
// ticks. Its write with its old view is refused; at its next tick it ends
// the old term (the move is cancelled, its outcome not recorded) and
// starts the new term from the meta group's records alone.
func TestControllerStartsAfreshWhenItsMetaTermChanges(t *testing.T) {
	w := newFenceWorld(t)
	metas := w.startGroup(t, meta.GroupID, func() replication.StateMachine { return meta.FSM{} })
	c := w.control(t, "hz-a-1", metas["hz-a-1"])
	k := newController(c.controllerDeps())
	ctx, cancel := context.WithTimeout(context.Background(), callTimeoutMax)
	defer cancel()

	if !k.follow(ctx) {
		t.Fatal("the controller does not lead although its meta replica does")
	}
	oldTerm, oldTermCtx, oldBook := k.term, k.termCtx, k.book
	now := time.UnixMilli(1_900_000_000_000)
	shaDown := failover.SiteStatus{State: failover.Down, Since: now, Reason: "test", Failures: 3}
	if _, err := k.setSite(ctx, "sh-a", shaDown); err != nil {
		t.Fatal(err)
	}
	// In memory only: never recorded.
	k.state.Sites["hz-a"] = failover.SiteStatus{State: failover.Down, Since: now, Reason: "unrecorded"}
	k.state.BadSince["hz-a"] = now
	k.rto.WatchFault("hz-a", []failover.CellView{{ID: 1, Home: "hz-a"}}, now)
	k.drill = &pb.Drill{Id: "unrecorded", State: pb.DrillState_DRILL_RUNNING}
	// A move in flight: sh-a-1's (fake) Control hangs on it.
	k.startMove(failover.Move{Cell: 1, FromNode: "sh-a-1", ToNode: "hz-a-1", FromSite: "sh-a", ToSite: "hz-a", Kind: failover.Failover})
	select {
	case term := <-w.fakes["sh-a-1"].asked:
		if term != oldTerm {
			t.Fatalf("the move carries controller term %d, want the meta term %d", term, oldTerm)
		}
	case <-ctx.Done():
		t.Fatal("the move never reached sh-a-1")
	}

	// Between two ticks: lost and regained.
	lead(t, metas, "sh-a-1")
	lead(t, metas, "hz-a-1")
	_, _, newTerm := metas["hz-a-1"].Leader()
	if newTerm <= oldTerm {
		t.Fatalf("meta term %d after regaining the leadership, want more than %d", newTerm, oldTerm)
	}

	// The stale controller's write is refused and changes nothing.
	_, err := k.setSite(ctx, "sh-a", failover.SiteStatus{State: failover.Healthy, Since: now.Add(time.Second), Reason: "stale view"})
	if !errors.Is(err, meta.ErrStaleTerm) {
		t.Fatalf("a write of term %d in term %d: %v, want meta.ErrStaleTerm", oldTerm, newTerm, err)
	}
	snap, err := meta.Read(metas["hz-a-1"].Reader(), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sites) != 1 || snap.Sites[0].GetState() != pb.SiteState_SITE_DOWN || snap.Sites[0].GetVersion() != 1 {
		t.Fatalf("site records %v after the refused write, want sh-a down at version 1", snap.Sites)
	}

	// The next tick.
	if !k.follow(ctx) {
		t.Fatal("the controller does not lead in the new term")
	}
	if k.term != newTerm {
		t.Fatalf("the controller acts for term %d, want %d", k.term, newTerm)
	}
	select {
	case <-oldTermCtx.Done():
	default:
		t.Fatal("the old term's context was not cancelled")
	}
	select {
	case err := <-w.fakes["sh-a-1"].ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the move in flight ended with %v, want it cancelled", err)
		}
	case <-ctx.Done():
		t.Fatal("the move in flight was not cancelled")
	}
	k.movesWG.Wait() // bounded: the move's context is cancelled

	// Only what the meta group records: sh-a down with its failures.
	if got, want := len(k.state.Sites), 1; got != want {
		t.Fatalf("sites %+v, want sh-a only", k.state.Sites)
	}
	if got := k.state.Sites["sh-a"]; got.State != failover.Down || got.Failures != 3 || !got.Since.Equal(now) {
		t.Fatalf("sh-a %+v, want down since %s with 3 failures", got, now)
	}
	if len(k.state.BadSince) != 0 || len(k.state.GoodSince) != 0 || k.rto.Watching() != 0 || k.drill != nil {
		t.Fatalf("state of the old term kept: BadSince %v GoodSince %v watches %d drill %v", k.state.BadSince, k.state.GoodSince, k.rto.Watching(), k.drill)
	}
	if k.book == oldBook || k.book.moves.Tracked() != 0 {
		t.Fatalf("the old term's moves are still followed: %d moving or held back", k.book.moves.Tracked())
	}
	if k.versions["sh-a"] != 1 {
		t.Fatalf("sh-a's record at version %d, want 1", k.versions["sh-a"])
	}

	// The cancelled move's outcome, of the old term, was not recorded.
	snap, err = meta.Read(metas["hz-a-1"].Reader(), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range snap.Events {
		if ev.GetKind() == "move_failed" || ev.GetKind() == "leader_moved" {
			t.Fatalf("event %v of the old term recorded", ev)
		}
	}

	// The new term writes, stamped with its term.
	if _, err := k.setSite(ctx, "sh-a", failover.SiteStatus{State: failover.Healthy, Since: now.Add(time.Second), Reason: "recovered", Failures: 3}); err != nil {
		t.Fatal(err)
	}
	snap, err = meta.Read(metas["hz-a-1"].Reader(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := snap.Sites[0]; r.GetVersion() != 2 || r.GetControllerTerm() != newTerm || r.GetFailures() != 3 {
		t.Fatalf("sh-a's record %v, want version 2 of term %d with 3 failures", r, newTerm)
	}

	// Losing the leadership ends the term too.
	lead(t, metas, "sh-a-1")
	termCtx := k.termCtx
	if k.follow(ctx) {
		t.Fatal("the controller leads although its meta replica does not")
	}
	if k.term != 0 || termCtx.Err() == nil || len(k.state.Sites) != 0 {
		t.Fatalf("after losing the leadership: term %d, context %v, sites %v", k.term, termCtx.Err(), k.state.Sites)
	}
}

// seeObservations puts fresh reports of every node in k's observer cache,
// as its pollers would: every site reachable, cell 1 led by leader at
// applied index 10 on every replica.
func seeObservations(k *controller, leader string) {
	k.obs.mu.Lock()
	defer k.obs.mu.Unlock()
	for _, n := range fenceNodes {
		o := &pb.Observation{ObserverId: n, ObserverSite: n[:len("hz-a")], Kind: "node",
			Replicas: []*pb.ReplicaInfo{{CellId: 1, Leader: n == leader, LeaderId: leader, Term: 3, AppliedIndex: 10}}}
		for _, s := range []string{"hz-a", "hz-b", "sh-a"} {
			o.Sites = append(o.Sites, &pb.SiteReach{Site: s, Backbone: pb.Reach_REACH_OK})
		}
		k.obs.latest[n] = observed{obs: o, at: k.now()}
	}
}

// TestDrillsGoThroughTheControllerOfTheTerm: an evacuation, its abort, a
// failback and a move drill record their site states, pins and drills as
// the controller of the current term (the meta group refuses such records
// without one), the drill's move carries the term, a drain keeps the
// site's failure count and a failback drill forgives it.
func TestDrillsGoThroughTheControllerOfTheTerm(t *testing.T) {
	w := newFenceWorld(t)
	metas := w.startGroup(t, meta.GroupID, func() replication.StateMachine { return meta.FSM{} })
	c := w.control(t, "hz-a-1", metas["hz-a-1"])
	k := newController(c.controllerDeps())
	ctx, cancel := context.WithTimeout(context.Background(), callTimeoutMax)
	defer cancel()
	defer func() {
		k.endTerm("the test is over") // cancels the drill's move in flight
		k.movesWG.Wait()
	}()
	if !k.follow(ctx) {
		t.Fatal("the controller does not lead although its meta replica does")
	}
	term := k.term
	if _, err := k.setSite(ctx, "hz-a", failover.SiteStatus{State: failover.Healthy, Since: time.Now().Add(-time.Hour), Reason: "test", Failures: 2}); err != nil {
		t.Fatal(err)
	}
	seeObservations(k, "hz-a-1")
	drill := func(req *pb.DrillRequest) *pb.Drill {
		t.Helper()
		rep := k.handleDrill(ctx, drillRequest{start: req, operator: "alice"})
		if rep.err != nil {
			t.Fatalf("drill %v: %v", req, rep.err)
		}
		return rep.drill
	}
	site := func(id string) *pb.SiteRecord {
		t.Helper()
		snap, err := meta.Read(metas["hz-a-1"].Reader(), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range snap.Sites {
			if r.GetSite() == id {
				return r
			}
		}
		t.Fatalf("no record of site %s", id)
		return nil
	}

	d := drill(&pb.DrillRequest{Kind: "evacuate", Site: "hz-a"})
	if len(d.GetMoves()) != 1 || d.GetMoves()[0].GetToNode() != "hz-b-1" {
		t.Fatalf("evacuation plan %v, want cell 1 to hz-b-1", d.GetMoves())
	}
	if r := site("hz-a"); r.GetState() != pb.SiteState_SITE_DRAINED || r.GetFailures() != 2 || r.GetControllerTerm() != term || r.GetVersion() != 2 {
		t.Fatalf("hz-a's record %v, want drained, 2 failures, version 2 of term %d", r, term)
	}
	k.tick() // the controller makes the drill's move, for its term
	select {
	case got := <-w.fakes["hz-a-1"].asked:
		if got != term {
			t.Fatalf("the drill's move carries controller term %d, want %d", got, term)
		}
	case <-ctx.Done():
		t.Fatal("the drill's move never reached hz-a-1")
	}

	if rep := k.handleDrill(ctx, drillRequest{operator: "alice"}); rep.err != nil || rep.drill.GetState() != pb.DrillState_DRILL_ABORTED {
		t.Fatalf("abort: %v %v", rep.drill, rep.err)
	}
	if r := site("hz-a"); r.GetState() != pb.SiteState_SITE_HEALTHY || r.GetFailures() != 2 {
		t.Fatalf("hz-a's record after the abort %v, want healthy with its 2 failures", r)
	}
	drill(&pb.DrillRequest{Kind: "failback", Site: "hz-a"})
	if r := site("hz-a"); r.GetState() != pb.SiteState_SITE_HEALTHY || r.GetFailures() != 0 || r.GetSinceUnixMs() != 0 || r.GetControllerTerm() != term {
		t.Fatalf("hz-a's record after the failback drill %v, want healthy, hold-down waived, failures forgiven", r)
	}
	k.tick() // cell 1 leads at home: the failback drill ends
	if k.drill.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("failback drill %v, want succeeded", k.drill)
	}
	drill(&pb.DrillRequest{Kind: "move", CellId: 1, TargetSite: "sh-a"})
	snap, err := meta.Read(metas["hz-a-1"].Reader(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Pins) != 1 || snap.Pins[0].GetSite() != "sh-a" || snap.Drill.GetKind() != "move" || snap.Drill.GetState() != pb.DrillState_DRILL_RUNNING {
		t.Fatalf("pins %v, drill %v; want cell 1 pinned to sh-a by a running move drill", snap.Pins, snap.Drill)
	}
}
