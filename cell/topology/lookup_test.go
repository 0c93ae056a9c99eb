package topology

import (
	"slices"
	"testing"
	"time"
)

func cellIDs(cells []Cell) []uint64 {
	var ids []uint64
	for _, c := range cells {
		ids = append(ids, c.ID)
	}
	return ids
}

func nodeIDs(nodes []Node) []string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func TestLookups(t *testing.T) {
	topo := loadFile(t, demoFile)

	if s, ok := topo.Site("sh-a"); !ok || s != (Site{ID: "sh-a", Region: "shanghai"}) {
		t.Errorf("Site(sh-a) = %v, %v", s, ok)
	}
	if _, ok := topo.Site("bj-a"); ok {
		t.Errorf("Site(bj-a) found")
	}
	want := Node{ID: "hz-b-2", Site: "hz-b", RaftAddr: "127.0.0.1:7104", ClientAddr: "127.0.0.1:7204"}
	if n, ok := topo.Node("hz-b-2"); !ok || n != want {
		t.Errorf("Node(hz-b-2) = %v, %v; want %v", n, ok, want)
	}
	if _, ok := topo.Node("hz-b-3"); ok {
		t.Errorf("Node(hz-b-3) found")
	}
	if c, ok := topo.Cell(5); !ok || c.Home != "hz-b" || !slices.Equal(c.Replicas, []string{"hz-a-2", "hz-b-2", "sh-a-2"}) ||
		!slices.Equal(c.Slots, []SlotRange{{1368, 1708}}) {
		t.Errorf("Cell(5) = %+v, %v", c, ok)
	}
	for _, id := range []uint64{0, 13} {
		if _, ok := topo.Cell(id); ok {
			t.Errorf("Cell(%d) found", id)
		}
	}

	if got := nodeIDs(topo.Nodes()); !slices.Equal(got, []string{"hz-a-1", "hz-a-2", "hz-b-1", "hz-b-2", "sh-a-1", "sh-a-2"}) {
		t.Errorf("Nodes() = %v", got)
	}
	if got := cellIDs(topo.Cells()); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Errorf("Cells() = %v", got)
	}
	if got := nodeIDs(topo.NodesOfSite("hz-b")); !slices.Equal(got, []string{"hz-b-1", "hz-b-2"}) {
		t.Errorf("NodesOfSite(hz-b) = %v", got)
	}
	if got := topo.NodesOfSite("bj-a"); got != nil {
		t.Errorf("NodesOfSite(bj-a) = %v", got)
	}
	if got := cellIDs(topo.CellsOfNode("sh-a-1")); !slices.Equal(got, []uint64{1, 2, 3, 7, 8, 9}) {
		t.Errorf("CellsOfNode(sh-a-1) = %v", got)
	}
	if got := topo.CellsOfNode("nobody"); got != nil {
		t.Errorf("CellsOfNode(nobody) = %v", got)
	}

	rtts := []struct {
		a, b string
		want time.Duration
	}{
		{"hz-a", "hz-b", 2 * time.Millisecond},
		{"hz-b", "hz-a", 2 * time.Millisecond},
		{"hz-a", "sh-a", 30 * time.Millisecond},
		{"sh-a", "hz-b", 30 * time.Millisecond},
		{"hz-a", "hz-a", 0},
		{"hz-a", "bj-a", 0},
		{"bj-a", "bj-a", 0},
	}
	for _, tt := range rtts {
		if got := topo.RTT(tt.a, tt.b); got != tt.want {
			t.Errorf("RTT(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
	if got := topo.CellRTTMax(1); got != 30*time.Millisecond {
		t.Errorf("CellRTTMax(1) = %s, want 30ms", got)
	}
	if got := topo.CellRTTMax(99); got != 0 {
		t.Errorf("CellRTTMax(99) = %s, want 0", got)
	}
}

func TestCellRTTMaxWithinARegion(t *testing.T) {
	f := baseFile()
	addSite(&f, "hz-c", "hangzhou")
	f.RTT[len(f.RTT)-3].RTT = "3ms" // hz-a/hz-c
	f.RTT[len(f.RTT)-2].RTT = "4ms" // hz-b/hz-c
	addNode(&f, "hz-c-1", "hz-c")
	f.Cells[0].Replicas = []string{"hz-a-1", "hz-b-1", "hz-c-1"}
	topo, err := check(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := topo.CellRTTMax(1); got != 4*time.Millisecond {
		t.Errorf("CellRTTMax(1) = %s, want 4ms", got)
	}
	if got := topo.CellRTTMax(2); got != 30*time.Millisecond {
		t.Errorf("CellRTTMax(2) = %s, want 30ms", got)
	}
}

func TestCellOfSlot(t *testing.T) {
	topo := loadFile(t, demoFile)
	tests := []struct {
		slot int
		want uint64 // 0: none
	}{
		{-1, 0}, {0, 1}, {341, 1}, {342, 2}, {1367, 4}, {1368, 5}, {3754, 11}, {3755, 12}, {Slots - 1, 12}, {Slots, 0},
	}
	for _, tt := range tests {
		c, ok := topo.CellOfSlot(tt.slot)
		if ok != (tt.want != 0) || c.ID != tt.want {
			t.Errorf("CellOfSlot(%d) = cell %d, %v; want cell %d", tt.slot, c.ID, ok, tt.want)
		}
	}
	// Every slot belongs to the cell whose ranges contain it.
	for slot := range Slots {
		c, ok := topo.CellOfSlot(slot)
		if !ok || !slices.ContainsFunc(c.Slots, func(r SlotRange) bool { return r.Contains(slot) }) {
			t.Fatalf("CellOfSlot(%d) = %+v, %v", slot, c, ok)
		}
	}
	c, ok := topo.CellOfAccount("alice")
	if want, _ := topo.CellOfSlot(SlotOf("alice")); !ok || c.ID != want.ID || c.ID != 7 {
		t.Errorf("CellOfAccount(alice) = cell %d, %v; want cell 7 (slot 2311)", c.ID, ok)
	}
}

// TestReturnedSlicesAreCopies: a caller reordering a returned list does not
// change the topology.
func TestReturnedSlicesAreCopies(t *testing.T) {
	topo := loadFile(t, demoFile)
	for _, mutate := range []func(){
		func() { s := topo.Sites(); s[0] = Site{} },
		func() { n := topo.Nodes(); n[0] = Node{} },
		func() { c := topo.Cells(); c[0] = Cell{} },
		func() { n := topo.NodesOfSite("hz-a"); n[0] = Node{} },
		func() { c := topo.CellsOfNode("hz-a-1"); c[0] = Cell{} },
	} {
		mutate()
	}
	if topo.Sites()[0].ID != "hz-a" || topo.Nodes()[0].ID != "hz-a-1" || topo.Cells()[0].ID != 1 ||
		topo.NodesOfSite("hz-a")[0].ID != "hz-a-1" || topo.CellsOfNode("hz-a-1")[0].ID != 1 {
		t.Errorf("mutating a returned slice changed the topology")
	}
}

func TestConcurrentLookups(t *testing.T) {
	topo := loadFile(t, demoFile)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				account := string(rune('a'+g)) + string(rune(i))
				if _, ok := topo.CellOfAccount(account); !ok {
					t.Errorf("no cell for %q", account)
					return
				}
				topo.Cells()
				topo.RTT("hz-a", "sh-a")
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func BenchmarkCellOfAccount(b *testing.B) {
	topo := loadFile(b, demoFile)
	b.ReportAllocs()
	for b.Loop() {
		topo.CellOfAccount("acct-0000001")
	}
}
