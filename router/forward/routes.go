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

// Routes maps cells to their acting leader. Two sources feed it:
// gossip (each node advertises the cells it leads with the raft term) and
// Leader hints in NOT_LEADER errors. A newer term always wins; a hint
// without a term replaces the route at once (the node that sent it has just
// seen the newer leader) but keeps the known term, so stale gossip of the
// same term cannot take it back.
type Routes struct {
	mu     sync.RWMutex
	routes map[uint64]route
}

// NewRoutes is an empty table.
func NewRoutes() *Routes { return &Routes{routes: make(map[uint64]route)} }

// Leader returns the believed leader of cell, or "" when unknown.
func (t *Routes) Leader(cell uint64) (nodeID string, term uint64) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.routes[cell]
	return r.nodeID, r.term
}

// Observe records a leadership claim from gossip; it wins with a newer
// term, or with the same term when the route was forgotten.
func (t *Routes) Observe(cell uint64, nodeID string, term uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.routes[cell]
	if ok && (term < cur.term || term == cur.term && cur.nodeID != "") {
		return false
	}
	t.routes[cell] = route{nodeID: nodeID, term: term, learned: time.Now()}
	return true
}

// Hint records a leader named by a NOT_LEADER error (term 0 if unknown).
func (t *Routes) Hint(cell uint64, nodeID string, term uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.routes[cell]
	if term != 0 && term < cur.term {
		return // an older view than ours
	}
	t.routes[cell] = route{nodeID: nodeID, term: max(term, cur.term), learned: time.Now()}
}

// Forget drops the route of cell if it still points at nodeID (after
// that node failed to answer), so the next attempt tries other replicas.
func (t *Routes) Forget(cell uint64, nodeID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.routes[cell]; ok && cur.nodeID == nodeID {
		cur.nodeID = ""
		t.routes[cell] = cur
	}
}
