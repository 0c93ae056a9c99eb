package meta

import (
	"context"
	"fmt"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// catchUpMax bounds how long a new replica may take to install a snapshot
// of a few hundred records and apply the log after it.
const catchUpMax = 20 * time.Second

// TestSnapshotRestoreOnTheTwinGivesTheSameRead is the snapshot round trip
// of the FSM's state without Raft: a replica restored from a snapshot
// reads the same, and numbering goes on from the snapshot's counters.
// TestSnapshotRestoreGivesTheSameRead proves the same through Raft's
// snapshot install.
func TestSnapshotRestoreOnTheTwinGivesTheSameRead(t *testing.T) {
	t.Parallel()
	g := newMetaTwin(t)
	fillForSnapshot(t, g)
	snap := g.Snapshot()
	mustApply(t, g, asController(t, g, setSiteCmd(80, "hz-a", pb.SiteState_SITE_HEALTHY))) // After the snapshot.

	restored := newMetaTwin(t)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	mustApply(t, restored, asController(t, restored, setSiteCmd(80, "hz-a", pb.SiteState_SITE_HEALTHY)))
	if a, b := render(read(t, g, readAllMax, readAllMax)), render(read(t, restored, readAllMax, readAllMax)); a != b {
		t.Fatalf("restored replica reads\n%s\nthe original reads\n%s", b, a)
	}
	for _, tw := range []*replicationtest.Twin{g, restored} {
		if r := mustApply(t, tw, eventCmd(90, "decision", "after")); r.Seq != 41 {
			t.Fatalf("the first event after the snapshot got seq %d, want 41", r.Seq)
		}
		if r := mustApply(t, tw, auditCmd(91, "bob", "drill after")); r.Seq != 11 {
			t.Fatalf("the first audit entry after the snapshot got seq %d, want 11", r.Seq)
		}
	}
	if a, b := render(read(t, g, readAllMax, readAllMax)), render(read(t, restored, readAllMax, readAllMax)); a != b {
		t.Fatalf("after more commands the restored replica reads\n%s\nthe original reads\n%s", b, a)
	}
}

// fillForSnapshot writes sites, pins (one unpinned again), 40 events, 10
// audit entries and a drill.
func fillForSnapshot(t *testing.T, g metaGroup) {
	t.Helper()
	mustApply(t, g, asController(t, g, setSiteCmd(1, "hz-a", pb.SiteState_SITE_DOWN)))
	mustApply(t, g, asController(t, g, setSiteCmd(2, "sh-a", pb.SiteState_SITE_HEALTHY)))
	mustApply(t, g, asController(t, g, pinCmd(3, 1, "sh-a")))
	mustApply(t, g, asController(t, g, pinCmd(4, 2, "hz-b")))
	mustApply(t, g, asController(t, g, pinCmd(5, 2, ""))) // Unpinned before the snapshot: must stay gone.
	for i := range 40 {
		mustApply(t, g, eventCmd(int64(10+i), "decision", fmt.Sprint(i)))
	}
	for i := range 10 {
		mustApply(t, g, auditCmd(int64(60+i), "alice", fmt.Sprintf("drill %d", i)))
	}
	mustApply(t, g, asController(t, g, drillCmd(70, "d1", pb.DrillState_DRILL_RUNNING)))
}

func TestSnapshotRestoreGivesTheSameRead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	t.Parallel()
	_, g := newMetaLeader(t, func(cfg *replication.Config) {
		cfg.TrailingLogs = 4            // The new replica cannot catch up by log.
		cfg.SnapshotThreshold = 1 << 20 // Only the explicit snapshot below.
	})
	fillForSnapshot(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), catchUpMax)
	defer cancel()
	if err := g.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	mustApply(t, g, asController(t, g, setSiteCmd(80, "hz-a", pb.SiteState_SITE_HEALTHY))) // After the snapshot: by log.

	follower := newMetaNode(t, "n2", nil)
	g2, err := follower.host.StartGroup(GroupID, FSM{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.AddVoter(ctx, follower.id, follower.addr); err != nil {
		t.Fatal(err)
	}
	if err := g2.WaitApplied(ctx, g.AppliedIndex()); err != nil {
		t.Fatalf("the new replica did not catch up: %v (applied %d of %d)", err, g2.AppliedIndex(), g.AppliedIndex())
	}
	if n := follower.host.TransportStats().InstallSnapshot; n == 0 {
		t.Fatal("the new replica caught up without a snapshot: the test proves nothing")
	}
	leaderState, followerState := render(read(t, g, readAllMax, readAllMax)), render(read(t, g2, readAllMax, readAllMax))
	if followerState != leaderState {
		t.Fatalf("restored replica reads\n%s\nthe leader reads\n%s", followerState, leaderState)
	}

	// The sequence counters came with the snapshot: numbering goes on.
	if r := mustApply(t, g, eventCmd(90, "decision", "after")); r.Seq != 41 {
		t.Fatalf("the first event after the restore got seq %d, want 41", r.Seq)
	}
	if r := mustApply(t, g, auditCmd(91, "bob", "drill after")); r.Seq != 11 {
		t.Fatalf("the first audit entry after the restore got seq %d, want 11", r.Seq)
	}
	if err := g2.WaitApplied(ctx, g.AppliedIndex()); err != nil {
		t.Fatalf("the restored replica did not catch up: %v (applied %d of %d)", err, g2.AppliedIndex(), g.AppliedIndex())
	}
	if a, b := render(read(t, g, readAllMax, readAllMax)), render(read(t, g2, readAllMax, readAllMax)); a != b {
		t.Fatalf("after more commands the restored replica reads\n%s\nthe leader reads\n%s", b, a)
	}
}
