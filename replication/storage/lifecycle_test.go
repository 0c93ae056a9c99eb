package storage

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db := openTestDB(t, dir)
	ids := []GroupID{0, 9, math.MaxUint64}
	for _, id := range ids {
		store := db.Group(id)
		mustStoreLogs(t, store, testLogs(1, 20, 1))
		mustStoreLogs(t, store, testLogs(15, 25, 2)) // overwritten tail
		mustDeleteRange(t, store, 1, 10)
		if err := store.SetUint64([]byte("CurrentTerm"), 2); err != nil {
			t.Fatal(err)
		}
		if err := store.Set([]byte("LastVoteCand"), []byte("node-b")); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	db = openTestDB(t, dir)
	for _, id := range ids {
		store := db.Group(id)
		expectIndexes(t, store, 11, 25)
		expectNoLog(t, store, 10)
		expectLog(t, store, testLog(11, 1))
		expectLog(t, store, testLog(14, 1))
		expectLog(t, store, testLog(15, 2))
		expectLog(t, store, testLog(25, 2))
		if term, err := store.GetUint64([]byte("CurrentTerm")); err != nil || term != 2 {
			t.Fatalf("group %d CurrentTerm after reopen = %d, %v", id, term, err)
		}
		if vote, err := store.Get([]byte("LastVoteCand")); err != nil || string(vote) != "node-b" {
			t.Fatalf("group %d LastVoteCand after reopen = %q, %v", id, vote, err)
		}
	}
}

func TestClosedDBReturnsErrClosed(t *testing.T) {
	db := openTestDB(t, "")
	store := db.Group(1)
	mustStoreLogs(t, store, testLogs(1, 2, 1))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var log raft.Log
	_, getErr := store.Get([]byte("k"))
	_, getUint64Err := store.GetUint64([]byte("k"))
	_, firstErr := store.FirstIndex()
	_, lastErr := store.LastIndex()
	errs := map[string]error{
		"Close":       db.Close(),
		"StoreLog":    store.StoreLog(testLog(3, 1)),
		"StoreLogs":   store.StoreLogs(nil),
		"GetLog":      store.GetLog(1, &log),
		"DeleteRange": store.DeleteRange(1, 2),
		"Set":         store.Set([]byte("k"), []byte("v")),
		"SetUint64":   store.SetUint64([]byte("k"), 1),
		"Get":         getErr,
		"GetUint64":   getUint64Err,
		"FirstIndex":  firstErr,
		"LastIndex":   lastErr,
		"DeleteGroup": db.DeleteGroup(1),
	}
	for operation, err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", operation, err)
		}
	}
}

// Close while other goroutines write and read: each operation either
// completes or returns ErrClosed; none panics inside Pebble.
func TestCloseDuringOperations(t *testing.T) {
	db := openTestDB(t, "")
	const workers = 4
	var started, done sync.WaitGroup
	started.Add(workers)
	errs := make(chan error, workers)
	for worker := range workers {
		done.Add(1)
		go func() {
			defer done.Done()
			store := db.Group(GroupID(worker))
			var log raft.Log
			for index := uint64(1); ; index++ {
				if index == 2 {
					started.Done()
				}
				err := store.StoreLog(testLog(index, 1))
				if err == nil {
					err = store.GetLog(index, &log)
				}
				if err == nil {
					_, err = store.LastIndex()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	started.Wait()
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("operation racing Close: error = %v, want ErrClosed", err)
		}
	}
}
