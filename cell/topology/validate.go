package topology

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits. Each bounds the work and memory of validating and indexing a
// file, and each is far above any deployment we plan.
const (
	// SitesMax bounds the sites: the rtt table grows as their square.
	SitesMax = 64
	// NodesMax bounds the nodes.
	NodesMax = 4096
	// CellsMax bounds the cells: each owns at least one slot.
	CellsMax = Slots

	environmentLengthMax = 32
	siteIDLengthMax      = 32
	regionLengthMax      = 32
	nodeIDLengthMax      = 64

	// rttMax is the largest round-trip time between two sites; the Raft
	// timeouts derive from it (see replication.DeriveTiming), and beyond it
	// failover would take too long to be worth automating.
	rttMax = 2 * time.Second
)

// Validate checks the topology again and returns nil: Parse, Load and New
// return a Topology only when it is valid. It is an invariant check for
// tests and long-lived holders.
//
// The rules, each violation reported with its field path and value, all at
// once (see ValidationError):
//   - environment, site ids and regions: 1-32 characters of [a-z0-9-]; node
//     ids 1-64. Ids are unique within their list.
//   - sites, nodes and cells are not empty (a site without nodes is fine),
//     and at most SitesMax, NodesMax and CellsMax long.
//   - rtt lists every pair of distinct sites exactly once, in either order,
//     with a Go duration in (0, 2s].
//   - a node's site exists; raft_addr and client_addr are host:port with a
//     port in 1-65535, and no two addresses of any nodes are equal.
//   - a cell's id is at least 1 and unique; its home is a site holding one
//     of its replicas; it has 3 or 5 distinct replicas, all known nodes,
//     placed so that losing any one site leaves a strict majority of them.
//   - a cell owns at least one slot range, "first-last" or "slot", within
//     [0, Slots); every slot is owned by exactly one cell.
func (t *Topology) Validate() error {
	_, err := check(t.raw)
	return err
}

// checker runs the rules over a file; each method handles one section and
// leaves what later sections need in the maps.
type checker struct {
	f file
	v violations

	siteByID map[string]int       // site id -> first index in f.Sites
	rttOf    map[[2]int]rttEntry  // (low, high) site index -> entry
	nodeByID map[string]int       // node id -> first index in f.Nodes
	addrUse  map[string]string    // normalized address -> path of first use
	slots    [][]SlotRange        // per cell, its valid ranges
	owned    [][Slots / 64]uint64 // per cell, the slots it owns (bitmap)
}

type rttEntry struct {
	index int // in f.RTT
	rtt   time.Duration
}

func check(f file) (*Topology, error) {
	c := &checker{
		f:        f,
		siteByID: make(map[string]int, len(f.Sites)),
		rttOf:    make(map[[2]int]rttEntry, len(f.RTT)),
		nodeByID: make(map[string]int, len(f.Nodes)),
		addrUse:  make(map[string]string, 2*len(f.Nodes)),
	}
	c.checkName("environment", f.Environment, environmentLengthMax)
	c.checkSites()
	c.checkRTTs()
	c.checkNodes()
	c.checkCells()
	c.checkSlotOwners()
	if err := c.v.err(); err != nil {
		return nil, err
	}
	return c.build(), nil
}

// checkName checks an id-like value: 1 to lengthMax characters of
// [a-z0-9-].
func (c *checker) checkName(path, value string, lengthMax int) {
	if value == "" {
		c.v.add(path, "missing")
		return
	}
	if len(value) > lengthMax {
		c.v.add(path, "%s is %d characters long, more than %d", quote(value), len(value), lengthMax)
		return
	}
	for _, r := range value {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			c.v.add(path, "%s: character %q is not one of [a-z0-9-]", quote(value), r)
			return
		}
	}
}

// checkList reports an empty or over-long top-level list.
func (c *checker) checkList(path string, length, lengthMax int, noun string) {
	if length == 0 {
		c.v.add(path, "empty: a topology needs at least one %s", noun)
	}
	if length > lengthMax {
		c.v.add(path, "%d %ss, more than %d", length, noun, lengthMax)
	}
}

func (c *checker) checkSites() {
	c.checkList("sites", len(c.f.Sites), SitesMax, "site")
	for i, s := range c.f.Sites {
		path := fmt.Sprintf("sites[%d]", i)
		c.checkName(path+".id", s.ID, siteIDLengthMax)
		c.checkName(path+".region", s.Region, regionLengthMax)
		if s.LeadersMax < 0 {
			c.v.add(path+".leaders_max", "%d is negative (0 means no limit)", s.LeadersMax)
		}
		if s.ID == "" {
			continue
		}
		// An id with a bad character still registers, so that references
		// to it do not add "unknown site" noise.
		if first, dup := c.siteByID[s.ID]; dup {
			c.v.add(path+".id", "%s is already used by sites[%d]", quote(s.ID), first)
		} else {
			c.siteByID[s.ID] = i
		}
	}
}

// site returns the index of a referenced site, reporting it when unknown.
func (c *checker) site(path, id string) (int, bool) {
	if id == "" {
		c.v.add(path, "missing")
		return 0, false
	}
	i, ok := c.siteByID[id]
	if !ok {
		c.v.add(path, "unknown site %s", quote(id))
	}
	return i, ok
}

func (c *checker) checkRTTs() {
	for i, r := range c.f.RTT {
		path := fmt.Sprintf("rtt[%d]", i)
		d := c.checkRTT(path+".rtt", r.RTT)
		if len(r.Sites) != 2 {
			c.v.add(path+".sites", "has %d site ids, want 2", len(r.Sites))
			continue
		}
		a, aKnown := c.site(path+".sites[0]", r.Sites[0])
		b, bKnown := c.site(path+".sites[1]", r.Sites[1])
		if !aKnown || !bKnown {
			continue
		}
		if a == b {
			c.v.add(path+".sites", "%s twice: a round-trip time is between two distinct sites", quote(r.Sites[0]))
			continue
		}
		key := [2]int{min(a, b), max(a, b)}
		if first, dup := c.rttOf[key]; dup {
			c.v.add(path, "pair %s/%s listed twice (first at rtt[%d])", short(r.Sites[0]), short(r.Sites[1]), first.index)
			continue
		}
		c.rttOf[key] = rttEntry{index: i, rtt: d}
	}
	if len(c.f.Sites) > SitesMax {
		return // reported; the pairs would be too many to list
	}
	for i, a := range c.f.Sites {
		for j := i + 1; j < len(c.f.Sites); j++ {
			b := c.f.Sites[j]
			if c.siteByID[a.ID] != i || c.siteByID[b.ID] != j || a.ID == "" || b.ID == "" {
				continue // a duplicate or missing id, reported
			}
			if _, ok := c.rttOf[[2]int{i, j}]; !ok {
				c.v.add("rtt", "no round-trip time for sites %s and %s", short(a.ID), short(b.ID))
			}
		}
	}
}

// checkRTT parses a round-trip time; 0 when it is invalid (reported).
func (c *checker) checkRTT(path, text string) time.Duration {
	if text == "" {
		c.v.add(path, "missing")
		return 0
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		c.v.add(path, "%s: not a duration, e.g. \"2ms\"", quote(text))
		return 0
	}
	if d <= 0 || d > rttMax {
		c.v.add(path, "%s: must be more than 0 and at most %s", quote(text), rttMax)
		return 0
	}
	return d
}

func (c *checker) checkNodes() {
	c.checkList("nodes", len(c.f.Nodes), NodesMax, "node")
	for i, n := range c.f.Nodes {
		path := fmt.Sprintf("nodes[%d]", i)
		c.checkName(path+".id", n.ID, nodeIDLengthMax)
		if n.ID != "" {
			if first, dup := c.nodeByID[n.ID]; dup {
				c.v.add(path+".id", "%s is already used by nodes[%d]", quote(n.ID), first)
			} else {
				c.nodeByID[n.ID] = i
			}
		}
		c.site(path+".site", n.Site)
		c.checkAddr(path+".raft_addr", n.RaftAddr)
		c.checkAddr(path+".client_addr", n.ClientAddr)
	}
}

// checkAddr checks a host:port and that no other address equals it.
func (c *checker) checkAddr(path, addr string) {
	if addr == "" {
		c.v.add(path, "missing")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		reason := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			reason = ae.Err
		}
		c.v.add(path, "%s: not host:port (%s)", quote(addr), reason)
		return
	}
	if host == "" {
		c.v.add(path, "%s: the host is empty; give the address other processes dial", quote(addr))
		return
	}
	portNumber, err := strconv.Atoi(port)
	if !isDigits(port) || err != nil || portNumber < 1 || portNumber > 65535 {
		c.v.add(path, "%s: port %s is not a number in 1-65535", quote(addr), quote(port))
		return
	}
	// Equal addresses are equal after normalizing the spelling of the host
	// and port: "LOCALHOST:07101" is "localhost:7101".
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	key := net.JoinHostPort(host, strconv.Itoa(portNumber))
	if first, dup := c.addrUse[key]; dup {
		c.v.add(path, "%s is already used by %s", quote(addr), first)
		return
	}
	c.addrUse[key] = path
}

func (c *checker) checkCells() {
	c.checkList("cells", len(c.f.Cells), CellsMax, "cell")
	cellByID := make(map[uint64]int, len(c.f.Cells))
	c.slots = make([][]SlotRange, len(c.f.Cells))
	for i, cell := range c.f.Cells {
		path := fmt.Sprintf("cells[%d]", i)
		if cell.ID == 0 {
			c.v.add(path+".id", "missing or 0: cell ids start at 1")
		} else if first, dup := cellByID[cell.ID]; dup {
			c.v.add(path+".id", "%d is already used by cells[%d]", cell.ID, first)
		} else {
			cellByID[cell.ID] = i
		}
		home, homeKnown := c.site(path+".home", cell.Home)
		c.checkReplicas(path, cell, home, homeKnown)
		if len(cell.Slots) == 0 {
			c.v.add(path+".slots", "empty: a cell owns at least one slot")
		}
		for k, text := range cell.Slots {
			r, err := parseSlotRange(text)
			if err != nil {
				c.v.add(fmt.Sprintf("%s.slots[%d]", path, k), "%s: %v", quote(text), err)
				continue
			}
			c.slots[i] = append(c.slots[i], r)
		}
	}
}

// checkReplicas checks the replica list of a cell and, when every replica
// is a known node, their placement.
func (c *checker) checkReplicas(path string, cell fileCell, home int, homeKnown bool) {
	if n := len(cell.Replicas); n != 3 && n != 5 {
		c.v.add(path+".replicas", "has %d replicas, want 3 or 5", n)
	}
	seen := make(map[string]int, len(cell.Replicas))
	placed := true                                   // every replica is a known node, listed once
	perSite := make(map[int]int, len(cell.Replicas)) // site index -> replicas there
	for k, id := range cell.Replicas {
		replicaPath := fmt.Sprintf("%s.replicas[%d]", path, k)
		if first, dup := seen[id]; dup {
			c.v.add(replicaPath, "node %s is listed twice (also replicas[%d])", quote(id), first)
			placed = false
			continue
		}
		seen[id] = k
		n, ok := c.nodeByID[id]
		if !ok {
			c.v.add(replicaPath, "unknown node %s", quote(id))
			placed = false
			continue
		}
		site, ok := c.siteByID[c.f.Nodes[n].Site]
		if !ok {
			placed = false // the node's unknown site is reported
			continue
		}
		perSite[site]++
	}
	if !placed || len(cell.Replicas) == 0 {
		return
	}
	total := len(cell.Replicas)
	// A cell must survive the loss of any one site (a fiber cut): the
	// replicas elsewhere must still form a Raft majority. Only the sites
	// holding replicas matter; visit them in file order.
	for _, s := range slices.Sorted(maps.Keys(perSite)) {
		if left := total - perSite[s]; 2*left <= total {
			c.v.add(path+".replicas", "losing site %s leaves %d of %d replicas, not a majority", quote(c.f.Sites[s].ID), left, total)
		}
	}
	if homeKnown && perSite[home] == 0 {
		c.v.add(path+".home", "site %s holds no replica of the cell", quote(cell.Home))
	}
}

// checkSlotOwners checks that every slot has exactly one owner, and that no
// cell lists a slot twice.
func (c *checker) checkSlotOwners() {
	ranges := 0
	for _, rs := range c.slots {
		ranges += len(rs)
	}
	if ranges > Slots {
		// Ranges are disjoint and non-empty in a valid file, so there are
		// at most Slots of them; the check below would cost too much.
		c.v.add("slots", "%d slot ranges in all cells, more than the %d slots", ranges, Slots)
		return
	}
	if len(c.f.Cells) == 0 || len(c.f.Cells) > CellsMax {
		return // reported
	}
	c.owned = make([][Slots / 64]uint64, len(c.f.Cells))
	var rangeOf [Slots]int // 1 + index of the cell's range listing the slot
	for i, rs := range c.slots {
		rangeIndex := c.rangeIndexes(i)
		for k, r := range rs {
			reported := false
			for s := r.First; s <= r.Last; s++ {
				if rangeOf[s] != 0 && !reported {
					c.v.add(fmt.Sprintf("cells[%d].slots[%d]", i, rangeIndex[k]), "%s: slot %d is already listed in cells[%d].slots[%d]",
						quote(c.f.Cells[i].Slots[rangeIndex[k]]), s, i, rangeIndex[rangeOf[s]-1])
					reported = true
				}
				rangeOf[s] = k + 1
				c.owned[i][s/64] |= 1 << (s % 64)
			}
		}
		for _, r := range rs {
			clear(rangeOf[r.First : r.Last+1])
		}
	}
	// Report runs of consecutive slots with the same wrong owners.
	var owners, runOwners []int
	runFirst := 0
	for s := 0; s <= Slots; s++ {
		owners = owners[:0]
		if s < Slots {
			for i := range c.owned {
				if c.owned[i][s/64]&(1<<(s%64)) != 0 {
					owners = append(owners, i)
				}
			}
		}
		if s > 0 && s < Slots && slices.Equal(owners, runOwners) {
			continue
		}
		if s > 0 && len(runOwners) != 1 {
			c.reportOwners(runFirst, s-1, runOwners)
		}
		runFirst = s
		runOwners = append(runOwners[:0], owners...)
	}
}

// rangeIndexes maps the index of a cell's valid range in c.slots to its
// index in the file's list (they differ after an invalid one).
func (c *checker) rangeIndexes(cell int) []int {
	var indexes []int
	for k, text := range c.f.Cells[cell].Slots {
		if _, err := parseSlotRange(text); err == nil {
			indexes = append(indexes, k)
		}
	}
	return indexes
}

// ownersListedMax caps the cells named in one message.
const ownersListedMax = 5

func (c *checker) reportOwners(first, last int, owners []int) {
	slots := fmt.Sprintf("slot %d is", first)
	if last > first {
		slots = fmt.Sprintf("slots %d-%d are", first, last)
	}
	if len(owners) == 0 {
		c.v.add("slots", "%s owned by no cell", slots)
		return
	}
	var ids []string
	for _, i := range owners[:min(len(owners), ownersListedMax)] {
		ids = append(ids, strconv.FormatUint(c.f.Cells[i].ID, 10))
	}
	list := strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
	if len(owners) > ownersListedMax {
		list = strings.Join(ids, ", ") + fmt.Sprintf(" and %d more", len(owners)-ownersListedMax)
	}
	c.v.add("slots", "%s owned by cells %s", slots, list)
}

// short returns an id for a message without quotes, shortened.
func short(id string) string {
	if len(id) > quotedLengthMax {
		return quote(id)
	}
	return id
}
