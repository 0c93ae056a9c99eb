package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"
)

// crashDir is the store's directory on the crashable filesystem.
const crashDir = "/node/pebble"

// openCrashable opens a store on fs (storage.Open creates its directory
// and syncs the parents it created).
func openCrashable(t *testing.T, fs *vfs.MemFS, opts Options) *DB {
	t.Helper()
	opts.FS = fs
	db, err := Open(crashDir, opts)
	if err != nil {
		t.Fatalf("open the store on the crashed filesystem: %v", err)
	}
	return db
}

// crash takes the filesystem as a crash now would leave it (keeping
// percent of the unsynced writes) and closes db, whose closing writes then
// reach only the old filesystem.
func crash(t *testing.T, fs *vfs.MemFS, db *DB, percent int, rng *rand.Rand) *vfs.MemFS {
	t.Helper()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: percent, RNG: rng})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return crashed
}

// TestCrashKeepsEveryAcknowledgedWrite: StoreLogs, DeleteRange, Set and
// SetUint64 sync before they return, so what they acknowledged survives a
// crash however much of the rest is lost, and the store reopens with a
// log without gaps whose every entry decodes.
func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	for seed := range uint64(10) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			fs := vfs.NewCrashableMem()
			db := openCrashable(t, fs, testOptions())
			s := db.Group(1)
			var first, last uint64 = 1, 0
			for round := range 4 {
				n := 1 + uint64(rng.IntN(40))
				mustStoreLogs(t, s, testLogs(last+1, last+n, uint64(round+1)))
				last += n
				if rng.IntN(2) == 0 && last > first+5 {
					mustDeleteRange(t, s, first, first+2) // compaction after a snapshot
					first += 3
				}
				if err := s.SetUint64([]byte("CurrentTerm"), uint64(round+1)); err != nil {
					t.Fatal(err)
				}
				if err := s.Set([]byte("LastVoteCand"), fmt.Appendf(nil, "n%d", round)); err != nil {
					t.Fatal(err)
				}

				fs = crash(t, fs, db, rng.IntN(101), rng)
				db = openCrashable(t, fs, testOptions())
				s = db.Group(1)
				expectIndexes(t, s, first, last)
				for i := first; i <= last; i++ {
					var l raft.Log
					if err := s.GetLog(i, &l); err != nil {
						t.Fatalf("round %d: entry %d after the crash: %v", round, i, err)
					}
				}
				expectLog(t, s, testLog(last, uint64(round+1)))
				if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != uint64(round+1) {
					t.Fatalf("round %d: CurrentTerm %d, %v after the crash", round, term, err)
				}
				if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != fmt.Sprintf("n%d", round) {
					t.Fatalf("round %d: LastVoteCand %q, %v after the crash", round, v, err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCrashWithoutSyncLosesOnlyATail: with UnsafeNoSyncForBenchmarksOnly a
// crash may lose acknowledged entries (which is why it is for benchmarks
// only), but what survives is still a store that opens, a log that is a
// prefix of what was written (Pebble's WAL replays up to the first torn
// record), and entries that decode.
func TestCrashWithoutSyncLosesOnlyATail(t *testing.T) {
	lost := 0
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 2))
		opts := testOptions()
		opts.UnsafeNoSyncForBenchmarksOnly = true
		fs := vfs.NewCrashableMem()
		db := openCrashable(t, fs, opts)
		s := db.Group(1)
		const written = 200
		for i := uint64(1); i <= written; i += 10 {
			mustStoreLogs(t, s, testLogs(i, i+9, 1))
		}
		fs = crash(t, fs, db, rng.IntN(101), rng)
		db = openCrashable(t, fs, opts)
		s = db.Group(1)
		first, err := s.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		last, err := s.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		if last > written || (last > 0 && first != 1) {
			t.Fatalf("seed %d: after the crash the log is [%d, %d], want a prefix of [1, %d]", seed, first, last, written)
		}
		for i := first; last > 0 && i <= last; i++ {
			expectLog(t, s, testLog(i, 1))
		}
		if last < written {
			lost++
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if lost == 0 {
		t.Fatal("no crash lost an unsynced entry: the crashable filesystem kept everything and the test proves nothing")
	}
}
