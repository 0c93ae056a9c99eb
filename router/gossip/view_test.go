package gossip

import (
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func newTestView() (*view, *fakeClock) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	return newView(30*time.Second, clock.Now), clock
}

func stateOf(t *testing.T, v *view, name string) string {
	t.Helper()
	for _, m := range v.snapshot() {
		if m.Name == name {
			return m.State
		}
	}
	return "(not listed)"
}

func expectSignal(t *testing.T, v *view, want bool) {
	t.Helper()
	select {
	case <-v.changes:
		if !want {
			t.Error("unexpected change signal")
		}
	default:
		if want {
			t.Error("no change signal")
		}
	}
}

func TestViewTransitions(t *testing.T) {
	v, _ := newTestView()
	meta := &pb.MemberMeta{Kind: "node"}

	steps := []struct {
		what   string
		do     func()
		state  string
		signal bool
	}{
		{"join", func() { v.alive("n1", "10.0.0.1:7946", meta) }, StateAlive, true},
		{"ack while alive", func() { v.acked("n1") }, StateAlive, false},
		{"failed probe", func() { v.suspect("n1") }, StateSuspect, true},
		{"failed probe again", func() { v.suspect("n1") }, StateSuspect, false},
		{"ack: reachable again", func() { v.acked("n1") }, StateAlive, true},
		{"failed probe", func() { v.suspect("n1") }, StateSuspect, true},
		{"declared dead", func() { v.gone("n1", "10.0.0.1:7946") }, StateDead, true},
		{"late failed probe", func() { v.suspect("n1") }, StateDead, false},
		{"late ack does not revive", func() { v.acked("n1") }, StateDead, false},
		{"rejoin", func() { v.alive("n1", "10.0.0.1:7946", meta) }, StateAlive, true},
		{"leave notice", func() { v.leaveNotice("n1") }, StateAlive, false},
		{"death after notice is a leave", func() { v.gone("n1", "10.0.0.1:7946") }, StateLeft, true},
		{"rejoin clears the notice", func() { v.alive("n1", "10.0.0.1:7946", meta) }, StateAlive, true},
		{"death without notice", func() { v.gone("n1", "10.0.0.1:7946") }, StateDead, true},
		{"notice after the death", func() { v.leaveNotice("n1") }, StateLeft, true},
	}
	for _, s := range steps {
		s.do()
		if got := stateOf(t, v, "n1"); got != s.state {
			t.Fatalf("after %s: state %q, want %q", s.what, got, s.state)
		}
		expectSignal(t, v, s.signal)
	}

	v.leaveNotice("stranger")
	v.suspect("stranger")
	v.acked("stranger")
	if got := stateOf(t, v, "stranger"); got != "(not listed)" {
		t.Errorf("notices about an unknown member listed it %q", got)
	}
}

func TestViewReapsAfterRetention(t *testing.T) {
	v, clock := newTestView()
	v.alive("a", "10.0.0.1:1", nil)
	v.alive("b", "10.0.0.2:1", nil)
	v.gone("b", "10.0.0.2:1")
	drainView(v)

	clock.now = clock.now.Add(30 * time.Second)
	v.reap()
	if got := stateOf(t, v, "b"); got != StateDead {
		t.Fatalf("b is %q at the end of its retention, want still dead", got)
	}
	expectSignal(t, v, false)

	clock.now = clock.now.Add(time.Millisecond)
	if got := stateOf(t, v, "b"); got != "(not listed)" {
		t.Errorf("snapshot lists b %q past its retention", got)
	}
	v.reap()
	expectSignal(t, v, true)
	if n := len(v.snapshot()); n != 1 {
		t.Errorf("%d members after reaping, want 1", n)
	}
	if n := v.count(); n != 1 {
		t.Errorf("count %d, want 1", n)
	}
}

func TestViewSnapshotSortedAndReachable(t *testing.T) {
	v, _ := newTestView()
	for _, name := range []string{"r1", "n2", "n1"} {
		v.alive(name, name+":1", nil)
	}
	v.suspect("n2")
	v.gone("r1", "r1:1")
	var names []string
	for _, m := range v.snapshot() {
		names = append(names, m.Name)
	}
	if got := len(names); got != 3 || names[0] != "n1" || names[1] != "n2" || names[2] != "r1" {
		t.Errorf("snapshot order %v", names)
	}
	addrs := v.reachableAddrs()
	if !addrs["n1:1"] || !addrs["n2:1"] || addrs["r1:1"] {
		t.Errorf("reachable %v, want n1 and the suspect n2", addrs)
	}
	if n := v.count(); n != 2 {
		t.Errorf("count %d, want 2", n)
	}
}

func drainView(v *view) {
	select {
	case <-v.changes:
	default:
	}
}
