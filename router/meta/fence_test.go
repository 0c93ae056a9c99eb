package meta

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// moveMax bounds one leadership transfer between two local replicas.
const moveMax = 20 * time.Second

// newTwoReplicaMeta starts a meta group on n1 and n2, led by n1.
func newTwoReplicaMeta(t *testing.T) (g1, g2 *replication.Group) {
	t.Helper()
	_, g1 = newMetaLeader(t, nil)
	n2 := newMetaNode(t, "n2", nil)
	g2, err := n2.host.StartGroup(GroupID, FSM{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), moveMax)
	defer cancel()
	if err := g1.AddVoter(ctx, n2.id, n2.addr); err != nil {
		t.Fatal(err)
	}
	if err := g2.WaitApplied(ctx, g1.AppliedIndex()); err != nil {
		t.Fatalf("n2 did not catch up: %v", err)
	}
	return g1, g2
}

// loseAndRegain moves the meta leadership from g1 to g2 and back: g1 leads
// again, in a newer term, as a controller that lost and regained the meta
// leadership between two ticks would. It returns the new term.
func loseAndRegain(t *testing.T, g1, g2 *replication.Group) uint64 {
	t.Helper()
	before := leaderTerm(t, g1)
	ctx, cancel := context.WithTimeout(context.Background(), moveMax)
	defer cancel()
	if err := g1.TransferLeadership(ctx, "n2"); err != nil {
		t.Fatalf("n1 -> n2: %v", err)
	}
	// n1 saw n2 lead; n2 itself may notice a beat later.
	replicationtest.Eventually(t, moveMax, g2.IsLeader, "n2 to know it leads")
	if err := g2.TransferLeadership(ctx, "n1"); err != nil {
		t.Fatalf("n2 -> n1: %v", err)
	}
	replicationtest.Eventually(t, moveMax, g1.IsLeader, "n1 to know it leads again")
	after := leaderTerm(t, g1)
	if after <= before {
		t.Fatalf("n1 leads again in term %d, not after term %d", after, before)
	}
	return after
}

// TestWriteFromAnOlderTermIsRefused: n1's controller records hz-a down in
// its term, loses the meta leadership and regains it; a write stamped with
// its old term (a controller that did not notice, with a stale view) is
// refused and changes nothing, as are writes from a term that is not yet,
// site writes without a term, and site writes against a record that
// changed since the controller read it. The controller of the new term,
// reading the record first, writes.
func TestWriteFromAnOlderTermIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	t.Parallel()
	g1, g2 := newTwoReplicaMeta(t)
	oldTerm := recordHzADown(t, g1)
	newTerm := loseAndRegain(t, g1, g2)
	expectStaleWritesRefused(t, g1, oldTerm, newTerm)
	// The refusals were the same on the other replica: apply is
	// deterministic (the entry's term is in the log).
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeoutMax)
	defer cancel()
	if err := g2.WaitApplied(ctx, g1.AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	if a, b := render(read(t, g1, readAllMax, readAllMax)), render(read(t, g2, readAllMax, readAllMax)); a != b {
		t.Fatalf("n2 reads\n%s\nn1 reads\n%s", b, a)
	}
}

// TestWriteFromAnOlderTermIsRefusedOnTheTwin is the same fencing without
// Raft: the twin starts a new term as a lost and regained leadership does.
func TestWriteFromAnOlderTermIsRefusedOnTheTwin(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	oldTerm := recordHzADown(t, g)
	newTerm := g.NewTerm()
	expectStaleWritesRefused(t, g, oldTerm, newTerm)
}

// recordHzADown has g's controller record hz-a down in its term, version
// 1, and returns the term.
func recordHzADown(t *testing.T, g metaGroup) (term uint64) {
	t.Helper()
	term = leaderTerm(t, g)
	down := asController(t, g, setSiteCmd(10, "hz-a", pb.SiteState_SITE_DOWN))
	down.GetSetSite().Failures = 3
	if r := mustApply(t, g, down); r.Version != 1 {
		t.Fatalf("the first record of hz-a got version %d, want 1", r.Version)
	}
	return term
}

// expectStaleWritesRefused checks, on g that leads in newTerm after
// oldTerm, that writes of the old term, of a term not yet begun, site
// writes without a term or against a changed record are refused and change
// nothing; then that unfenced events and the new term's controller write.
func expectStaleWritesRefused(t *testing.T, g1 metaGroup, oldTerm, newTerm uint64) {
	t.Helper()
	healthy := func(term, version uint64) *pb.MetaCommand {
		cmd := setSiteCmd(20, "hz-a", pb.SiteState_SITE_HEALTHY)
		cmd.ControllerTerm, cmd.ExpectedSiteVersion = term, version
		return cmd
	}
	staleEvent := eventCmd(21, "decision", "move cell 1 home")
	staleEvent.ControllerTerm = oldTerm
	stalePin := pinCmd(22, 1, "sh-a")
	stalePin.ControllerTerm = oldTerm
	staleDrill := drillCmd(23, "d9", pb.DrillState_DRILL_RUNNING)
	staleDrill.ControllerTerm = oldTerm
	before := render(read(t, g1, readAllMax, readAllMax))
	for _, tc := range []struct {
		name string
		cmd  *pb.MetaCommand
		want error
	}{
		{"site write of the old term", healthy(oldTerm, 1), ErrStaleTerm},
		{"site write of a term not yet begun", healthy(newTerm+1, 1), ErrStaleTerm},
		{"site write without a term", healthy(0, 1), ErrInvalidCommand},
		{"site write against a changed record", healthy(newTerm, 0), ErrSiteChanged},
		{"site write against a version not yet written", healthy(newTerm, 2), ErrSiteChanged},
		{"event of the old term", staleEvent, ErrStaleTerm},
		{"pin of the old term", stalePin, ErrStaleTerm},
		{"drill of the old term", staleDrill, ErrStaleTerm},
	} {
		r := apply(t, g1, tc.cmd)
		if !errors.Is(r.Err, tc.want) || !errors.Is(r.Err, ErrInvalidCommand) {
			t.Errorf("%s: result %+v, want an ErrInvalidCommand that is %v", tc.name, r, tc.want)
		}
		if r.Seq != 0 || r.Version != 0 {
			t.Errorf("%s: refused, yet given seq %d version %d", tc.name, r.Seq, r.Version)
		}
		if after := render(read(t, g1, readAllMax, readAllMax)); after != before {
			t.Fatalf("%s: a refused command changed the state from\n%s\nto\n%s", tc.name, before, after)
		}
	}

	// Unfenced events (term 0) are still recorded; then the new term's
	// controller, having read version 1, writes version 2.
	if r := mustApply(t, g1, eventCmd(30, "first_write", "unfenced")); r.Seq != 1 {
		t.Errorf("the first event got seq %d, want 1 (refused events use none)", r.Seq)
	}
	if r := mustApply(t, g1, healthy(newTerm, 1)); r.Version != 2 {
		t.Fatalf("the new term's write got version %d, want 2", r.Version)
	}
	expectRecords(t, "sites", read(t, g1, 0, 0).Sites, []*pb.SiteRecord{
		{Site: "hz-a", State: pb.SiteState_SITE_HEALTHY, SinceUnixMs: 20, Reason: "test", Version: 2, ControllerTerm: newTerm},
	})
}
