package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/meta"
)

const drillToken = "tok"

// sampleDrill is a hand-made evacuation: planned (as a dry run answers),
// or finished with every move's time.
func sampleDrill(finished bool) *pb.Drill {
	d := &pb.Drill{
		Id: "drill-1767323045000", Kind: "evacuate", Site: "hz-a", Operator: "alice", State: pb.DrillState_DRILL_PLANNED,
		Moves: []*pb.PlannedMove{
			{CellId: 1, FromNode: "hz-a-1", FromSite: "hz-a", ToNode: "hz-b-1", ToSite: "hz-b", State: pb.MoveState_MOVE_PENDING},
			{CellId: 4, FromNode: "hz-a-2", FromSite: "hz-a", ToNode: "hz-b-2", ToSite: "hz-b", State: pb.MoveState_MOVE_PENDING},
			{CellId: 7, FromNode: "hz-a-1", FromSite: "hz-a", ToNode: "sh-a-1", ToSite: "sh-a", State: pb.MoveState_MOVE_PENDING},
		},
		LeadersBefore: []*pb.SiteLeaders{{Site: "hz-a", Leaders: 3}, {Site: "hz-b", Leaders: 2, LeadersMax: 3}, {Site: "sh-a", Leaders: 2}},
		LeadersAfter:  []*pb.SiteLeaders{{Site: "hz-a", Leaders: 0}, {Site: "hz-b", Leaders: 4, LeadersMax: 3}, {Site: "sh-a", Leaders: 3}},
	}
	if !finished {
		d.Warnings = []string{"site hz-b would lead 4 cells, more than its leaders_max 3"}
		return d
	}
	d.State, d.StartedAtUnixMs, d.FinishedAtUnixMs, d.ClientErrors = pb.DrillState_DRILL_FAILED, 1767323045000, 1767323047345, 3
	d.Reason = "timed out after 2m0s with cell 7 not moved"
	d.Moves[0].State, d.Moves[0].DurationMs = pb.MoveState_MOVE_DONE, 412
	d.Moves[1].State, d.Moves[1].DurationMs = pb.MoveState_MOVE_DONE, 1530
	d.Moves[2].State, d.Moves[2].Error = pb.MoveState_MOVE_FAILED, "not moved before the drill timeout"
	return d
}

// The printers, against golden files (go test -run DrillGolden -update
// rewrites them).
func TestDrillGolden(t *testing.T) {
	var plan bytes.Buffer
	if err := printPlan(&plan, sampleDrill(false)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "drill-plan.table", plan.String())
	for _, want := range []string{
		"cell 1: hz-a-1 (hz-a) -> hz-b-1 (hz-b)\n", "cell 7: hz-a-1 (hz-a) -> sh-a-1 (sh-a)\n",
		"LEADERS BEFORE", "hz-b  2               4              3\n", "more than its leaders_max 3",
	} {
		if !strings.Contains(plan.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, plan.String())
		}
	}

	var js bytes.Buffer
	if err := writeProtoJSON(&js, sampleDrill(false)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "drill-plan.json", js.String())
	var back pb.Drill
	if err := protojson.Unmarshal(js.Bytes(), &back); err != nil || len(back.GetMoves()) != 3 {
		t.Errorf("-o json is not the drill: %v\n%s", err, js.String())
	}

	var summary bytes.Buffer
	if err := printDrill(&summary, sampleDrill(true)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "drill-summary.table", summary.String())

	topo, err := topology.Load(minimalFile)
	if err != nil {
		t.Fatal(err)
	}
	ms := &pb.MetaStatus{
		MetaLeaderId: "hz-b-1", AnsweredBy: "hz-b-1",
		Sites:  []*pb.SiteRecord{{Site: "hz-a", State: pb.SiteState_SITE_DRAINED, SinceUnixMs: 1767323045000, Reason: "drill evacuate by alice"}},
		Pins:   []*pb.CellPin{{CellId: 1, Site: "sh-a"}},
		Drill:  sampleDrill(true),
		Events: []*pb.MetaEvent{{Seq: 1, AtUnixMs: 1767323045100, Kind: "leader_moved", Site: "hz-b", CellId: 1, FromNode: "hz-a-1", ToNode: "hz-b-1", Reason: "failover", DurationMs: 412}},
		Audit:  []*pb.AuditEntry{{Seq: 1, AtUnixMs: 1767323045000, Operator: "alice", Action: "drill evacuate", Detail: "evacuate site hz-a (3 moves)", Outcome: "started"}},
	}
	var st bytes.Buffer
	if err := printMetaStatus(&st, topo, ms); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "drill-status.table", st.String())
}

// Progress: one line per change when not on a terminal, a bar redrawn in
// place on one.
func TestDrillProgress(t *testing.T) {
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	d := sampleDrill(false)
	d.State = pb.DrillState_DRILL_RUNNING

	var lines bytes.Buffer
	p := newProgress(&lines, false, clock)
	p.update(d)
	if lines.Len() != 0 {
		t.Errorf("a drill with every move pending printed %q", lines.String())
	}
	now = now.Add(700 * time.Millisecond)
	d.Moves[1].State, d.Moves[1].DurationMs = pb.MoveState_MOVE_DONE, 650
	p.update(d)
	p.update(d) // no change: no line
	now = now.Add(time.Second)
	d.Moves[0].State, d.Moves[0].DurationMs = pb.MoveState_MOVE_DONE, 1200
	d.Moves[2].State, d.Moves[2].Error = pb.MoveState_MOVE_FAILED, "boom"
	d.State = pb.DrillState_DRILL_FAILED
	p.update(d)
	p.end()
	want := "cell 4: done in 650ms, hz-a-2 (hz-a) -> hz-b-2 (hz-b)  [1/3 cells]\n" +
		"cell 1: done in 1.2s, hz-a-1 (hz-a) -> hz-b-1 (hz-b)  [3/3 cells]\n" +
		"cell 7: failed: boom  [3/3 cells]\n" +
		"drill drill-1767323045000 failed after 1.7s\n"
	if lines.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", lines.String(), want)
	}

	now = time.Unix(0, 0)
	d = sampleDrill(false)
	var tty bytes.Buffer
	p = newProgress(&tty, true, clock)
	p.update(d)
	now = now.Add(2100 * time.Millisecond)
	d.Moves[0].State = pb.MoveState_MOVE_DONE
	d.Moves[1].State = pb.MoveState_MOVE_DONE
	p.update(d)
	p.end()
	want = "\r[--------------------] 0/3 cells  moving cell 1  elapsed 0.0s" +
		"\r[#############-------] 2/3 cells  moving cell 7  elapsed 2.1s\n"
	if tty.String() != want {
		t.Errorf("progress bar:\n%q\nwant:\n%q", tty.String(), want)
	}
}

// Bad arguments are refused before anything is asked.
func TestDrillUsageErrors(t *testing.T) {
	t.Setenv(tokenEnv, "")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drill"}, exitUsage, "a subcommand is required"},
		{[]string{"drill", "evacuate", "--config", minimalFile}, exitUsage, "--site is required"},
		{[]string{"drill", "evacuate", "--site", "hz-a"}, exitUsage, "--config is required"},
		{[]string{"drill", "move", "--config", minimalFile}, exitUsage, "--cell is required"},
		{[]string{"drill", "move", "--cell", "1", "--to", "nowhere", "--config", minimalFile, "--token", "x"}, exitUsage, `--to "nowhere" is not in the topology (sites: hz-a, hz-b, sh-a)`},
		{[]string{"drill", "move", "--cell", "9", "--to", "hz-b", "--config", minimalFile, "--token", "x"}, exitUsage, "--cell 9 is not in the topology"},
		{[]string{"drill", "failback", "--site", "hz-a", "--config", minimalFile, "-o", "yaml"}, exitUsage, "unknown output format"},
		{[]string{"drill", "failback", "--site", "hz-a", "--config", minimalFile}, exitDenied, "need an operator token"},
		{[]string{"drill", "status", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, exitFailure, "no such file"},
		{[]string{"drill", "abort", "--config", demoFile, "--token", "x", "--timeout", "0s"}, exitUsage, "--timeout must be positive"},
	} {
		code, stdout, stderr := runCLI(t, tt.args...)
		if code != tt.code || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, tt.code, tt.want)
		}
	}
}

// A meta group that cannot be reached: exit 4, naming the last error.
func TestDrillStatusUnreachable(t *testing.T) {
	topo, err := topology.Load(minimalFile)
	if err != nil {
		t.Fatal(err)
	}
	spec := topo.Spec()
	for i := range spec.Nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		spec.Nodes[i].ClientAddr = ln.Addr().String()
		_ = ln.Close() // nothing listens there any more
	}
	config := writeTopologyFile(t, spec)
	start := time.Now()
	code, stdout, stderr := runCLI(t, "drill", "status", "--config", config, "--timeout", "600ms", "--insecure")
	if code != exitUnhealthy || stdout != "" || !strings.Contains(stderr, "could not be asked") || !strings.Contains(stderr, "last error") {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d", code, stdout, stderr, exitUnhealthy)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s with --timeout 600ms", took)
	}
}

// writeTopologyFile writes spec as a topology file (the format of
// deploy/topologies) and returns its path.
func writeTopologyFile(t *testing.T, spec topology.Spec) string {
	t.Helper()
	data, err := topology.Encode(spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startDrillCluster starts three sites with six cells (two homed in each),
// operator alice (token "tok"), leaders at home, and writes the topology
// file.
func startDrillCluster(t *testing.T) (*cluster.Cluster, string) {
	t.Helper()
	c, err := cluster.Start(cluster.Config{Dir: t.TempDir(), Seed: 1, Cells: 6, Control: func(cc *control.ControlConfig) {
		cc.Operators = map[string]string{"alice": control.TokenSHA256(drillToken)}
		cc.Failover.HoldDown = 2 * time.Second
	}})
	if err != nil {
		t.Fatal(err)
	}
	useClusterCerts(t, c)
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
	waitUntil(t, 30*time.Second, "every cell leads at home", func() (bool, string) {
		return leadersIn(c, func(id uint64) bool { return siteOfLeader(c, id) == homeOf(c, id) }), leaderMap(c)
	})
	path := writeTopologyFile(t, c.Topology.Spec())
	if _, err := topology.Load(path); err != nil {
		t.Fatalf("the topology file written does not load: %v", err)
	}
	return c, path
}

func waitUntil(t *testing.T, bound time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not within %s: %s (last: %s)", bound, what, last)
}

func siteOfLeader(c *cluster.Cluster, cellID uint64) string {
	n, _ := c.Topology.Node(c.Leader(cellID))
	return n.Site
}

func homeOf(c *cluster.Cluster, cellID uint64) string {
	cl, _ := c.Topology.Cell(cellID)
	return cl.Home
}

// leadersIn reports whether every cell has a leader and ok(cell) holds.
func leadersIn(c *cluster.Cluster, ok func(uint64) bool) bool {
	for _, cl := range c.Topology.Cells() {
		if c.Leader(cl.ID) == "" || !ok(cl.ID) {
			return false
		}
	}
	return true
}

func leaderMap(c *cluster.Cluster) string {
	var parts []string
	for _, cl := range c.Topology.Cells() {
		parts = append(parts, fmt.Sprintf("cell %d (home %s): %s", cl.ID, cl.Home, c.Leader(cl.ID)))
	}
	return strings.Join(parts, ", ")
}

// waitPlan waits until the meta leader's controller sees what the cluster
// is: a dry run of the drill args counts every cell's leader where
// c.Leader finds it, and plans moves for exactly the cells moves selects.
// (The controller's observations lag leadership changes by a few hundred
// milliseconds, and a cell it is moving, or retrying after a failed move,
// is left out of plans: see the report on the server side.)
func waitPlan(t *testing.T, c *cluster.Cluster, config string, args []string, moves func(cellID uint64) bool) {
	t.Helper()
	args = append(append([]string{"drill"}, args...), "--dry-run", "-o", "json", "--config", config, "--token", drillToken)
	waitUntil(t, 20*time.Second, "the controller's plan matches the leaders", func() (bool, string) {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitOK {
			return false, fmt.Sprintf("dry run: exit %d: %s", code, stderr)
		}
		var d pb.Drill
		if err := protojson.Unmarshal([]byte(stdout), &d); err != nil {
			t.Fatalf("dry run -o json is not a drill: %v\n%s", err, stdout)
		}
		var want, got []string
		leaders := map[string]uint32{}
		for _, cl := range c.Topology.Cells() {
			leaders[siteOfLeader(c, cl.ID)]++
			if moves(cl.ID) {
				want = append(want, fmt.Sprint(cl.ID))
			}
		}
		for _, m := range d.GetMoves() {
			got = append(got, fmt.Sprint(m.GetCellId()))
		}
		ok := strings.Join(got, ",") == strings.Join(want, ",")
		for _, l := range d.GetLeadersBefore() {
			ok = ok && l.GetLeaders() == leaders[l.GetSite()]
		}
		return ok, fmt.Sprintf("%v plans moves of cells [%s], leaders before %v; want cells [%s], leaders %v",
			args[:3], strings.Join(got, ","), d.GetLeadersBefore(), strings.Join(want, ","), leaders)
	})
}

// drillStatus is `cellpay drill status -o json`, decoded.
func drillStatus(t *testing.T, config string) *pb.MetaStatus {
	t.Helper()
	code, stdout, stderr := runCLI(t, "drill", "status", "--config", config, "-o", "json", "--audit", "100", "--events", "100")
	if code != exitOK {
		t.Fatalf("drill status: exit %d: %s", code, stderr)
	}
	var ms pb.MetaStatus
	if err := protojson.Unmarshal([]byte(stdout), &ms); err != nil {
		t.Fatalf("drill status -o json is not a MetaStatus: %v\n%s", err, stdout)
	}
	return &ms
}

func siteStateOf(ms *pb.MetaStatus, site string) pb.SiteState {
	for _, s := range ms.GetSites() {
		if s.GetSite() == site {
			return s.GetState()
		}
	}
	return pb.SiteState_SITE_HEALTHY
}

// withStdin runs fn with os.Stdin reading input (cobra's default input).
func withStdin(t *testing.T, input string, fn func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = w.WriteString(input)
		_ = w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() {
		os.Stdin = old
		_ = r.Close()
	}()
	fn()
}

// A dry run, a prompt answered no, an evacuation, the refusals (drained
// site, bad token, bad target, a drill while one runs), a failback, status
// and the audit log: on one cluster.
func TestDrillEvacuateAndFailback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c, config := startDrillCluster(t)
	t.Setenv(tokenEnv, drillToken) // not --token: that warns that ps shows it
	tok := []string{"--config", config}
	hzA := map[uint64]bool{}
	for _, cl := range c.Topology.Cells() {
		if cl.Home == "hz-a" {
			hzA[cl.ID] = true
		}
	}

	waitPlan(t, c, config, []string{"evacuate", "--site", "hz-a"}, func(id uint64) bool { return siteOfLeader(c, id) == "hz-a" })

	// 1. The dry run lists the moves of the cells led in hz-a and the
	// leaders per site, and changes nothing.
	code, stdout, stderr := runCLI(t, append([]string{"drill", "evacuate", "--site", "hz-a", "--dry-run"}, tok...)...)
	if code != exitOK || stderr != "" {
		t.Fatalf("dry run: exit %d, stderr %q", code, stderr)
	}
	t.Logf("dry run:\n%s", stdout)
	for id := range hzA {
		if !strings.Contains(stdout, fmt.Sprintf("cell %d: %s (hz-a) -> ", id, c.Leader(id))) {
			t.Errorf("dry run does not plan cell %d's move out of hz-a:\n%s", id, stdout)
		}
	}
	if n := strings.Count(stdout, " (hz-a) -> "); n != len(hzA) {
		t.Errorf("dry run plans %d moves, want %d:\n%s", n, len(hzA), stdout)
	}
	for _, want := range []string{"plan: evacuate site hz-a (2 moves)", "SITE  LEADERS BEFORE  LEADERS AFTER  LEADERS MAX\nhz-a  2               0", "dry run: nothing was changed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	// 4. A "no" at the prompt starts nothing.
	withStdin(t, "n\n", func() {
		code, stdout, stderr = runCLI(t, append([]string{"drill", "evacuate", "--site", "hz-a"}, tok...)...)
	})
	if code != exitDeclined || !strings.Contains(stdout, "plan: evacuate site hz-a") || !strings.Contains(stdout, "Proceed? [y/N]") ||
		!strings.Contains(stderr, "not confirmed") {
		t.Errorf("answered no: exit %d, stdout %q, stderr %q; want %d after the plan and the prompt", code, stdout, stderr, exitDeclined)
	}
	ms := drillStatus(t, config)
	t.Logf("meta leader %s (the CLI asks %s first and follows NOT_LEADER hints)", ms.GetMetaLeaderId(), meta.Voters(c.Topology)[0].ID)
	if ms.GetDrill() != nil || siteStateOf(ms, "hz-a") != pb.SiteState_SITE_HEALTHY || len(ms.GetAudit()) != 0 {
		t.Fatalf("after a dry run and a no, the meta group has drill %v, hz-a %s, audit %v", ms.GetDrill(), siteStateOf(ms, "hz-a"), ms.GetAudit())
	}
	if !leadersIn(c, func(id uint64) bool { return siteOfLeader(c, id) == homeOf(c, id) }) {
		t.Fatalf("leaders moved without a drill: %s", leaderMap(c))
	}

	// 3. Bad token, bad target.
	code, _, stderr = runCLI(t, "drill", "evacuate", "--site", "hz-a", "--dry-run", "--config", config, "--token", "wrong")
	if code != exitDenied || !strings.Contains(stderr, "token is not known") {
		t.Errorf("wrong token: exit %d, stderr %q; want %d", code, stderr, exitDenied)
	}
	code, _, stderr = runCLI(t, append([]string{"drill", "move", "--cell", "1", "--to", "nowhere", "--yes"}, tok...)...)
	if code != exitUsage || !strings.Contains(stderr, `"nowhere" is not in the topology`) {
		t.Errorf("move to nowhere: exit %d, stderr %q; want %d", code, stderr, exitUsage)
	}

	// 2. The evacuation (token from the environment), then every cell
	// leads outside hz-a.
	t.Setenv(tokenEnv, drillToken)
	code, stdout, stderr = runCLI(t, "drill", "evacuate", "--site", "hz-a", "--yes", "--config", config)
	t.Logf("evacuate:\n%s", stdout)
	if code != exitOK {
		t.Fatalf("evacuate: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"plan: evacuate site hz-a", "started", "by alice: succeeded in ", "CELL  FROM", "TOOK", "client-visible errors during the drill: ", "LEADERS AFTER"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("evacuate output lacks %q", want)
		}
	}
	waitUntil(t, 5*time.Second, "every cell leads outside hz-a", func() (bool, string) {
		return leadersIn(c, func(id uint64) bool { return siteOfLeader(c, id) != "hz-a" }), leaderMap(c)
	})
	ms = drillStatus(t, config)
	evac := ms.GetDrill()
	if evac.GetKind() != "evacuate" || evac.GetState() != pb.DrillState_DRILL_SUCCEEDED || len(evac.GetMoves()) != len(hzA) {
		t.Fatalf("last drill %v, want the evacuation succeeded", evac)
	}
	for _, m := range evac.GetMoves() {
		t.Logf("evacuate: cell %d %s (%s) -> %s (%s): %s in %d ms", m.GetCellId(), m.GetFromNode(), m.GetFromSite(), m.GetToNode(), m.GetToSite(), m.GetState(), m.GetDurationMs())
		if m.GetState() != pb.MoveState_MOVE_DONE || !strings.Contains(stdout, fmt.Sprintf("%dms", m.GetDurationMs())) {
			t.Errorf("move of cell %d: %s in %d ms, not in the summary", m.GetCellId(), m.GetState(), m.GetDurationMs())
		}
	}
	t.Logf("evacuate: %d client-visible errors", evac.GetClientErrors())
	if siteStateOf(ms, "hz-a") != pb.SiteState_SITE_DRAINED {
		t.Errorf("hz-a is %s after the evacuation", siteStateOf(ms, "hz-a"))
	}

	// 3. Evacuating the drained site again is refused.
	code, stdout, stderr = runCLI(t, append([]string{"drill", "evacuate", "--site", "hz-a", "--yes"}, tok...)...)
	if code != exitRefused || !strings.Contains(stderr, "site hz-a is already drained") || !strings.Contains(stderr, rpcstatus.ReasonDrillRefused) || stdout != "" {
		t.Errorf("second evacuation: exit %d, stdout %q, stderr %q; want %d and the reason", code, stdout, stderr, exitRefused)
	}

	// The failback brings hz-a's cells home.
	waitPlan(t, c, config, []string{"failback", "--site", "hz-a"}, func(id uint64) bool { return hzA[id] })
	code, stdout, stderr = runCLI(t, append([]string{"drill", "failback", "--site", "hz-a", "--yes", "-o", "json"}, tok...)...)
	if code != exitOK {
		t.Fatalf("failback: exit %d, stderr %q", code, stderr)
	}
	var back pb.Drill
	if err := protojson.Unmarshal([]byte(stdout), &back); err != nil || back.GetState() != pb.DrillState_DRILL_SUCCEEDED {
		t.Fatalf("failback -o json: %v, drill %v\n%s", err, &back, stdout)
	}
	if len(back.GetMoves()) != len(hzA) {
		t.Errorf("failback made %d moves, want %d (the cells homed in hz-a): %v", len(back.GetMoves()), len(hzA), &back)
	}
	for _, m := range back.GetMoves() {
		t.Logf("failback: cell %d %s -> %s: %s in %d ms", m.GetCellId(), m.GetFromNode(), m.GetToNode(), m.GetState(), m.GetDurationMs())
		if !hzA[m.GetCellId()] || m.GetState() != pb.MoveState_MOVE_DONE || m.GetToSite() != "hz-a" {
			t.Errorf("failback move %v, want a cell homed in hz-a moved there", m)
		}
	}
	if !strings.Contains(stderr, "plan: failback site hz-a (2 moves)") || !strings.Contains(stderr, "drill "+back.GetId()+" started") {
		t.Errorf("failback -o json: no plan and progress on stderr: %q", stderr)
	}
	waitUntil(t, 5*time.Second, "hz-a's cells lead at home", func() (bool, string) {
		return leadersIn(c, func(id uint64) bool { return !hzA[id] || siteOfLeader(c, id) == "hz-a" }), leaderMap(c)
	})

	// drill status shows the failback succeeded; the audit log has both
	// drills (and the refused one) by alice, and the call with a wrong
	// token as a refusal of no known operator.
	ms = drillStatus(t, config)
	if d := ms.GetDrill(); d.GetKind() != "failback" || d.GetState() != pb.DrillState_DRILL_SUCCEEDED || d.GetOperator() != "alice" {
		t.Errorf("drill status: last drill %v, want alice's failback succeeded", d)
	}
	outcomes := map[string][]string{}
	for _, a := range ms.GetAudit() {
		unknownToken := a.GetOperator() == control.AuditOperatorUnauthenticated && strings.HasPrefix(a.GetOutcome(), "refused: ") &&
			strings.Contains(a.GetOutcome(), "token is not known")
		if a.GetOperator() != "alice" && !unknownToken {
			t.Errorf("audit entry %v: operator %q, want alice (or a refused unknown token)", a, a.GetOperator())
		}
		outcomes[a.GetAction()] = append(outcomes[a.GetAction()], a.GetOutcome())
	}
	t.Logf("audit: %v", outcomes)
	if got := strings.Join(outcomes["drill evacuate"], ", "); !strings.Contains(got, "started") || !strings.Contains(got, "succeeded") || !strings.Contains(got, "refused: ") {
		t.Errorf("audit of drill evacuate: %s; want started, succeeded and refused", got)
	}
	if got := strings.Join(outcomes["drill failback"], ", "); got != "started, succeeded" {
		t.Errorf("audit of drill failback: %s; want started, succeeded", got)
	}
	code, stdout, _ = runCLI(t, "drill", "status", "--config", config)
	for _, want := range []string{"meta leader ", "hz-a  healthy", "failback site hz-a, by alice: succeeded", "AUDIT (newest"} {
		if code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("drill status: exit %d, lacks %q:\n%s", code, want, stdout)
		}
	}

	// 3. A drill while another runs is refused: start a move straight on
	// the meta leader, then ask for it again at once. Its move takes a
	// leadership transfer and an observation round (a few hundred ms); if
	// it has already finished, the second is refused anyway (the cell leads
	// there).
	waitPlan(t, c, config, []string{"move", "--cell", "3", "--to", "hz-b"}, func(id uint64) bool { return id == 3 })
	started := startMoveDirectly(t, c, 3, "hz-b")
	if len(started.GetMoves()) != 1 || started.GetState() != pb.DrillState_DRILL_RUNNING {
		t.Fatalf("move drill started: %v, want running with one move", started)
	}
	code, stdout, stderr = runCLI(t, append([]string{"drill", "move", "--cell", "3", "--to", "hz-b", "--yes"}, tok...)...)
	switch {
	case code == exitRefused && strings.Contains(stderr, rpcstatus.ReasonDrillBusy):
		if !strings.Contains(stderr, "drill "+started.GetId()+" (move cell 3 to hz-b (1 moves)) is running") || stdout != "" {
			t.Errorf("refused while running, without naming the drill: stdout %q, stderr %q", stdout, stderr)
		}
	case code == exitRefused && strings.Contains(stderr, "cell 3 already leads in hz-b"):
		t.Logf("drill %s ended before the second request: refused as already done", started.GetId())
	default:
		t.Errorf("a drill during drill %s: exit %d, stdout %q, stderr %q; want %d", started.GetId(), code, stdout, stderr, exitRefused)
	}
	// Abort it, if it still runs; otherwise the abort is refused.
	code, stdout, stderr = runCLI(t, append([]string{"drill", "abort"}, tok...)...)
	switch {
	case code == exitOK && strings.Contains(stdout, "aborted"):
		t.Logf("aborted:\n%s", stdout)
	case code == exitRefused && strings.Contains(stderr, "no drill is running"):
		t.Logf("nothing to abort: %s", stderr)
	default:
		t.Errorf("abort: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, append([]string{"drill", "abort"}, tok...)...)
	if code != exitRefused || !strings.Contains(stderr, "no drill is running") {
		t.Errorf("abort with no drill running: exit %d, stderr %q; want %d", code, stderr, exitRefused)
	}
}

// startMoveDirectly starts a move drill on the meta leader without the CLI
// (nothing to wait for).
func startMoveDirectly(t *testing.T, c *cluster.Cluster, cellID uint64, site string) *pb.Drill {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+drillToken)
	var lastErr error
	for _, n := range meta.Voters(c.Topology) {
		conn, err := grpc.NewClient(n.ClientAddr, c.DialOption(auth.RoleOperator))
		if err != nil {
			t.Fatal(err)
		}
		d, err := pb.NewControlClient(conn).StartDrill(ctx, &pb.DrillRequest{Kind: "move", CellId: cellID, TargetSite: site})
		_ = conn.Close()
		if err == nil {
			return d
		}
		lastErr = err
	}
	t.Fatalf("no meta voter started the drill: %v", lastErr)
	return nil
}

// Only y or yes (any case, any spacing) confirms.
func TestDrillConfirm(t *testing.T) {
	for input, want := range map[string]bool{"y\n": true, "yes\n": true, " YES \n": true, "Y": true, "n\n": false, "\n": false, "": false, "yes please\n": false, "no\n": false} {
		var prompt bytes.Buffer
		got, err := confirm(strings.NewReader(input), &prompt)
		if err != nil || got != want || !strings.HasPrefix(prompt.String(), "\nProceed? [y/N] ") {
			t.Errorf("answer %q: %v, %v, prompt %q; want %v", input, got, err, prompt.String(), want)
		}
	}
}
