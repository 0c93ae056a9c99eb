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
