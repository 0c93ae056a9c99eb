package topology

import (
	"cmp"
	"slices"
	"time"
)

// build indexes a file that passed every check.
func (c *checker) build() *Topology {
	f := c.f
	t := &Topology{
		raw:         f,
		environment: f.Environment,
		siteIndex:   make(map[string]int, len(f.Sites)),
		nodeIndex:   make(map[string]int, len(f.Nodes)),
		cellIndex:   make(map[uint64]int, len(f.Cells)),
	}
	for _, s := range f.Sites {
		t.sites = append(t.sites, Site(s))
	}
	slices.SortFunc(t.sites, func(a, b Site) int { return cmp.Compare(a.ID, b.ID) })
	for i, s := range t.sites {
		t.siteIndex[s.ID] = i
	}

	t.rtt = make([][]time.Duration, len(t.sites))
	for i := range t.rtt {
		t.rtt[i] = make([]time.Duration, len(t.sites))
	}
	for key, entry := range c.rttOf {
		a := t.siteIndex[f.Sites[key[0]].ID]
		b := t.siteIndex[f.Sites[key[1]].ID]
		t.rtt[a][b], t.rtt[b][a] = entry.rtt, entry.rtt
	}

	for _, n := range f.Nodes {
		t.nodes = append(t.nodes, Node(n))
	}
	slices.SortFunc(t.nodes, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	t.nodesOfSite = make([][]int, len(t.sites))
	for i, n := range t.nodes {
		t.nodeIndex[n.ID] = i
		site := t.siteIndex[n.Site]
		t.nodesOfSite[site] = append(t.nodesOfSite[site], i) // sorted: nodes are
	}

	for i, fc := range f.Cells {
		cell := Cell{
			ID:       fc.ID,
			Home:     fc.Home,
			Replicas: slices.Clone(fc.Replicas),
			Slots:    slices.Clone(c.slots[i]),
		}
		slices.SortFunc(cell.Slots, func(a, b SlotRange) int { return cmp.Compare(a.First, b.First) })
		t.cells = append(t.cells, cell)
	}
	slices.SortFunc(t.cells, func(a, b Cell) int { return cmp.Compare(a.ID, b.ID) })
	t.cellsOfNode = make([][]int, len(t.nodes))
	t.cellRTTMax = make([]time.Duration, len(t.cells))
	for i, cell := range t.cells {
		t.cellIndex[cell.ID] = i
		for _, r := range cell.Slots {
			for s := r.First; s <= r.Last; s++ {
				t.slotCell[s] = int32(i)
			}
		}
		for k, a := range cell.Replicas {
			node := t.nodeIndex[a]
			t.cellsOfNode[node] = append(t.cellsOfNode[node], i) // sorted: cells are
			for _, b := range cell.Replicas[k+1:] {
				t.cellRTTMax[i] = max(t.cellRTTMax[i], t.RTT(t.nodes[node].Site, t.nodes[t.nodeIndex[b]].Site))
			}
		}
	}
	return t
}

// Site returns the site with the id.
func (t *Topology) Site(id string) (Site, bool) {
	i, ok := t.siteIndex[id]
	if !ok {
		return Site{}, false
	}
	return t.sites[i], true
}

// Node returns the node with the id.
func (t *Topology) Node(id string) (Node, bool) {
	i, ok := t.nodeIndex[id]
	if !ok {
		return Node{}, false
	}
	return t.nodes[i], true
}

// Cell returns the cell with the id.
func (t *Topology) Cell(id uint64) (Cell, bool) {
	i, ok := t.cellIndex[id]
	if !ok {
		return Cell{}, false
	}
	return t.cells[i], true
}

// Sites returns every site, ordered by id.
func (t *Topology) Sites() []Site { return slices.Clone(t.sites) }

// Nodes returns every node, ordered by id.
func (t *Topology) Nodes() []Node { return slices.Clone(t.nodes) }

// Cells returns every cell, ordered by id.
func (t *Topology) Cells() []Cell { return slices.Clone(t.cells) }

// NodesOfSite returns the nodes in the site, ordered by id; none for an
// unknown site or a site without nodes.
func (t *Topology) NodesOfSite(siteID string) []Node {
	site, ok := t.siteIndex[siteID]
	if !ok {
		return nil
	}
	nodes := make([]Node, 0, len(t.nodesOfSite[site]))
	for _, i := range t.nodesOfSite[site] {
		nodes = append(nodes, t.nodes[i])
	}
	return nodes
}

// CellsOfNode returns the cells with a replica on the node, ordered by id;
// none for an unknown node.
func (t *Topology) CellsOfNode(nodeID string) []Cell {
	node, ok := t.nodeIndex[nodeID]
	if !ok {
		return nil
	}
	cells := make([]Cell, 0, len(t.cellsOfNode[node]))
	for _, i := range t.cellsOfNode[node] {
		cells = append(cells, t.cells[i])
	}
	return cells
}

// RTT returns the round-trip time between sites a and b: 0 when a == b, and
// 0 when either is not a site of the topology.
func (t *Topology) RTT(a, b string) time.Duration {
	i, ok := t.siteIndex[a]
	j, ok2 := t.siteIndex[b]
	if !ok || !ok2 {
		return 0
	}
	return t.rtt[i][j]
}

// CellRTTMax returns the largest round-trip time between the sites holding
// the cell's replicas (the cell's Raft timeouts derive from it); 0 for an
// unknown cell.
func (t *Topology) CellRTTMax(cellID uint64) time.Duration {
	i, ok := t.cellIndex[cellID]
	if !ok {
		return 0
	}
	return t.cellRTTMax[i]
}
