package storage

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// countingFSM counts applied commands.
type countingFSM struct {
	mu      sync.Mutex
	applied int
}

func (f *countingFSM) Apply(*raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	return f.applied
}

func (f *countingFSM) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

func (f *countingFSM) Snapshot() (raft.FSMSnapshot, error) {
	return nil, fmt.Errorf("countingFSM: snapshots are not used in this test")
}

func (f *countingFSM) Restore(io.ReadCloser) error {
	return fmt.Errorf("countingFSM: snapshots are not used in this test")
}

func testRaftConfig(id raft.ServerID) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 1 << 30 // no snapshots: a restart replays the log
	conf.LogOutput = io.Discard
	return conf
}

// startRaft starts a single-voter Raft instance on store, bootstrapping it
// if bootstrap is set, and waits until it leads. It returns errors rather
// than failing the test because it runs on goroutines other than the test's.
func startRaft(store *GroupStore, fsm raft.FSM, bootstrap bool) (*raft.Raft, error) {
	id := raft.ServerID(fmt.Sprintf("group-%d", store.ID()))
	conf := testRaftConfig(id)
	address, transport := raft.NewInmemTransport("")
	snapshots := raft.NewInmemSnapshotStore()
	existing, err := raft.HasExistingState(store, store, snapshots)
	if err != nil {
		return nil, fmt.Errorf("group %d HasExistingState: %w", store.ID(), err)
	}
	if existing == bootstrap {
		return nil, fmt.Errorf("group %d HasExistingState = %v before a start with bootstrap = %v",
			store.ID(), existing, bootstrap)
	}
	if bootstrap {
		configuration := raft.Configuration{Servers: []raft.Server{{ID: id, Address: address}}}
		if err := raft.BootstrapCluster(conf, store, store, snapshots, transport, configuration); err != nil {
			return nil, fmt.Errorf("group %d BootstrapCluster: %w", store.ID(), err)
		}
	}
	node, err := raft.NewRaft(conf, fsm, store, store, snapshots, transport)
	if err != nil {
		return nil, fmt.Errorf("group %d NewRaft: %w", store.ID(), err)
	}
	const leaderWaitMax = 10 * time.Second
	deadline := time.Now().Add(leaderWaitMax)
	for node.State() != raft.Leader {
		if time.Now().After(deadline) {
			node.Shutdown()
			return nil, fmt.Errorf("group %d: no leader after %s", store.ID(), leaderWaitMax)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return node, nil
}

// Real hashicorp/raft instances for two groups share one DB, survive a
// restart of the DB and replay their logs: the store's contract, including
// its missing-key behaviour, is the one raft expects.
func TestRaftRunsOnGroupStores(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir)
	groups := []GroupID{1, 2}
	const commands = 10

	var wait sync.WaitGroup
	for _, id := range groups {
		wait.Add(1)
		go func() {
			defer wait.Done()
			node, err := startRaft(db.Group(id), &countingFSM{}, true)
			if err != nil {
				t.Error(err)
				return
			}
			defer func() {
				if err := node.Shutdown().Error(); err != nil {
					t.Errorf("group %d Shutdown: %v", id, err)
				}
			}()
			for i := range commands {
				if err := node.Apply([]byte(fmt.Sprintf("command %d", i)), 5*time.Second).Error(); err != nil {
					t.Errorf("group %d Apply: %v", id, err)
					return
				}
			}
		}()
	}
	wait.Wait()
	if t.Failed() {
		return
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openTestDB(t, dir)
	for _, id := range groups {
		store := db.Group(id)
		if term, err := store.GetUint64([]byte("CurrentTerm")); err != nil || term == 0 {
			t.Fatalf("group %d CurrentTerm after restart = %d, %v", id, term, err)
		}
		fsm := &countingFSM{}
		node, err := startRaft(store, fsm, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Barrier(5 * time.Second).Error(); err != nil {
			t.Fatalf("group %d Barrier: %v", id, err)
		}
		if got := fsm.count(); got != commands {
			t.Errorf("group %d replayed %d commands after restart, want %d", id, got, commands)
		}
		if err := node.Shutdown().Error(); err != nil {
			t.Fatalf("group %d Shutdown: %v", id, err)
		}
	}
}
