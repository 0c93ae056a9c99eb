package replicationtest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/replication/replicationtest"
)

// counters is a deterministic state machine: each command names a key
// whose counter it increments, and returns the new count with the entry's
// index and term. An entry applied twice counts twice, so a replay that
// re-applies shows.
type counters struct {
	restored *uint64 // if set, Restored stores its index here
	applies  *int    // if set, counts Apply calls
}

type counted struct {
	count       uint64
	index, term uint64
}

func (c counters) Apply(tx *replication.Tx, e replication.Entry) any {
	key := append([]byte("c/"), e.Data...)
	var n uint64
	v, found, err := tx.Get(key)
	if err != nil {
		panic(err)
	}
	if found {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if c.applies != nil {
		*c.applies++
	}
	tx.Set(key, binary.BigEndian.AppendUint64(nil, n))
	return counted{count: n, index: e.Index, term: e.Term}
}

func (c counters) Restored(applied uint64) {
	if c.restored != nil {
		*c.restored = applied
	}
}

func apply(t *testing.T, tw *replicationtest.Twin, key string) counted {
	t.Helper()
	out, err := tw.Apply(context.Background(), []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return out.(counted)
}

// count reads key's counter through the production Reader.
func count(t *testing.T, r replication.Reader, key string) uint64 {
	t.Helper()
	v, found, err := r.Get([]byte("c/" + key))
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func TestTwinAssignsIndexesAndTermsInOrder(t *testing.T) {
	tw := replicationtest.New(t, counters{})
	if got := apply(t, tw, "a"); got != (counted{count: 1, index: 1, term: 1}) {
		t.Fatalf("first entry: %+v", got)
	}
	if term := tw.NewTerm(); term != 2 {
		t.Fatalf("NewTerm = %d, want 2", term)
	}
	if got := apply(t, tw, "a"); got != (counted{count: 2, index: 2, term: 2}) {
		t.Fatalf("second entry: %+v", got)
	}
	if id, _, term := tw.Leader(); id != replicationtest.NodeID || term != 2 || !tw.IsLeader() {
		t.Fatalf("Leader = %q term %d", id, term)
	}
	if tw.AppliedIndex() != 2 || tw.LastIndex() != 2 {
		t.Fatalf("applied %d, last %d; want 2, 2", tw.AppliedIndex(), tw.LastIndex())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tw.Apply(ctx, []byte("a")); err == nil || tw.LastIndex() != 2 {
		t.Fatalf("Apply with a done context: err %v, last index %d", err, tw.LastIndex())
	}
}

func TestTwinBatchSeesItsOwnWrites(t *testing.T) {
	tw := replicationtest.New(t, counters{})
	out := tw.ApplyBatch([]byte("k"), []byte("k"), []byte("j"))
	want := []counted{{1, 1, 1}, {2, 2, 1}, {1, 3, 1}}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("result %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	if n := count(t, tw.Reader(), "k"); n != 2 {
		t.Fatalf("k = %d after the batch, want 2", n)
	}
}

func TestTwinSnapshotRestoresIntoANewTwin(t *testing.T) {
	tw := replicationtest.New(t, counters{})
	for i := range 50 {
		apply(t, tw, fmt.Sprint(i%7))
	}
	snap := tw.Snapshot()
	apply(t, tw, "after") // not in the snapshot

	var restoredAt uint64
	other := replicationtest.New(t, counters{restored: &restoredAt}, replicationtest.WithGroup(9))
	if err := other.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if restoredAt != 50 || other.AppliedIndex() != 50 {
		t.Fatalf("restored at %d, applied %d; want 50", restoredAt, other.AppliedIndex())
	}
	for i := range 7 {
		if a, b := count(t, tw.Reader(), fmt.Sprint(i)), count(t, other.Reader(), fmt.Sprint(i)); a != b {
			t.Fatalf("counter %d: %d on the source, %d restored", i, a, b)
		}
	}
	if n := count(t, other.Reader(), "after"); n != 0 {
		t.Fatalf("an entry after the snapshot was restored: %d", n)
	}
	if got := apply(t, other, "after"); got.index != 51 {
		t.Fatalf("the first entry after the restore has index %d, want 51", got.index)
	}
	other.Reopen() // the dropped log is not replayed over the snapshot
	if n := count(t, other.Reader(), "after"); n != 1 {
		t.Fatalf("after a reopen, after = %d, want 1", n)
	}
	if err := other.Restore(snap[:len(snap)-1]); err != nil {
		t.Fatalf("a replica already past the snapshot read it: %v", err)
	}
	fresh := replicationtest.New(t, counters{})
	if err := fresh.Restore(snap[:len(snap)-1]); err == nil {
		t.Fatal("a truncated snapshot was accepted")
	}
}

func TestTwinReopenReplaysNothingTwice(t *testing.T) {
	tw := replicationtest.New(t, counters{})
	for range 130 { // more than one replay batch
		apply(t, tw, "x")
	}
	_, before := tw.StateDigest()
	tw.Reopen()
	if applied, after := tw.StateDigest(); applied != 130 || after != before {
		t.Fatalf("after a reopen: applied %d, digest changed %v", applied, after != before)
	}
	if got := apply(t, tw, "x"); got != (counted{count: 131, index: 131, term: 1}) {
		t.Fatalf("after a reopen: %+v", got)
	}
}

// TestCrashKeepsEveryAppliedCommand is the FSM crash test: the ledger-like
// state machine commits its batches without fsync (the log is the durable
// record), so a crash may lose applied state; the log, synced before each
// apply, brings it back on replay, exactly once. With a random share of
// the unsynced writes kept, the store still opens, and the state equals
// the state before the crash, for every seed.
func TestCrashKeepsEveryAppliedCommand(t *testing.T) {
	for seed := range int64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			tw := replicationtest.New(t, counters{}, replicationtest.WithCrashableFS())
			want := map[string]uint64{}
			for round := range 3 {
				for range 40 + rng.IntN(60) {
					key := fmt.Sprint(rng.IntN(5))
					want[key]++
					if got := apply(t, tw, key); got.count != want[key] {
						t.Fatalf("round %d: %s counted %d, want %d", round, key, got.count, want[key])
					}
				}
				last := tw.LastIndex()
				_, before := tw.StateDigest()
				tw.CrashWith(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
				applied, after := tw.StateDigest()
				if applied != last || after != before {
					t.Fatalf("round %d: after the crash applied %d (want %d), same state %v", round, applied, last, after == before)
				}
				for key, n := range want {
					if got := count(t, tw.Reader(), key); got != n {
						t.Fatalf("round %d: after the crash %s = %d, want %d", round, key, got, n)
					}
				}
			}
		})
	}
}

// TestCrashKeepsSyncedLogEntries: every entry StoreLogs acknowledged (it
// syncs) survives a crash that keeps nothing unsynced, byte for byte, and
// the stable store's synced term survives with it. The last apply, not
// synced, is lost and replayed from the log, once.
func TestCrashKeepsSyncedLogEntries(t *testing.T) {
	applies := 0
	tw := replicationtest.New(t, counters{applies: &applies}, replicationtest.WithCrashableFS())
	if err := tw.LogStore().SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	for i := range 25 { // after the synced term: a later sync would save the last apply
		apply(t, tw, fmt.Sprint("entry-", i))
	}
	tw.Crash()
	if applies != 26 {
		t.Fatalf("%d applies for 25 entries and a crash, want 26: the unsynced last apply replayed once", applies)
	}
	if n := count(t, tw.Reader(), "entry-24"); n != 1 {
		t.Fatalf("the replayed entry counted %d times, want 1", n)
	}
	store := tw.LogStore()
	first, err := store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first != 1 || last != 25 {
		t.Fatalf("after the crash the log holds [%d, %d], want [1, 25]", first, last)
	}
	for i := first; i <= last; i++ {
		var l raftLog
		if err := store.GetLog(i, &l.Log); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if want := fmt.Sprint("entry-", i-1); !bytes.Equal(l.Data, []byte(want)) || l.Index != i {
			t.Fatalf("entry %d is %d %q, want %q", i, l.Index, l.Data, want)
		}
	}
	if term, err := store.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
		t.Fatalf("CurrentTerm after the crash: %d, %v; want 7", term, err)
	}
}
