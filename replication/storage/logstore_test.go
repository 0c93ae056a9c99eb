package storage

import (
	"errors"
	"math"
	"testing"

	"github.com/hashicorp/raft"
)

func TestLogStoreEmptyGroup(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	expectIndexes(t, store, 0, 0)
	expectNoLog(t, store, 0)
	expectNoLog(t, store, 1)
	if !store.IsMonotonic() {
		t.Fatal("IsMonotonic() = false")
	}
}

func TestLogStoreStoreAndGet(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	if err := store.StoreLog(testLog(1, 1)); err != nil {
		t.Fatalf("StoreLog: %v", err)
	}
	expectIndexes(t, store, 1, 1)
	mustStoreLogs(t, store, testLogs(2, 10, 1))
	expectIndexes(t, store, 1, 10)
	for _, want := range testLogs(1, 10, 1) {
		expectLog(t, store, want)
	}
	expectNoLog(t, store, 11)
	expectNoLog(t, store, 0)

	// An empty StoreLogs is a no-op.
	mustStoreLogs(t, store, nil)
	expectIndexes(t, store, 1, 10)
}

func TestLogStoreOverwrite(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	mustStoreLogs(t, store, testLogs(1, 5, 1))
	// A new leader rewrites the tail with a higher term.
	mustStoreLogs(t, store, testLogs(4, 6, 2))
	expectIndexes(t, store, 1, 6)
	expectLog(t, store, testLog(3, 1))
	expectLog(t, store, testLog(4, 2))
	expectLog(t, store, testLog(6, 2))
}

func TestLogStoreDeleteRangeIsInclusive(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	mustStoreLogs(t, store, testLogs(1, 10, 1))

	mustDeleteRange(t, store, 1, 3) // compaction from the front
	expectIndexes(t, store, 4, 10)
	expectNoLog(t, store, 3)
	expectLog(t, store, testLog(4, 1))

	mustDeleteRange(t, store, 8, 10) // conflict truncation at the back
	expectIndexes(t, store, 4, 7)
	expectNoLog(t, store, 8)
	expectLog(t, store, testLog(7, 1))

	mustDeleteRange(t, store, 5, 5) // a single entry
	expectNoLog(t, store, 5)
	expectLog(t, store, testLog(4, 1))
	expectLog(t, store, testLog(6, 1))

	mustDeleteRange(t, store, 7, 4) // min > max: nothing
	expectIndexes(t, store, 4, 7)

	mustDeleteRange(t, store, 0, math.MaxUint64) // everything, as after a snapshot restore
	expectIndexes(t, store, 0, 0)
	expectNoLog(t, store, 4)

	// Raft starts over after the snapshot index.
	mustStoreLogs(t, store, testLogs(100, 101, 3))
	expectIndexes(t, store, 100, 101)
}

func TestLogStoreExtremeIndexes(t *testing.T) {
	store := openTestDB(t, "").Group(math.MaxUint64)
	top := testLog(math.MaxUint64, 9)
	mustStoreLogs(t, store, []*raft.Log{testLog(1, 9), top})
	expectIndexes(t, store, 1, math.MaxUint64)
	expectLog(t, store, top)
	mustDeleteRange(t, store, math.MaxUint64, math.MaxUint64)
	expectNoLog(t, store, math.MaxUint64)
	expectIndexes(t, store, 1, 1)
	expectLog(t, store, testLog(1, 9))
}

func TestLogStoreRejectsNilEntryAtomically(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	err := store.StoreLogs([]*raft.Log{testLog(1, 1), nil})
	if err == nil {
		t.Fatal("StoreLogs with a nil entry succeeded")
	}
	expectIndexes(t, store, 0, 0)
	expectNoLog(t, store, 1)
}

func TestGetLogResultIsCallersToKeep(t *testing.T) {
	store := openTestDB(t, "").Group(1)
	mustStoreLogs(t, store, testLogs(1, 1, 1))
	var got raft.Log
	if err := store.GetLog(1, &got); err != nil {
		t.Fatal(err)
	}
	got.Data[0] = 'X'
	expectLog(t, store, testLog(1, 1))

	// On error the destination is left alone.
	before := got
	if err := store.GetLog(2, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(2) = %v", err)
	}
	if !sameLog(&got, &before) {
		t.Fatalf("GetLog of a missing index changed its destination to %+v", got)
	}
}

func TestGroupReturnsEquivalentStores(t *testing.T) {
	db := openTestDB(t, "")
	mustStoreLogs(t, db.Group(5), testLogs(1, 3, 1))
	expectIndexes(t, db.Group(5), 1, 3)
	if db.Group(5).ID() != 5 {
		t.Fatalf("Group(5).ID() = %d", db.Group(5).ID())
	}
}
