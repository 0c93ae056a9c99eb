package storage

import (
	"fmt"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

// Several goroutines drive different groups at once, the way one node's Raft
// instances do, and each checks its own group throughout. Run with -race.
func TestConcurrentGroups(t *testing.T) {
	db := openTestDB(t, "")
	const (
		workers         = 8
		roundsPerWorker = 60
		entriesPerRound = 4
		keepEntriesMax  = 20 // compact down to this many, like Raft's TrailingLogs
	)
	var wait sync.WaitGroup
	failures := make(chan error, workers)
	for worker := range workers {
		wait.Add(1)
		go func() {
			defer wait.Done()
			if err := driveGroup(db.Group(GroupID(worker*1000)), roundsPerWorker, entriesPerRound, keepEntriesMax); err != nil {
				failures <- err
			}
		}()
	}
	wait.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	// Afterwards each group holds exactly its last keepEntriesMax entries.
	last := uint64(roundsPerWorker * entriesPerRound)
	for worker := range workers {
		store := db.Group(GroupID(worker * 1000))
		expectIndexes(t, store, last-keepEntriesMax+1, last)
	}
}

// driveGroup appends, reads back, compacts and records terms on one group,
// checking each step. It returns an error (not t.Fatal: it runs on its own
// goroutine).
func driveGroup(store *GroupStore, rounds, entriesPerRound int, keepEntriesMax uint64) error {
	next := uint64(1)
	first := uint64(0)
	var got raft.Log
	for round := range rounds {
		term := uint64(round + 1)
		if err := store.SetUint64([]byte("CurrentTerm"), term); err != nil {
			return err
		}
		logs := testLogs(next, next+uint64(entriesPerRound)-1, term)
		if err := store.StoreLogs(logs); err != nil {
			return err
		}
		if first == 0 {
			first = next
		}
		next += uint64(entriesPerRound)
		last := next - 1
		if last-first+1 > keepEntriesMax {
			if err := store.DeleteRange(first, last-keepEntriesMax); err != nil {
				return err
			}
			first = last - keepEntriesMax + 1
		}
		gotFirst, err := store.FirstIndex()
		if err != nil {
			return err
		}
		gotLast, err := store.LastIndex()
		if err != nil {
			return err
		}
		if gotFirst != first || gotLast != last {
			return fmt.Errorf("group %d round %d: First/LastIndex = %d/%d, want %d/%d",
				store.ID(), round, gotFirst, gotLast, first, last)
		}
		if err := store.GetLog(last, &got); err != nil || !sameLog(&got, logs[len(logs)-1]) {
			return fmt.Errorf("group %d round %d: GetLog(%d) = %+v, %v", store.ID(), round, last, got, err)
		}
		gotTerm, err := store.GetUint64([]byte("CurrentTerm"))
		if err != nil || gotTerm != term {
			return fmt.Errorf("group %d round %d: CurrentTerm = %d, %v; want %d", store.ID(), round, gotTerm, err, term)
		}
	}
	return nil
}
