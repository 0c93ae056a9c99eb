package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var eightGroups = []uint64{1, 2, 3, 4, 5, 6, 7, 8}

// Test 1: three nodes in three sites, eight groups: all elect leaders,
// 10,000 entries replicate, and every replica's state is identical.
func TestReplicatesManyGroupsIdentically(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, eightGroups, nil)
	const entries = 10000
	const proposers = 32
	last := make([]uint64, len(eightGroups))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := 0; p < proposers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := p; k < entries; k += proposers {
				gi := k % len(eightGroups)
				idx := c.propose(eightGroups[gi], nil, fmt.Sprintf("key%d=value%d", k, k))
				mu.Lock()
				last[gi] = max(last[gi], idx)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var total uint64
	for gi, g := range eightGroups {
		c.converged(g, nil, last[gi])
		n := count(t, c.group(0, g))
		total += n
		for i := range c.nodes {
			if d := doubles(t, c.group(i, g)); d != 0 {
				t.Fatalf("group %d on %s applied %d entries twice", g, c.nodes[i].id, d)
			}
		}
	}
	if total != entries {
		t.Fatalf("applied %d commands in all, want %d", total, entries)
	}
	// Pre-vote is on: hashicorp/raft silently disables it when the transport
	// lacks RequestPreVote, and then no node would ever receive one.
	var preVotes, pipelined, heartbeats uint64
	for _, n := range c.nodes {
		s := n.host.TransportStats()
		preVotes += s.RequestPreVote
		pipelined += s.PipelinedAppendEntries
		heartbeats += s.Heartbeats
	}
	if preVotes == 0 {
		t.Fatal("no RequestPreVote was served: pre-vote is off")
	}
	if pipelined == 0 || heartbeats == 0 {
		t.Fatalf("pipelined AppendEntries %d, heartbeats %d: want both used", pipelined, heartbeats)
	}
}

// Test 2: a node stopped and restarted from its Pebble directory loses
// nothing and applies no entry twice (raft replays the log after its last
// snapshot; the state machine skips what it already applied).
func TestRestartLosesNothingAndAppliesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, []uint64{1, 2}, func(cfg *Config) {
		cfg.SnapshotThreshold = 64 // snapshots happen, so the restart restores one and replays the rest
		cfg.SnapshotInterval = 200 * time.Millisecond
		cfg.TrailingLogs = 32
	})
	var last [3]uint64
	for k := 0; k < 300; k++ {
		last[1+k%2] = c.propose(uint64(1+k%2), nil, fmt.Sprintf("a%d=%d", k, k))
	}
	// Restart the leader of group 1 and a follower of group 2 (possibly the same node).
	victim := c.leader(1, nil)
	c.stop(victim)
	others := []int{}
	for i := range c.nodes {
		if i != victim {
			others = append(others, i)
		}
	}
	for k := 300; k < 600; k++ {
		last[1+k%2] = c.propose(uint64(1+k%2), others, fmt.Sprintf("b%d=%d", k, k))
	}
	c.restart(victim)
	for _, g := range []uint64{1, 2} {
		c.converged(g, nil, last[g])
		for i := range c.nodes {
			gr := c.group(i, g)
			if n := count(t, gr); n != 300 {
				t.Fatalf("group %d on %s counted %d commands, want 300", g, c.nodes[i].id, n)
			}
			if d := doubles(t, gr); d != 0 {
				t.Fatalf("group %d on %s applied %d entries twice", g, c.nodes[i].id, d)
			}
		}
	}
	// Restart every node at once: the cluster comes back with all of it.
	for i := range c.nodes {
		c.stop(i)
	}
	for i := range c.nodes {
		c.restart(i)
	}
	idx := c.propose(1, nil, "after=restart")
	c.converged(1, nil, idx)
	if n := count(t, c.group(0, 1)); n != 301 {
		t.Fatalf("after full restart group 1 counted %d, want 301", n)
	}
}

// Test 3: a site cut off by a black hole (no resets): the others elect new
// leaders for its groups, the isolated ex-leader acknowledges nothing, and
// after healing its replicas catch up.
func TestFiberCutElectsElsewhereAndCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	groups := []uint64{1, 2, 3, 4}
	c := newTestCluster(t, 3, groups, nil)
	// Put every leader in site hz-a (node 0), so the cut hits all groups.
	for _, g := range groups {
		l := c.leader(g, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := c.group(l, g).TransferLeadership(ctx, "n1"); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		c.propose(g, nil, "before=cut")
	}
	c.fab.Isolate("hz-a")
	rest := []int{1, 2}
	var last = map[uint64]uint64{}
	for _, g := range groups {
		l := c.leader(g, rest)
		if l == 0 {
			t.Fatalf("group %d: the isolated node still leads among the rest", g)
		}
		for k := 0; k < 20; k++ {
			last[g] = c.propose(g, rest, fmt.Sprintf("during%d=%d", k, k))
		}
	}
	// Fencing: the isolated old leader acknowledges no write.
	for _, g := range groups {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.group(0, g).Apply(ctx, []byte("isolated=write"))
		cancel()
		if err == nil {
			t.Fatalf("group %d: the isolated node acknowledged a write", g)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		err = c.group(0, g).LinearizableRead(ctx)
		cancel()
		if err == nil {
			t.Fatalf("group %d: the isolated node served a linearizable read", g)
		}
	}
	c.fab.HealAll()
	for _, g := range groups {
		c.converged(g, nil, last[g])
		for i := range c.nodes {
			if v, found, _ := c.group(i, g).Reader().Get([]byte("kv/isolated")); found {
				t.Fatalf("group %d on %s holds the isolated write %q", g, c.nodes[i].id, v)
			}
		}
	}
}

// Test 4: leadership moves to a named node in another site, for every group.
func TestLeadershipTransferToNamedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, eightGroups, nil)
	for _, target := range []string{"n3", "n2"} {
		for _, g := range eightGroups {
			l := c.leader(g, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err := c.group(l, g).TransferLeadership(ctx, target)
			cancel()
			if err != nil {
				t.Fatalf("group %d to %s: %v", g, target, err)
			}
			if id, _, _ := c.group(l, g).Leader(); id != target {
				t.Fatalf("group %d: leader %q after transfer to %s", g, id, target)
			}
		}
	}
	// Clear reasons for transfers that cannot happen.
	l := c.leader(1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var te *TransferError
	if err := c.group(l, 1).TransferLeadership(ctx, "n9"); !errors.As(err, &te) || !strings.Contains(err.Error(), "holds no replica") {
		t.Fatalf("transfer to an unknown node: %v", err)
	}
	follower := (l + 1) % 3
	var nl *NotLeaderError
	if err := c.group(follower, 1).TransferLeadership(ctx, "n1"); !errors.As(err, &nl) || nl.LeaderID != c.nodes[l].id {
		t.Fatalf("transfer from a follower: %v (want a not-leader error naming %s)", err, c.nodes[l].id)
	}
}

// Test 5: a new, empty replica catches up through InstallSnapshot once the
// leader has compacted the log it would need.
func TestNewReplicaCatchesUpBySnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 4, []uint64{1}, func(cfg *Config) {
		cfg.TrailingLogs = 10
		cfg.SnapshotThreshold = 1 << 20 // only the explicit snapshot below
	})
	var last uint64
	for k := 0; k < 200; k++ {
		last = c.propose(1, nil, fmt.Sprintf("k%d=%d", k, k))
	}
	l := c.leader(1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.group(l, 1).Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	sm := &counterSM{}
	if _, err := c.nodes[3].host.StartGroup(1, sm, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.group(l, 1).AddVoter(ctx, c.nodes[3].id, c.nodes[3].addr); err != nil {
		t.Fatal(err)
	}
	c.converged(1, nil, last)
	if got := c.nodes[3].host.TransportStats().InstallSnapshot; got == 0 {
		t.Fatal("the new replica caught up without InstallSnapshot")
	}
	sm.mu.Lock()
	restored := sm.restored
	sm.mu.Unlock()
	if restored == 0 {
		t.Fatal("the new replica's state machine was never restored from a snapshot")
	}
	if n := count(t, c.group(3, 1)); n != 200 {
		t.Fatalf("new replica counted %d commands, want 200", n)
	}
	voters, err := c.group(l, 1).Voters()
	if err != nil || len(voters) != 4 {
		t.Fatalf("voters %v, %v", voters, err)
	}
}

func TestWatchLeadersReportsChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, []uint64{1}, nil)
	l := c.leader(1, nil)
	events, cancel := c.nodes[0].host.WatchLeaders()
	defer cancel()
	target := c.nodes[(l+1)%3].id
	var term uint64
	seen := func(want string) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Group == 1 && ev.LeaderID == want {
					if ev.Term < term {
						t.Fatalf("term went back: %d after %d", ev.Term, term)
					}
					term = ev.Term
					return
				}
			case <-timeout:
				t.Fatalf("no event naming %s", want)
			}
		}
	}
	seen(c.nodes[l].id)
	ctx, cc := context.WithTimeout(context.Background(), 20*time.Second)
	defer cc()
	if err := c.group(l, 1).TransferLeadership(ctx, target); err != nil {
		t.Fatal(err)
	}
	before := term
	seen(target)
	if term <= before {
		t.Fatalf("new leader's term %d not above %d", term, before)
	}
}

// A new leader's first entries are a no-op and a barrier, which raft never
// hands to the state machine: a linearizable read on an idle cluster must
// not wait for a command that never comes.
func TestLinearizableReadOnIdleNewLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, []uint64{1}, nil)
	idx := c.propose(1, nil, "k=v")
	c.converged(1, nil, idx)
	l := c.leader(1, nil)
	target := c.nodes[(l+1)%3].id
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.group(l, 1).TransferLeadership(ctx, target); err != nil {
		t.Fatal(err)
	}
	nl := c.leader(1, nil)
	for k := 0; k < 3; k++ {
		rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.group(nl, 1).LinearizableRead(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("read %d on the idle new leader: %v", k, err)
		}
	}
	if v, found, _ := c.group(nl, 1).Reader().Get([]byte("kv/k")); !found || string(v) != "v" {
		t.Fatalf("the new leader's read missed the acknowledged write: %q %v", v, found)
	}
}
