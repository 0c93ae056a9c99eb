package gossip

import (
	"github.com/cellpay/cellpay/cell/topology"
)

// Claim is one leadership a route table may learn from gossip: Node leads
// CellID at Term (Term is 0 in LeaderClaims' gone list).
type Claim struct {
	CellID uint64
	Node   string
	Term   uint64
}

// LeaderClaims sorts what members advertise into what a route table
// (forward.Routes) should learn, believing only what topo vouches for:
//   - claims: the leader claims of alive members of kind node that are
//     nodes of topo, each only for a cell with a replica on that node.
//     Claims of any other member (a name the topology does not know) and
//     claims of cells the node does not host are dropped; ignored counts
//     them.
//   - gone: (cell, node) for every cell hosted by a topology node that is
//     listed but not alive (suspect, dead, left): the caller forgets those
//     routes first, so that a live member's claim of a lower term can take
//     them (forward.Routes.Observe accepts any term on a forgotten route).
//
// This is a second line behind Config.Admit: it holds even for members
// that Admit let in, or without Admit.
func LeaderClaims(topo *topology.Topology, members []Member) (claims, gone []Claim, ignored int) {
	for _, m := range members {
		if m.Meta.GetKind() != KindNode {
			continue
		}
		hosted := topo.CellsOfNode(m.Name) // none for a name the topology does not know
		if m.State != StateAlive {
			for _, c := range hosted {
				gone = append(gone, Claim{CellID: c.ID, Node: m.Name})
			}
			continue
		}
		for _, lead := range m.Meta.GetLeads() {
			if !hostsCell(hosted, lead.GetCellId()) {
				ignored++
				continue
			}
			claims = append(claims, Claim{CellID: lead.GetCellId(), Node: m.Name, Term: lead.GetTerm()})
		}
	}
	return claims, gone, ignored
}

// hostsCell reports whether cells (sorted by id, as CellsOfNode returns
// them) holds cell id.
func hostsCell(cells []topology.Cell, id uint64) bool {
	low, high := 0, len(cells)
	for low < high {
		mid := low + (high-low)/2
		switch {
		case cells[mid].ID == id:
			return true
		case cells[mid].ID < id:
			low = mid + 1
		default:
			high = mid
		}
	}
	return false
}
