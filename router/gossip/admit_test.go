package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

// testTopology has nodes n1-n6 (n1, n4 in hz-a; n2, n5 in hz-b; n3, n6 in
// sh-a), client addresses "<name>.client:9000"; cell 1 on n1, n2, n3 and
// cell 2 on n4, n5, n6.
func testTopology(t *testing.T) *topology.Topology {
	t.Helper()
	sites := []string{"hz-a", "hz-b", "sh-a"}
	spec := topology.Spec{
		Environment: "test",
		Sites:       []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}},
		RTTs: []topology.SiteRTT{{A: "hz-a", B: "hz-b", RTT: 2 * time.Millisecond}, {A: "hz-a", B: "sh-a", RTT: 30 * time.Millisecond},
			{A: "hz-b", B: "sh-a", RTT: 30 * time.Millisecond}},
		Cells: []topology.Cell{
			{ID: 1, Home: "hz-a", Replicas: []string{"n1", "n2", "n3"}, Slots: []topology.SlotRange{{First: 0, Last: topology.Slots/2 - 1}}},
			{ID: 2, Home: "hz-a", Replicas: []string{"n4", "n5", "n6"}, Slots: []topology.SlotRange{{First: topology.Slots / 2, Last: topology.Slots - 1}}},
		},
	}
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("n%d", i)
		spec.Nodes = append(spec.Nodes, topology.Node{ID: name, Site: sites[(i-1)%3],
			RaftAddr: name + ".raft:9001", ClientAddr: name + ".client:9000"})
	}
	topo, err := topology.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// nodeMeta is what topology node name advertises, leading claims.
func nodeMeta(t *testing.T, topo *topology.Topology, name string, claims ...*pb.LeaderClaim) *pb.MemberMeta {
	t.Helper()
	n, ok := topo.Node(name)
	if !ok {
		t.Fatalf("%s is not in the test topology", name)
	}
	return &pb.MemberMeta{Kind: KindNode, Site: n.Site, ClientAddr: n.ClientAddr, Leads: claims}
}

func lead(cell, term uint64) *pb.LeaderClaim { return &pb.LeaderClaim{CellId: cell, Term: term} }

// rogueTerm is the term a rogue claims: far above any real one.
const rogueTerm = 1 << 40

// startAs starts a member advertising meta, with admit as Config.Admit
// (nil: believes everyone, as a rogue does).
func startAs(t *testing.T, name string, meta *pb.MemberMeta, admit func(string, *pb.MemberMeta) error, seeds ...string) *testMember {
	t.Helper()
	cfg, m, logs := testConfig(t, name, "127.0.0.1:0", seeds...)
	m.set(meta)
	cfg.Admit = admit
	return startWith(t, cfg, m, logs)
}

// refreshRoutes feeds table from members as router.refreshRoutes does.
func refreshRoutes(table *forward.Routes, topo *topology.Topology, members []Member) {
	claims, gone, _ := LeaderClaims(topo, members)
	for _, g := range gone {
		table.Forget(g.CellID, g.Node)
	}
	for _, c := range claims {
		table.Observe(c.CellID, c.Node, c.Term)
	}
}

func wantLeader(table *forward.Routes, cell uint64, node string, term uint64) string {
	if id, got := table.Leader(cell); id != node || got != term {
		return fmt.Sprintf("cell %d: route to %q term %d, want %q term %d", cell, id, got, node, term)
	}
	return ""
}

func TestAdmitTopologyRules(t *testing.T) {
	topo := testTopology(t)
	admit := AdmitTopology(topo)
	cases := []struct {
		name   string
		meta   *pb.MemberMeta
		reason string // "" = admitted
	}{
		{"n1", nodeMeta(t, topo, "n1", lead(1, 5)), ""},
		{"n2", nodeMeta(t, topo, "n2"), ""},
		{"r1", &pb.MemberMeta{Kind: KindRouter, Site: "sh-a", ClientAddr: "anything:1"}, ""},
		{"rogue", &pb.MemberMeta{Kind: KindNode, Site: "hz-a", ClientAddr: "n1.client:9000"}, `node "rogue" is not a node of the topology`},
		{"n1", &pb.MemberMeta{Kind: KindNode, Site: "hz-a", ClientAddr: "10.6.6.6:9000"}, `node "n1" advertises client address "10.6.6.6:9000"; the topology has "n1.client:9000"`},
		{"n1", &pb.MemberMeta{Kind: KindNode, Site: "sh-a", ClientAddr: "n1.client:9000"}, `node "n1" advertises site "sh-a"; the topology has it in "hz-a"`},
		{"r1", &pb.MemberMeta{Kind: KindRouter, Site: "mars"}, `router "r1" advertises site "mars", not a site of the topology`},
		{"n3", &pb.MemberMeta{Kind: KindRouter, Site: "sh-a"}, `router "n3" has the name of a topology node`},
		{"x", &pb.MemberMeta{Kind: "operator", Site: "hz-a"}, `member "x" has kind "operator"`},
		{"x", nil, `member "x" advertises no meta`},
	}
	for _, c := range cases {
		err := admit(c.name, c.meta)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s %v refused: %v", c.name, c.meta, err)
		case c.reason != "" && (!errors.Is(err, ErrNotAdmitted) || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%s %v: got %v, want ErrNotAdmitted with %q", c.name, c.meta, err, c.reason)
		}
	}
}

// A rogue process that joins the pool and claims every cell at a huge term
// is not admitted, nor is a member that takes a topology node's name with
// another client address; their claims change no route, while a real node
// joining at the same time is admitted.
func TestRogueMembersAreNotAdmittedAndChangeNoRoute(t *testing.T) {
	t.Parallel()
	topo := testTopology(t)
	admit := AdmitTopology(topo)
	var refusedNames []string
	cfg, meta, logs := testConfig(t, "r1", "127.0.0.1:0")
	meta.set(&pb.MemberMeta{Kind: KindRouter, Site: "hz-a", ClientAddr: "r1.client:9000"})
	cfg.Admit = admit
	refusals := make(chan string, 1024)
	cfg.OnRefuse = func(name string, _ error) {
		select {
		case refusals <- name:
		default:
		}
	}
	r1 := startWith(t, cfg, meta, logs)
	n1 := startAs(t, "n1", nodeMeta(t, topo, "n1", lead(1, 5)), admit, r1.Addr())
	waitFor(t, 10*time.Second, "r1 and n1 see each other", func() string {
		if err := seesAlive(r1, "n1", "r1"); err != "" {
			return err
		}
		return seesAlive(n1, "n1", "r1")
	})

	everything := []*pb.LeaderClaim{lead(1, rogueTerm), lead(2, rogueTerm)}
	startAs(t, "rogue", &pb.MemberMeta{Kind: KindNode, Site: "hz-a", ClientAddr: "n1.client:9000", Leads: everything}, nil, r1.Addr())
	impostorMeta := nodeMeta(t, topo, "n2", everything...)
	impostorMeta.ClientAddr = "10.6.6.6:9000"
	startAs(t, "n2", impostorMeta, nil, r1.Addr())
	startAs(t, "n4", nodeMeta(t, topo, "n4", lead(2, 3)), admit, r1.Addr())

	waitFor(t, 10*time.Second, "r1 and n1 see n4 and refused both rogues", func() string {
		for len(refusals) > 0 {
			name := <-refusals
			if !slices.Contains(refusedNames, name) {
				refusedNames = append(refusedNames, name)
			}
		}
		if len(refusedNames) < 2 {
			return fmt.Sprintf("refused so far: %v", refusedNames)
		}
		if err := seesAlive(r1, "n1", "n4", "r1"); err != "" {
			return err
		}
		return seesAlive(n1, "n1", "n4", "r1")
	})
	// Give the rogues time to gossip and sync with r1 once more.
	waitFor(t, 10*time.Second, "r1 refused the rogues again", func() string {
		if n := r1.Refused(); n < 6 {
			return fmt.Sprintf("%d refusals", n)
		}
		return ""
	})
	for _, o := range []*testMember{r1, n1} {
		if err := seesAlive(o, "n1", "n4", "r1"); err != "" {
			t.Error(err)
		}
	}
	for _, want := range []string{"refused_member=rogue", `node \"rogue\" is not a node of the topology`,
		"refused_member=n2", `node \"n2\" advertises client address \"10.6.6.6:9000\"`} {
		if !strings.Contains(r1.logs.String(), want) {
			t.Errorf("r1's logs lack %q", want)
		}
	}

	table := forward.NewRoutes()
	refreshRoutes(table, topo, r1.Members())
	for _, complaint := range []string{wantLeader(table, 1, "n1", 5), wantLeader(table, 2, "n4", 3)} {
		if complaint != "" {
			t.Error(complaint)
		}
	}
	t.Logf("refused %v, %d refusals", refusedNames, r1.Refused())
}

// Behind admission (here: none at all), the router believes a claim only
// from a topology node and only for a cell with a replica on it.
func TestOnlyTopologyNodesClaimingHostedCellsAreBelieved(t *testing.T) {
	t.Parallel()
	topo := testTopology(t)
	r1 := startAs(t, "r1", &pb.MemberMeta{Kind: KindRouter, Site: "hz-a"}, nil)
	// n1 hosts cell 1, not cell 2; n4 hosts cell 2.
	startAs(t, "n1", nodeMeta(t, topo, "n1", lead(1, 5), lead(2, rogueTerm)), nil, r1.Addr())
	startAs(t, "n4", nodeMeta(t, topo, "n4", lead(2, 3)), nil, r1.Addr())
	startAs(t, "rogue", &pb.MemberMeta{Kind: KindNode, Site: "hz-a", ClientAddr: "n1.client:9000",
		Leads: []*pb.LeaderClaim{lead(1, rogueTerm), lead(2, rogueTerm)}}, nil, r1.Addr())
	waitFor(t, 10*time.Second, "r1 sees everyone", func() string {
		if members := r1.Members(); len(members) != 4 {
			return fmt.Sprintf("r1 sees %v", members)
		}
		return ""
	})

	table := forward.NewRoutes()
	refreshRoutes(table, topo, r1.Members())
	for _, complaint := range []string{wantLeader(table, 1, "n1", 5), wantLeader(table, 2, "n4", 3)} {
		if complaint != "" {
			t.Error(complaint)
		}
	}
	if _, _, ignored := LeaderClaims(topo, r1.Members()); ignored != 3 {
		t.Errorf("ignored %d claims, want 3 (n1's of cell 2, the rogue's two)", ignored)
	}
}

// A topology node that claimed a cell at a term it does not have (a lie,
// or a stale term) and then left: the route goes back to the real leader,
// whose term is lower.
func TestRouteOfAGoneLiarReturnsToTheRealLeader(t *testing.T) {
	t.Parallel()
	topo := testTopology(t)
	admit := AdmitTopology(topo)
	r1 := startAs(t, "r1", &pb.MemberMeta{Kind: KindRouter, Site: "hz-a"}, admit)
	startAs(t, "n1", nodeMeta(t, topo, "n1", lead(1, 7)), admit, r1.Addr())
	liar := startAs(t, "n2", nodeMeta(t, topo, "n2", lead(1, rogueTerm)), admit, r1.Addr())
	table := forward.NewRoutes()
	waitFor(t, 10*time.Second, "the liar holds the route", func() string {
		refreshRoutes(table, topo, r1.Members())
		return wantLeader(table, 1, "n2", rogueTerm)
	})

	if err := liar.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the route back at the real leader", func() string {
		refreshRoutes(table, topo, r1.Members())
		return wantLeader(table, 1, "n1", 7)
	})
}

func TestNotifyMergeRefusesOnlyAPoolWithoutAdmittedMembers(t *testing.T) {
	topo := testTopology(t)
	d := &delegate{name: "r1", admission: newAdmission(Config{Name: "r1", Admit: AdmitTopology(topo)}, slog.New(slog.DiscardHandler))}
	node := func(name string, meta *pb.MemberMeta) *memberlist.Node {
		b, err := metaMarshal.Marshal(meta)
		if err != nil {
			t.Fatal(err)
		}
		return &memberlist.Node{Name: name, Addr: net.IPv4(127, 0, 0, 1), Port: 7946, Meta: b}
	}
	nodes := func(n ...*memberlist.Node) []*memberlist.Node { return n }
	rogue := node("rogue", &pb.MemberMeta{Kind: KindNode, Site: "hz-a"})
	n1 := node("n1", nodeMeta(t, topo, "n1"))
	self := node("r1", &pb.MemberMeta{Kind: KindRouter, Site: "hz-a"})
	if err := d.NotifyMerge(nodes(rogue)); !errors.Is(err, ErrNotAdmitted) {
		t.Errorf("lone rogue: %v, want ErrNotAdmitted", err)
	}
	if err := d.NotifyMerge(nodes(rogue, self)); !errors.Is(err, ErrNotAdmitted) {
		t.Errorf("rogue that knows us: %v, want ErrNotAdmitted", err)
	}
	if err := d.NotifyMerge(nodes(rogue, n1)); err != nil {
		t.Errorf("a pool with an admitted member: %v", err)
	}
	if err := d.NotifyAlive(rogue); !errors.Is(err, ErrNotAdmitted) {
		t.Errorf("rogue alive: %v", err)
	}
	if err := d.NotifyAlive(self); err != nil {
		t.Errorf("self alive: %v", err)
	}
	// Each refused check counts: the rogue in each of the three merges and
	// its alive message.
	if n := d.admission.refused.Load(); n != 4 {
		t.Errorf("%d refusals counted, want 4", n)
	}
}
