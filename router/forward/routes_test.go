package forward

import "testing"

func TestRouteTableTermsAndHints(t *testing.T) {
	rt := NewRoutes()
	if id, _ := rt.Leader(1); id != "" {
		t.Fatalf("empty table knows leader %q", id)
	}
	rt.Observe(1, "n1", 5)
	if rt.Observe(1, "n2", 4) || rt.Observe(1, "n2", 5) {
		t.Fatal("an older or equal term replaced the route")
	}
	if id, term := rt.Leader(1); id != "n1" || term != 5 {
		t.Fatalf("leader %s term %d", id, term)
	}
	// A hint replaces the route at once, and stale gossip of the old term cannot take it back.
	rt.Hint(1, "n3", 6)
	if rt.Observe(1, "n1", 5) {
		t.Fatal("stale gossip overrode a newer hint")
	}
	if id, term := rt.Leader(1); id != "n3" || term != 6 {
		t.Fatalf("after hint: %s %d", id, term)
	}
	rt.Hint(1, "n1", 2) // an older view
	if id, _ := rt.Leader(1); id != "n3" {
		t.Fatalf("an older hint won: %s", id)
	}
	// Forgotten after a failure; the same term may restore it.
	rt.Forget(1, "n3")
	if id, _ := rt.Leader(1); id != "" {
		t.Fatalf("forgotten route still %q", id)
	}
	if !rt.Observe(1, "n3", 6) {
		t.Fatal("gossip of the same term could not restore a forgotten route")
	}
	rt.Forget(1, "n9") // not the route: no effect
	if id, _ := rt.Leader(1); id != "n3" {
		t.Fatalf("forgetting another node dropped the route: %q", id)
	}
}

// A member that claimed a high term and left (a rogue, or a node whose
// claim was a lie) must not keep the real leader's lower term out: once
// its route is forgotten, the real leader's claim takes it.
func TestRouteTableGoneClaimantDoesNotKeepItsTerm(t *testing.T) {
	rt := NewRoutes()
	rt.Observe(1, "n2", 7) // the real leader
	if !rt.Observe(1, "rogue", 1<<40) {
		t.Fatal("a higher term did not win while its claimant was there")
	}
	if rt.Observe(1, "n2", 7) {
		t.Fatal("a lower term won while the higher term's claimant was there")
	}
	rt.Forget(1, "rogue") // it left the pool (or failed to answer)
	if !rt.Observe(1, "n2", 7) {
		t.Fatal("the real leader's lower term could not take the route of a gone claimant")
	}
	if id, term := rt.Leader(1); id != "n2" || term != 7 {
		t.Fatalf("leader %q term %d, want n2 term 7", id, term)
	}
	// From then on terms rule again.
	if rt.Observe(1, "n1", 6) {
		t.Fatal("an older claim replaced the real leader's")
	}
}

// The node a route points at knows it is not the leader: its NOT_LEADER
// hint moves the route even to a lower term, and its own (lying) claim,
// still gossiped, cannot take the route back.
func TestRouteTableContradictionByTheRoutesNode(t *testing.T) {
	rt := NewRoutes()
	rt.Observe(1, "n2", 7)
	rt.Observe(1, "n1", 1<<40) // n1 claims a term it does not have
	rt.Contradicted(1, "n1", "n2", 7)
	if id, term := rt.Leader(1); id != "n2" || term != 7 {
		t.Fatalf("after n1 named n2: leader %q term %d, want n2 term 7", id, term)
	}
	if rt.Observe(1, "n1", 1<<40) {
		t.Fatal("the contradicted claim took the route back")
	}
	if id, _ := rt.Leader(1); id != "n2" {
		t.Fatalf("leader %q, want n2", id)
	}
	// n1's own later leadership, of a newer term, is believed again.
	if !rt.Observe(1, "n1", 1<<40+1) {
		t.Fatal("n1's newer term was refused")
	}

	// A hint without a term from the route's node moves the route too.
	rt.Contradicted(1, "n1", "n3", 0)
	if id, _ := rt.Leader(1); id != "n3" {
		t.Fatalf("after a hint without a term: leader %q, want n3", id)
	}
	if !rt.Observe(1, "n3", 9) {
		t.Fatal("the hinted leader's own claim was refused")
	}

	// From a node the route does not point at, it is an ordinary hint:
	// an older view than ours changes nothing.
	rt.Contradicted(1, "n4", "n5", 2)
	if id, term := rt.Leader(1); id != "n3" || term != 9 {
		t.Fatalf("a hint of an older term from another node moved the route: %q %d", id, term)
	}
	rt.Contradicted(1, "n4", "n5", 10)
	if id, term := rt.Leader(1); id != "n5" || term != 10 {
		t.Fatalf("a newer hint from another node: %q %d, want n5 10", id, term)
	}
	// Without a hinted node, the route of the node that refused is forgotten.
	rt.Contradicted(1, "n5", "", 0)
	if id, _ := rt.Leader(1); id != "" {
		t.Fatalf("route still %q", id)
	}
}
