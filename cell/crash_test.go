package cell

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"google.golang.org/protobuf/proto"

	"github.com/cellpay/cellpay/replication/replicationtest"
)

// TestLedgerSurvivesCrashes: the ledger commits its batches without fsync
// and relies on the Raft log, synced before every apply, to replay what a
// power loss drops. After crashes that keep a random part of the unsynced
// writes, the store opens, the replayed ledger is exactly the ledger
// before the crash (no command lost or applied twice), money is conserved,
// and a command sent again after the crash is replayed, not executed.
func TestLedgerSurvivesCrashes(t *testing.T) {
	cmds := genCommands(5, 300)
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			g := newTwin(t, replicationtest.WithCrashableFS())
			for start := 0; start < len(cmds); {
				n := 1 + rng.IntN(80)
				var last []byte
				for _, cmd := range cmds[start:min(start+n, len(cmds))] {
					data, err := proto.Marshal(cmd)
					if err != nil {
						t.Fatal(err)
					}
					applyData(t, g, data)
					last = data
				}
				start += n
				applied, before := g.StateDigest()
				g.CrashWith(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
				if index, after := g.StateDigest(); index != applied || after != before {
					t.Fatalf("after %d commands and a crash: applied %d (want %d), same state %v", start, index, applied, after == before)
				}
				requireConserved(t, g)
				if again := applyData(t, g, last); again.Stored && !again.Replayed {
					t.Fatalf("the last command before the crash executed again: %v", again.Result)
				}
			}
		})
	}
}
