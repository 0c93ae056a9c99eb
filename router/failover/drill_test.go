package failover

import (
	"errors"
	"testing"
	"time"
)

// PlanDrill is pure: it changes neither the state nor the input it is
// given, whatever it decides, and a refusal is a *DrillRefusal whose
// reason says why.
func TestPlanDrillModifiesNothing(t *testing.T) {
	st := State{Sites: map[string]SiteStatus{"hz-a": {State: Healthy, Failures: 2}}, Pins: map[uint64]string{2: "sh-a"},
		BadSince: map[string]time.Time{}, GoodSince: map[string]time.Time{}}
	in := Input{Now: t0, Sites: topology(), Cells: cells(1, 3, "hz-a", "hz-a"), Moving: map[uint64]MoveKind{1: Failover}}
	wantSt, wantMoving := deepCopy(st), len(in.Moving)
	for _, req := range []DrillRequest{
		{Kind: DrillEvacuate, Site: "hz-a", Operator: "alice"},
		{Kind: DrillFailback, Site: "hz-a", Operator: "alice"},
		{Kind: DrillMove, CellID: 1, TargetSite: "sh-a", Operator: "alice"},
		{Kind: DrillMove, CellID: 1, TargetSite: "hz-a", Operator: "alice"},
		{Kind: "reboot"},
	} {
		_, _, err := PlanDrill(DefaultConfig(), st, in, req, RunningDrill{}, t0)
		var r *DrillRefusal
		if err != nil && !errors.As(err, &r) {
			t.Errorf("%+v: error %v is no *DrillRefusal", req, err)
		}
		if !sameState(st, wantSt) || len(st.BadSince) != 0 || len(in.Moving) != wantMoving {
			t.Fatalf("%+v: PlanDrill modified its arguments: %+v, moving %v", req, st, in.Moving)
		}
	}
}

// The trackers' zero values are usable: no panic, and the default bound.
func TestTrackersZeroValue(t *testing.T) {
	var m MoveTracker
	m.Started(1, Failover)
	m.Finished(1, "hz-b-1", true, t0, time.Second)
	if got := m.Moving(t0); len(got) != 0 {
		t.Errorf("zero MoveTracker holds %v back, want nothing", got)
	}
	var r RTOTracker
	r.WatchMove(1, t0, "hz-b-1")
	if _, expired := r.Observe(t0.Add(FirstWriteWaitMax+time.Millisecond), nil); len(expired) != 1 {
		t.Errorf("zero RTOTracker expired %v, want cell 1 after FirstWriteWaitMax", expired)
	}
}
