package storage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
)

// groupModel is what one group's store should hold.
type groupModel struct {
	terms  map[uint64]uint64 // index -> term
	next   uint64            // next index to append
	stable map[string]uint64
}

func newGroupModel() *groupModel {
	return &groupModel{terms: map[uint64]uint64{}, next: 1, stable: map[string]uint64{}}
}

func (m *groupModel) bounds() (first, last uint64) {
	for index := range m.terms {
		if first == 0 || index < first {
			first = index
		}
		if index > last {
			last = index
		}
	}
	return first, last
}

// verify checks every index the model has ever used, and the stable keys.
func (m *groupModel) verify(t testing.TB, store *GroupStore) {
	t.Helper()
	first, last := m.bounds()
	expectIndexes(t, store, first, last)
	for index := uint64(1); index < m.next; index++ {
		if term, ok := m.terms[index]; ok {
			expectLog(t, store, testLog(index, term))
		} else {
			expectNoLog(t, store, index)
		}
	}
	for key, want := range m.stable {
		got, err := store.GetUint64([]byte(key))
		if err != nil || got != want {
			t.Fatalf("group %d GetUint64(%s) = %d, %v; want %d", store.ID(), key, got, err, want)
		}
	}
}

// multiGroupIDs are 50 groups, including the extreme ids and neighbours of
// each other, so one group's keys sit right next to another's.
func multiGroupIDs() []GroupID {
	ids := []GroupID{0, 1, 2, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	for i := GroupID(1000); len(ids) < 50; i++ {
		ids = append(ids, i)
	}
	return ids
}

func TestManyGroupsSideBySide(t *testing.T) {
	db := openTestDB(t, "")
	random := rand.New(rand.NewPCG(1, 2))
	ids := multiGroupIDs()
	models := map[GroupID]*groupModel{}
	for _, id := range ids {
		models[id] = newGroupModel()
	}

	for round := range 12 {
		for _, id := range ids {
			store, model := db.Group(id), models[id]
			switch random.IntN(6) {
			case 0, 1, 2: // append a few entries
				count := uint64(1 + random.IntN(5))
				term := uint64(round + 1)
				mustStoreLogs(t, store, testLogs(model.next, model.next+count-1, term))
				for index := model.next; index < model.next+count; index++ {
					model.terms[index] = term
				}
				model.next += count
			case 3: // compact a prefix
				first, last := model.bounds()
				if first != 0 {
					max := first + uint64(random.IntN(int(last-first+1)))
					mustDeleteRange(t, store, first, max)
					for index := first; index <= max; index++ {
						delete(model.terms, index)
					}
				}
			case 4: // stable state
				key := fmt.Sprintf("key-%d", random.IntN(3))
				value := random.Uint64()
				if err := store.SetUint64([]byte(key), value); err != nil {
					t.Fatal(err)
				}
				model.stable[key] = value
			case 5: // state-machine and metadata keys, written directly
				if err := db.Pebble().Set(StateKey(id, []byte{byte(round), 0xff}), []byte("state"), nil); err != nil {
					t.Fatal(err)
				}
				if err := db.Pebble().Set(MetaKey(id, "applied"), []byte{byte(round)}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, id := range ids {
		models[id].verify(t, db.Group(id))
	}
}

// A group with stable, state and metadata keys but no log entries has no
// first or last index, even when its neighbours' keys sort right before and
// after its log prefix. Stores that seek to the prefix without an upper bound
// return a neighbour's index here.
func TestGroupWithoutLogsHasNoIndexes(t *testing.T) {
	db := openTestDB(t, "")
	for _, id := range []GroupID{0, 7, math.MaxUint64} {
		store := db.Group(id)
		if err := store.SetUint64([]byte("CurrentTerm"), 5); err != nil {
			t.Fatal(err)
		}
		// A stable key that sorts before the log keys of every group.
		if err := store.Set([]byte{0x00}, []byte("low")); err != nil {
			t.Fatal(err)
		}
		if err := db.Pebble().Set(StateKey(id, []byte("balance")), []byte("100"), nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Pebble().Set(MetaKey(id, "applied"), []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Neighbours with logs: group 6 ends right before group 7's log prefix and
	// group 8 starts right after it; group 1 follows group 0; group
	// MaxUint64-1 precedes group MaxUint64, whose log prefix is followed
	// directly by group 0's stable keys.
	for _, id := range []GroupID{1, 6, 8, math.MaxUint64 - 1} {
		mustStoreLogs(t, db.Group(id), []*raft.Log{testLog(1, 1), testLog(math.MaxUint64, 1)})
	}
	for _, id := range []GroupID{0, 7, math.MaxUint64} {
		expectIndexes(t, db.Group(id), 0, 0)
		expectNoLog(t, db.Group(id), 1)
		expectNoLog(t, db.Group(id), math.MaxUint64)
	}
}

// Deleting all of one group's logs leaves its neighbours' alone.
func TestDeleteRangeStaysInsideTheGroup(t *testing.T) {
	db := openTestDB(t, "")
	ids := []GroupID{0, 1, 2, math.MaxUint64 - 1, math.MaxUint64}
	for _, id := range ids {
		mustStoreLogs(t, db.Group(id), testLogs(1, 5, 1))
		if err := db.Group(id).SetUint64([]byte("CurrentTerm"), 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []GroupID{1, math.MaxUint64} {
		mustDeleteRange(t, db.Group(id), 0, math.MaxUint64)
	}
	for _, id := range ids {
		store := db.Group(id)
		if id == 1 || id == math.MaxUint64 {
			expectIndexes(t, store, 0, 0)
		} else {
			expectIndexes(t, store, 1, 5)
		}
		if term, err := store.GetUint64([]byte("CurrentTerm")); err != nil || term != 1 {
			t.Fatalf("group %d CurrentTerm = %d, %v after DeleteRange", id, term, err)
		}
	}
}

func TestDeleteGroup(t *testing.T) {
	db := openTestDB(t, "")
	for _, id := range []GroupID{3, 4} {
		mustStoreLogs(t, db.Group(id), testLogs(1, 3, 1))
		if err := db.Group(id).Set([]byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := db.Pebble().Set(StateKey(id, []byte("s")), []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		if err := db.Pebble().Set(MetaKey(id, "applied"), []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteGroup(3); err != nil {
		t.Fatal(err)
	}
	for _, id := range []GroupID{3, 4} {
		present := id == 4
		if present {
			expectIndexes(t, db.Group(id), 1, 3)
		} else {
			expectIndexes(t, db.Group(id), 0, 0)
		}
		if _, err := db.Group(id).Get([]byte("k")); (err == nil) != present {
			t.Errorf("group %d stable key present = %v, want %v", id, err == nil, present)
		}
		for _, key := range [][]byte{StateKey(id, []byte("s")), MetaKey(id, "applied")} {
			_, closer, err := db.Pebble().Get(key)
			if err == nil {
				closer.Close()
			}
			if (err == nil) != present {
				t.Errorf("group %d key %x present = %v, want %v", id, key, err == nil, present)
			}
		}
	}
}
