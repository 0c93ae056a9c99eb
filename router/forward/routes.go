package forward

import (
	"sync"
	"time"
)

// route is where the router believes a cell's leader is.
type route struct {
	nodeID  string
	term    uint64
	learned time.Time
}

// refuted is a leadership claim that its own node contradicted: it said
// NOT_LEADER while the route, set by its claim of term, pointed at it.
type refuted struct {
	nodeID string
	term   uint64
}

// Routes maps cells to their acting leader. Two sources feed it:
// gossip (each node advertises the cells it leads with the raft term) and
// Leader hints in NOT_LEADER errors.
//   - A newer term wins (Observe, Hint); a hint without a term replaces
//     the route at once (the node that sent it has just seen the newer
//     leader) but keeps the known term, so stale gossip of the same term
//     cannot take it back.
//   - A forgotten route (Forget: its node failed to answer, or left the
//     pool) takes the next claim of any term: a term is only as good as
//     the node that claimed it, and one that is gone (a rogue, a node
//     whose claim was a lie or is stale) must not keep out the real
//     leader's lower term until a restart.
//   - The node a route points at is believed over its own claim
//     (Contradicted): when it says NOT_LEADER and names another leader,
//     the route moves there whatever the terms, and its claims up to the
//     contradicted term are refused from then on.
type Routes struct {
	mu      sync.RWMutex
	routes  map[uint64]route
	refuted map[uint64]refuted // cell -> the last claim contradicted; at most one per cell
}

// NewRoutes is an empty table.
func NewRoutes() *Routes {
	return &Routes{routes: make(map[uint64]route), refuted: make(map[uint64]refuted)}
}

// Leader returns the believed leader of cell, or "" when unknown.
func (t *Routes) Leader(cell uint64) (nodeID string, term uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.routes[cell]
	return r.nodeID, r.term
}

// Observe records a leadership claim from gossip; it wins with a newer
// term, or with any term when the route was forgotten. A claim of a node
// that contradicted its own claim (Contradicted) is refused up to the
// contradicted term.
func (t *Routes) Observe(cell uint64, nodeID string, term uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ref, ok := t.refuted[cell]; ok && ref.nodeID == nodeID {
		if term <= ref.term {
			return false // the node itself said it is not the leader of this claim
		}
		delete(t.refuted, cell) // a newer leadership of its own
	}
	cur, ok := t.routes[cell]
	if ok && cur.nodeID != "" && term <= cur.term {
		return false
	}
	t.routes[cell] = route{nodeID: nodeID, term: term, learned: time.Now()}
	return true
}

// Hint records a leader named by a NOT_LEADER error (term 0 if unknown).
func (t *Routes) Hint(cell uint64, nodeID string, term uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hintLocked(cell, nodeID, term)
}

func (t *Routes) hintLocked(cell uint64, nodeID string, term uint64) {
	cur := t.routes[cell]
	if term != 0 && term < cur.term {
		return // an older view than ours
	}
	t.routes[cell] = route{nodeID: nodeID, term: max(term, cur.term), learned: time.Now()}
}

// Contradicted records a NOT_LEADER answer of fromNode naming hintedNode
// as the leader (term 0 if unknown). When the route points at fromNode,
// fromNode knows better than the claim that put it there: the route moves
// to hintedNode at the hinted term even if it is lower than the route's
// (the claimed term was a lie, or stale), and fromNode's claims up to the
// route's term are refused from then on (Observe), so that a lying claim
// still in gossip cannot take the route back. Otherwise (the route points
// elsewhere, or fromNode names itself) it is Hint. An empty hintedNode
// forgets the route of fromNode.
func (t *Routes) Contradicted(cell uint64, fromNode, hintedNode string, term uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.routes[cell]
	pointsAtFrom := ok && fromNode != "" && cur.nodeID == fromNode
	switch {
	case hintedNode == "":
		if pointsAtFrom {
			cur.nodeID = ""
			t.routes[cell] = cur
		}
	case !pointsAtFrom || hintedNode == fromNode:
		t.hintLocked(cell, hintedNode, term)
	default:
		t.refuted[cell] = refuted{nodeID: fromNode, term: cur.term}
		t.routes[cell] = route{nodeID: hintedNode, term: term, learned: time.Now()}
	}
}

// Forget drops the route of cell if it still points at nodeID (after
// that node failed to answer, or left the pool), so the next attempt
// tries other replicas and the next claim of any term takes the route.
func (t *Routes) Forget(cell uint64, nodeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.routes[cell]; ok && cur.nodeID == nodeID {
		cur.nodeID = ""
		t.routes[cell] = cur
	}
}
