package meta

import (
	"slices"
	"strings"
	"testing"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
)

// votersTopology lists nodes out of id order (and "hz-a-10" sorts before
// "hz-a-2"), sites out of id order, and a site without nodes (bj-a).
const votersTopology = `
environment: test
sites:
  - {id: sh-a, region: shanghai}
  - {id: hz-a, region: hangzhou}
  - {id: hz-b, region: hangzhou}
  - {id: bj-a, region: beijing}
rtt:
  - {sites: [hz-a, hz-b], rtt: 2ms}
  - {sites: [hz-a, sh-a], rtt: 30ms}
  - {sites: [hz-b, sh-a], rtt: 30ms}
  - {sites: [bj-a, hz-a], rtt: 40ms}
  - {sites: [bj-a, hz-b], rtt: 40ms}
  - {sites: [bj-a, sh-a], rtt: 35ms}
nodes:
  - {id: sh-a-3, site: sh-a, raft_addr: 127.0.0.1:7106, client_addr: 127.0.0.1:7206}
  - {id: hz-a-2, site: hz-a, raft_addr: 127.0.0.1:7102, client_addr: 127.0.0.1:7202}
  - {id: hz-a-10, site: hz-a, raft_addr: 127.0.0.1:7110, client_addr: 127.0.0.1:7210}
  - {id: hz-b-1, site: hz-b, raft_addr: 127.0.0.1:7104, client_addr: 127.0.0.1:7204}
  - {id: sh-a-2, site: sh-a, raft_addr: 127.0.0.1:7105, client_addr: 127.0.0.1:7205}
  - {id: hz-a-1, site: hz-a, raft_addr: 127.0.0.1:7101, client_addr: 127.0.0.1:7201}
cells:
  - {id: 1, home: hz-a, replicas: [hz-a-2, hz-b-1, sh-a-3], slots: ["0-4095"]}
`

func parseTopology(t *testing.T, yaml string) *topology.Topology {
	t.Helper()
	topo, err := topology.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse the test topology: %v", err)
	}
	return topo
}

func TestVotersAreTheFirstNodeByIDOfEverySiteWithNodes(t *testing.T) {
	t.Parallel()
	topo := parseTopology(t, votersTopology)
	var ids []string
	for _, n := range Voters(topo) {
		ids = append(ids, n.ID)
	}
	// Site order (bj-a has no node), and within a site the smallest id by
	// byte order, not file order: hz-a-1 < hz-a-10 < hz-a-2.
	if want := []string{"hz-a-1", "hz-b-1", "sh-a-2"}; !slices.Equal(ids, want) {
		t.Fatalf("voters = %v, want %v", ids, want)
	}
	// Every process derives the same list, whatever the order of the file:
	// the same nodes listed the other way round give the same voters.
	again := Voters(parseTopology(t, reverseNodeLines(votersTopology)))
	if !slices.Equal(again, Voters(topo)) {
		t.Fatalf("the same topology gave voters %v, then, nodes reversed, %v", Voters(topo), again)
	}
}

// reverseNodeLines reverses the order of the node lines of a topology.
func reverseNodeLines(yaml string) string {
	lines := strings.Split(yaml, "\n")
	var at []int
	for i, line := range lines {
		if strings.Contains(line, "raft_addr:") {
			at = append(at, i)
		}
	}
	for i, j := 0, len(at)-1; i < j; i, j = i+1, j-1 {
		lines[at[i]], lines[at[j]] = lines[at[j]], lines[at[i]]
	}
	return strings.Join(lines, "\n")
}

func TestIsVoter(t *testing.T) {
	t.Parallel()
	topo := parseTopology(t, votersTopology)
	for _, tt := range []struct {
		node string
		want bool
	}{
		{"hz-a-1", true}, {"hz-b-1", true}, {"sh-a-2", true},
		{"hz-a-2", false}, {"hz-a-10", false}, {"sh-a-3", false}, // Not the first of their site.
		{"bj-a-1", false}, {"", false}, {"HZ-A-1", false}, // Not nodes of the topology.
	} {
		if got := IsVoter(topo, tt.node); got != tt.want {
			t.Errorf("IsVoter(%q) = %v, want %v", tt.node, got, tt.want)
		}
	}
}

func TestPeersAreTheVotersRaftAddresses(t *testing.T) {
	t.Parallel()
	topo := parseTopology(t, votersTopology)
	want := []replication.Peer{
		{NodeID: "hz-a-1", Addr: "127.0.0.1:7101"},
		{NodeID: "hz-b-1", Addr: "127.0.0.1:7104"},
		{NodeID: "sh-a-2", Addr: "127.0.0.1:7105"},
	}
	if got := Peers(topo); !slices.Equal(got, want) {
		t.Fatalf("peers = %+v, want %+v", got, want)
	}
}

func TestVotersOfTheMinimalTopology(t *testing.T) {
	t.Parallel()
	topo, err := topology.Load("../../deploy/topologies/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// One node per site: every node votes.
	voters := Voters(topo)
	if len(voters) != len(topo.Nodes()) || len(voters) != len(topo.Sites()) {
		t.Fatalf("%d voters for %d sites of one node each", len(voters), len(topo.Sites()))
	}
	for _, n := range topo.Nodes() {
		if !IsVoter(topo, n.ID) {
			t.Errorf("%s, the only node of site %s, is not a voter", n.ID, n.Site)
		}
	}
}
