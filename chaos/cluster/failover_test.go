package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/replication/replicationtest"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/meta"
)

// rtoBound is the generous CI bound on cut -> first successful write.
const rtoBound = 10 * time.Second

// testOperatorToken is the operator token the failover tests configure.
const testOperatorToken = "drill-token-for-tests"

// startFailoverCluster starts three sites with six cells (two homed in
// each site), emulated RTTs, leaders at home, and a short hold-down.
func startFailoverCluster(t testing.TB, holdDown time.Duration) *Cluster {
	t.Helper()
	c, err := Start(Config{Dir: t.TempDir(), Seed: 1, Cells: 6, EmulateRTT: true, Control: func(cc *control.ControlConfig) {
		cc.Failover.HoldDown = holdDown
		cc.Operators = map[string]string{"alice": control.TokenSHA256(testOperatorToken)}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitLeaders(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.LeadersHome(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every cell leads at home", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	return c
}

// waitFor waits until cond holds (replicationtest.EventuallyNoError) and
// returns how long that took; cond also describes what it sees, and the
// failure message carries the last description.
func waitFor(t testing.TB, bound time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return replicationtest.EventuallyNoError(t, bound, func() error {
		if ok, state := cond(); !ok {
			return fmt.Errorf("last: %s", state)
		}
		return nil
	}, what)
}

func siteOf(c *Cluster, nodeID string) string {
	n, _ := c.Topology.Node(nodeID)
	return n.Site
}

func homeSite(c *Cluster, cellID uint64) string {
	cl, _ := c.Topology.Cell(cellID)
	return cl.Home
}

// leadersWhere reports whether every cell's leader is in want(cell).
func leadersWhere(c *Cluster, want func(*Cluster, uint64) string) bool {
	for _, cl := range c.Topology.Cells() {
		if l := c.Leader(cl.ID); l == "" || siteOf(c, l) != want(c, cl.ID) {
			return false
		}
	}
	return true
}

func leaderMap(c *Cluster) string {
	var parts []string
	for _, cl := range c.Topology.Cells() {
		parts = append(parts, fmt.Sprintf("cell %d (home %s): %s", cl.ID, cl.Home, c.Leader(cl.ID)))
	}
	return strings.Join(parts, ", ")
}

// cellsHomedIn lists the cells homed in site.
func cellsHomedIn(c *Cluster, site string) []uint64 {
	var out []uint64
	for _, cl := range c.Topology.Cells() {
		if cl.Home == site {
			out = append(out, cl.ID)
		}
	}
	return out
}

// metaStatus asks the meta voters (directly, not through the fabric) for
// the meta group's records, preferring the leader's answer.
func metaStatus(t testing.TB, c *Cluster) *pb.MetaStatus {
	t.Helper()
	var any *pb.MetaStatus
	for _, n := range meta.Voters(c.Topology) {
		conn, err := grpc.NewClient(n.ClientAddr, c.DialOption(auth.RoleOperator))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ms, err := pb.NewControlClient(conn).GetMetaStatus(ctx, &pb.MetaStatusRequest{EventsMax: 1000, AuditMax: 100})
		cancel()
		_ = conn.Close()
		if err != nil {
			continue
		}
		if ms.GetAnsweredBy() == ms.GetMetaLeaderId() {
			return ms
		}
		any = ms
	}
	if any == nil {
		t.Fatal("no meta voter answered")
	}
	return any
}

func siteState(ms *pb.MetaStatus, site string) pb.SiteState {
	for _, s := range ms.GetSites() {
		if s.GetSite() == site {
			return s.GetState()
		}
	}
	return pb.SiteState_SITE_HEALTHY
}

// rtoReport logs cut -> first write per cell and returns the values.
func rtoReport(t *testing.T, l *steadyLoad, cells []uint64, cut time.Time) []time.Duration {
	t.Helper()
	var rtos []time.Duration
	for _, id := range cells {
		at, ok := l.firstOKAfter(id, cut)
		if !ok {
			t.Errorf("cell %d: no successful write after the cut", id)
			continue
		}
		rto := at.Sub(cut)
		rtos = append(rtos, rto)
		t.Logf("cell %d: RTO (cut -> first successful write) %s", id, rto.Round(time.Millisecond))
		if rto > rtoBound {
			t.Errorf("cell %d: RTO %s, more than the bound %s", id, rto, rtoBound)
		}
	}
	sort.Slice(rtos, func(i, j int) bool { return rtos[i] < rtos[j] })
	return rtos
}

// Tests 1 and 4: a fiber cut of hz-a (every link to and from it, clients'
// too) while clients keep transferring; every cell homed in hz-a gets a
// leader in hz-b and serves writes; nothing acknowledged is lost. Then the
// fiber is repaired: after the hold-down, cells return home in waves with
// no client-visible errors.
func TestFiberCutFailsOverToSameRegionThenFailsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	load := startLoad(t, c)
	time.Sleep(time.Second)

	cut := time.Now()
	c.Fabric.Isolate("hz-a")
	c.Fabric.CutIngress("hz-a")
	hzA := cellsHomedIn(c, "hz-a")
	took := waitFor(t, 20*time.Second, "hz-a's cells lead in hz-b", func() (bool, string) {
		for _, id := range hzA {
			if l := c.Leader(id); l == "" || siteOf(c, l) != "hz-b" {
				return false, leaderMap(c)
			}
		}
		return true, ""
	})
	t.Logf("hz-a's cells lead in hz-b %s after the cut", took.Round(time.Millisecond))
	waitFor(t, 15*time.Second, "every hz-a cell writes again", func() (bool, string) {
		for _, id := range hzA {
			if _, ok := load.firstOKAfter(id, cut.Add(took)); !ok {
				return false, fmt.Sprintf("cell %d has no write yet", id)
			}
		}
		return true, ""
	})
	rtoReport(t, load, hzA, cut)
	waitFor(t, 10*time.Second, "the meta group records hz-a down", func() (bool, string) {
		st := siteState(metaStatus(t, c), "hz-a")
		return st == pb.SiteState_SITE_DOWN, st.String()
	})
	duringCut := load.failureCount()
	t.Logf("client-visible errors during the cut: %d", duringCut)

	c.Fabric.HealAll()
	healed := time.Now()
	waitFor(t, 40*time.Second, "every cell leads at home again", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	t.Logf("failback complete %s after the repair", time.Since(healed).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	load.stop()
	if errs := load.failuresFrom(duringCut); len(errs) > 0 {
		t.Errorf("%d client-visible errors during failback, first: %v", len(errs), errs[0])
	}
	ms := metaStatus(t, c)
	var failbacks, moved int
	for _, ev := range ms.GetEvents() {
		if time.UnixMilli(ev.GetAtUnixMs()).Before(cut) || homeSite(c, ev.GetCellId()) != "hz-a" {
			continue
		}
		if ev.GetKind() == "leader_moved" && ev.GetReason() == "failback" {
			failbacks++
			if at := time.UnixMilli(ev.GetAtUnixMs()); at.Before(healed.Add(3 * time.Second)) {
				t.Errorf("cell %d failed back at %s, before the hold-down after the repair at %s", ev.GetCellId(), at, healed)
			}
		}
		if ev.GetKind() == "leader_moved" {
			moved++
		}
	}
	if failbacks < len(hzA) {
		t.Errorf("%d failback moves recorded, want at least %d (events: %d moves)", failbacks, len(hzA), moved)
	}
	load.checkNothingLost(t, newClient(t, c, "shanghai"))
}

// Test 2: clients cannot reach hz-a while its Raft and backbone links work
// (Raft sees nothing wrong): the controller moves hz-a's cells to hz-b.
func TestIngressCutMovesCellsOff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	load := startLoad(t, c)
	time.Sleep(time.Second)
	cut := time.Now()
	c.Fabric.CutIngress("hz-a")
	hzA := cellsHomedIn(c, "hz-a")
	took := waitFor(t, rtoBound, "hz-a's cells lead in hz-b", func() (bool, string) {
		for _, id := range hzA {
			if l := c.Leader(id); l == "" || siteOf(c, l) != "hz-b" {
				return false, leaderMap(c)
			}
		}
		return true, ""
	})
	t.Logf("ingress cut: hz-a's cells lead in hz-b %s after the cut", took.Round(time.Millisecond))
	rtoReport(t, load, hzA, cut)
	ms := metaStatus(t, c)
	if st := siteState(ms, "hz-a"); st != pb.SiteState_SITE_DOWN {
		t.Errorf("hz-a is %s, want down", st)
	}
	var reason string
	for _, s := range ms.GetSites() {
		if s.GetSite() == "hz-a" {
			reason = s.GetReason()
		}
	}
	if !strings.Contains(reason, "ingress") {
		t.Errorf("hz-a's down reason %q does not name ingress", reason)
	}
	c.Fabric.HealAll()
	load.stop()
	t.Logf("client-visible errors: %d", load.failureCount())
	load.checkNothingLost(t, newClient(t, c, "shanghai"))
}

// Test 3: one site's observers (here every observer in sh-a) losing their
// view of hz-a is a one-vantage-point problem: no failover.
func TestOneObserverSiteCausesNoFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	c.Fabric.Cut("sh-a", "hz-a")
	defer c.Fabric.HealAll()
	deadline := time.Now().Add(6 * time.Second) // several DownAfter periods
	for time.Now().Before(deadline) {
		for _, id := range cellsHomedIn(c, "hz-a") {
			if l := c.Leader(id); l != "" && siteOf(c, l) != "hz-a" {
				t.Fatalf("cell %d moved to %s though only sh-a lost its view of hz-a", id, l)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	ms := metaStatus(t, c)
	if st := siteState(ms, "hz-a"); st != pb.SiteState_SITE_HEALTHY {
		t.Errorf("hz-a is %s, want healthy", st)
	}
	for _, ev := range ms.GetEvents() {
		if ev.GetKind() == "site_state" && ev.GetSite() == "hz-a" && ev.GetState() != pb.SiteState_SITE_HEALTHY {
			t.Errorf("hz-a changed state on one site's say: %v", ev)
		}
	}
}

// startDrill calls StartDrill on the meta leader with the test operator's
// token, retrying while the meta group has no leader.
func startDrill(t *testing.T, c *Cluster, req *pb.DrillRequest) (*pb.Drill, error) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		ms := metaStatus(t, c)
		n, ok := c.Topology.Node(ms.GetMetaLeaderId())
		if !ok {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		conn, err := grpc.NewClient(n.ClientAddr, c.DialOption(auth.RoleOperator))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testOperatorToken)
		d, err := pb.NewControlClient(conn).StartDrill(ctx, req)
		cancel()
		_ = conn.Close()
		if status.Code(err) == codes.Unavailable {
			lastErr = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		return d, err
	}
	return nil, lastErr
}

// waitDrill waits until the meta group's drill leaves the running state.
func waitDrill(t *testing.T, c *Cluster, id string) *pb.Drill {
	t.Helper()
	var d *pb.Drill
	waitFor(t, time.Minute, "drill "+id+" ends", func() (bool, string) {
		d = metaStatus(t, c).GetDrill()
		return d.GetId() == id && d.GetState() != pb.DrillState_DRILL_RUNNING, d.GetState().String()
	})
	return d
}

// Tests 5 and 6 (server side): evacuating hz-a under a steady load moves
// every cell off it with no client-visible error; failback brings them
// home; both are in the audit log with the operator; unsafe drills are
// refused with a reason.
func TestDrillEvacuateAndFailbackUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := startFailoverCluster(t, 3*time.Second)
	load := startLoad(t, c)
	time.Sleep(500 * time.Millisecond)

	plan, err := startDrill(t, c, &pb.DrillRequest{Kind: "evacuate", Site: "hz-a", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetState() != pb.DrillState_DRILL_PLANNED || len(plan.GetMoves()) != len(cellsHomedIn(c, "hz-a")) {
		t.Fatalf("dry run: %v", plan)
	}
	if !leadersWhere(c, homeSite) {
		t.Fatalf("a dry run moved leaders: %s", leaderMap(c))
	}

	d, err := startDrill(t, c, &pb.DrillRequest{Kind: "evacuate", Site: "hz-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startDrill(t, c, &pb.DrillRequest{Kind: "move", CellId: 2, TargetSite: "sh-a"}); rpcstatus.Reason(err) != rpcstatus.ReasonDrillBusy {
		t.Errorf("a drill while another runs: %v, want %s", err, rpcstatus.ReasonDrillBusy)
	}
	d = waitDrill(t, c, d.GetId())
	if d.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("evacuate: %v", d)
	}
	for _, m := range d.GetMoves() {
		t.Logf("evacuate: cell %d %s -> %s in %d ms", m.GetCellId(), m.GetFromNode(), m.GetToNode(), m.GetDurationMs())
	}
	for _, cl := range c.Topology.Cells() {
		if l := c.Leader(cl.ID); siteOf(c, l) == "hz-a" {
			t.Errorf("cell %d still leads in hz-a after the evacuation", cl.ID)
		}
	}
	if _, err := startDrill(t, c, &pb.DrillRequest{Kind: "evacuate", Site: "hz-a"}); rpcstatus.Reason(err) != rpcstatus.ReasonDrillRefused {
		t.Errorf("evacuating a drained site: %v, want refused", err)
	}
	// hz-b too: every leader goes to sh-a, which is then the last healthy
	// site of every cell's replicas and cannot be evacuated.
	b, err := startDrill(t, c, &pb.DrillRequest{Kind: "evacuate", Site: "hz-b"})
	if err != nil {
		t.Fatal(err)
	}
	if b = waitDrill(t, c, b.GetId()); b.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("evacuate hz-b: %v", b)
	}
	if _, err := startDrill(t, c, &pb.DrillRequest{Kind: "evacuate", Site: "sh-a"}); rpcstatus.Reason(err) != rpcstatus.ReasonDrillRefused {
		t.Errorf("evacuating the last healthy site: %v, want refused", err)
	} else {
		t.Logf("refused as expected: %v", status.Convert(err).Message())
	}
	if _, err := startDrill(t, c, &pb.DrillRequest{Kind: "move", CellId: 1, TargetSite: "hz-a"}); rpcstatus.Reason(err) != rpcstatus.ReasonDrillRefused {
		t.Errorf("moving a cell to a drained site: %v, want refused", err)
	}
	fb, err := startDrill(t, c, &pb.DrillRequest{Kind: "failback", Site: "hz-b"})
	if err != nil {
		t.Fatal(err)
	}
	if fb = waitDrill(t, c, fb.GetId()); fb.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("failback hz-b: %v", fb)
	}

	f, err := startDrill(t, c, &pb.DrillRequest{Kind: "failback", Site: "hz-a"})
	if err != nil {
		t.Fatal(err)
	}
	f = waitDrill(t, c, f.GetId())
	if f.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("failback: %v", f)
	}
	waitFor(t, 20*time.Second, "every cell leads at home", func() (bool, string) { return leadersWhere(c, homeSite), leaderMap(c) })
	load.stop()
	if n := load.failureCount(); n > 0 {
		t.Errorf("%d client-visible errors during the drills, first: %v", n, load.failuresFrom(0)[0])
	}
	t.Logf("router-counted client errors: evacuate %d, failback %d", d.GetClientErrors(), f.GetClientErrors())
	ms := metaStatus(t, c)
	var audited []string
	for _, a := range ms.GetAudit() {
		if a.GetOperator() != "alice" {
			t.Errorf("audit entry without the operator: %v", a)
		}
		audited = append(audited, a.GetAction()+": "+a.GetOutcome())
	}
	joined := strings.Join(audited, "\n")
	for _, want := range []string{"drill evacuate: started", "drill evacuate: succeeded", "drill failback: started", "drill failback: succeeded", "drill evacuate: refused"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit log lacks %q:\n%s", want, joined)
		}
	}
	load.checkNothingLost(t, newClient(t, c, "shanghai"))
}
