package failover

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanIgnoresLimits(t *testing.T) {
	s := hzaDown(t)
	s.cfg.MovesInFlightMax = 1
	s.cfg.FailbackWaveMax = 1
	s.cells = append(cells(1, 5, "hz-a", "hz-a"), cells(6, 8, "hz-b", "sh-a")...)

	moves, held := Plan(s.cfg, s.st, s.input(), false)
	wantMoves(t, moves,
		"1:hz-a->hz-b(failover)", "2:hz-a->hz-b(failover)", "3:hz-a->hz-b(failover)",
		"4:hz-a->hz-b(failover)", "5:hz-a->hz-b(failover)",
		"6:sh-a->hz-b(failback)", "7:sh-a->hz-b(failback)", "8:sh-a->hz-b(failback)",
	)
	wantHeld(t, held, nil)

	// Decide, on the same input, keeps to the limits.
	out := s.tick()
	wantMoves(t, out.Moves, "1:hz-a->hz-b(failover)", "6:sh-a->hz-b(failback)")
	if len(out.Held) != 6 {
		t.Errorf("Decide held %d cells, want 6: %+v", len(out.Held), out.Held)
	}

	// Cells under way are left out of the plan.
	s.moving = map[uint64]MoveKind{1: Failover, 6: Failback}
	moves, _ = Plan(s.cfg, s.st, s.input(), false)
	wantMoves(t, moves,
		"2:hz-a->hz-b(failover)", "3:hz-a->hz-b(failover)", "4:hz-a->hz-b(failover)", "5:hz-a->hz-b(failover)",
		"7:sh-a->hz-b(failback)", "8:sh-a->hz-b(failback)",
	)
}

func TestPlanStillHoldsCellsThatCannotMove(t *testing.T) {
	s := hzaDown(t)
	s.cells = []CellView{
		only(cell(1, "hz-a", "hz-a"), "hz-a"),
		stale(lagging(cell(2, "hz-a", "hz-a"), "hz-b-1", 500), "sh-a-1"),
		cell(3, "hz-a", "hz-a"),
	}
	moves, held := Plan(s.cfg, s.st, s.input(), true)
	wantMoves(t, moves, "3:hz-a->hz-b(failover)")
	if len(held) != 2 || held[0].Cell != 1 || held[1].Cell != 2 {
		t.Fatalf("held %+v, want cells 1 and 2", held)
	}
	containsAll(t, "hold", held[0].Reason, "no healthy replica site")
	containsAll(t, "hold", held[1].Reason, "hz-b-1 500 entries behind", "sh-a-1 not answering")
}

func TestPlanIgnoreHoldDown(t *testing.T) {
	s := newSim(t)
	now := s.now
	// hz-a healthy again for a second only: in its hold-down.
	s.set("hz-a", Healthy, now.Add(-time.Second))
	s.cfg.FailbackWaveMax = 1
	s.cells = append(cells(1, 4, "hz-a", "hz-b"), cell(5, "hz-a", "hz-a"), cell(6, "hz-b", "hz-b"))

	moves, held := Plan(s.cfg, s.st, s.input(), false)
	wantMoves(t, moves)
	wantHeld(t, held, nil)

	moves, held = Plan(s.cfg, s.st, s.input(), true)
	wantMoves(t, moves,
		"1:hz-b->hz-a(failback)", "2:hz-b->hz-a(failback)", "3:hz-b->hz-a(failback)", "4:hz-b->hz-a(failback)")
	wantHeld(t, held, nil)

	// Decide honours the hold-down.
	noMoves(t, "Decide in the hold-down", s.tick())

	// ignoreHoldDown does not make a home that is not healthy a target.
	s = newSim(t)
	s.set("hz-a", Suspect, s.now)
	s.world = allUp().with("hz-a", dark)
	s.cells = cells(1, 2, "hz-a", "hz-b")
	moves, _ = Plan(s.cfg, s.st, s.input(), true)
	wantMoves(t, moves)
}

func TestPlanDoesNotModifyState(t *testing.T) {
	s := hzaDown(t)
	s.st.Pins = map[uint64]string{2: "sh-a"}
	s.cells = cells(1, 3, "hz-a", "hz-a")
	before := deepCopy(s.st)
	moves, _ := Plan(s.cfg, s.st, s.input(), true)
	if len(moves) != 3 {
		t.Fatalf("moves %+v, want 3", moves)
	}
	if !reflect.DeepEqual(s.st, before) {
		t.Errorf("Plan modified its State")
	}
}

func TestLeadersPerSite(t *testing.T) {
	sites := []Site{
		{ID: "sh-a", Region: "shanghai", LeadersMax: 1},
		{ID: "hz-b", Region: "hangzhou", LeadersMax: 2},
		{ID: "hz-a", Region: "hangzhou"}, // no limit
	}
	cs := []CellView{
		cell(1, "hz-a", "hz-a"),
		cell(2, "hz-a", "hz-a"),
		cell(3, "hz-a", "hz-a"),
		cell(4, "hz-b", "hz-b"),
		cell(5, "hz-b", ""), // no leader: not counted
		cell(6, "sh-a", "sh-a"),
	}
	moves := []Move{
		{Cell: 1, FromSite: "hz-a", ToSite: "hz-b"},
		{Cell: 2, FromSite: "hz-a", ToSite: "hz-b"},
	}
	before, after, over := LeadersPerSite(sites, cs, moves)
	wantBefore := []SiteLeaders{{"hz-a", 3, 0}, {"hz-b", 1, 2}, {"sh-a", 1, 1}}
	wantAfter := []SiteLeaders{{"hz-a", 1, 0}, {"hz-b", 3, 2}, {"sh-a", 1, 1}}
	if !reflect.DeepEqual(before, wantBefore) {
		t.Errorf("before = %+v, want %+v", before, wantBefore)
	}
	if !reflect.DeepEqual(after, wantAfter) {
		t.Errorf("after = %+v, want %+v", after, wantAfter)
	}
	if len(over) != 1 {
		t.Fatalf("over = %q, want one entry for hz-b", over)
	}
	containsAll(t, "over", over[0], "hz-b", "3", "2")

	// No moves: before == after, nothing over (sh-a is at its limit, not past it).
	before, after, over = LeadersPerSite(sites, cs, nil)
	if !reflect.DeepEqual(before, wantBefore) || !reflect.DeepEqual(after, wantBefore) {
		t.Errorf("no moves: before %+v after %+v, want both %+v", before, after, wantBefore)
	}
	if len(over) > 0 {
		t.Errorf("no moves: over = %q", over)
	}

	// One move into hz-b keeps it at its limit: not over; a move into
	// sh-a puts it past its limit.
	_, after, over = LeadersPerSite(sites, cs, []Move{{Cell: 1, ToSite: "hz-b"}, {Cell: 2, ToSite: "sh-a"}})
	if want := []SiteLeaders{{"hz-a", 1, 0}, {"hz-b", 2, 2}, {"sh-a", 2, 1}}; !reflect.DeepEqual(after, want) {
		t.Errorf("after = %+v, want %+v", after, want)
	}
	if len(over) != 1 {
		t.Fatalf("over = %q, want one entry for sh-a", over)
	}
	containsAll(t, "over", over[0], "sh-a", "2", "1")
}

// TestLeadersPerSiteOfDecide checks a failover's moves against the sites'
// limits.
func TestLeadersPerSiteOfDecide(t *testing.T) {
	s := hzaDown(t)
	s.sites[1].LeadersMax = 3 // hz-b
	s.cells = append(cells(1, 3, "hz-a", "hz-a"), cells(4, 5, "hz-b", "hz-b")...)
	out := s.tick()
	if len(out.Moves) != 3 {
		t.Fatalf("moves %+v, want 3", out.Moves)
	}
	before, after, over := LeadersPerSite(s.sites, s.cells, out.Moves)
	if before[0].Leaders != 3 || before[1].Leaders != 2 || after[0].Leaders != 0 || after[1].Leaders != 5 {
		t.Errorf("before %+v after %+v", before, after)
	}
	if len(over) != 1 {
		t.Fatalf("over = %q, want hz-b", over)
	}
	containsAll(t, "over", over[0], "hz-b", "5", "3")
}
