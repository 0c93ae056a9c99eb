package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cellpay/cellpay/replication/storage"
)

// checkpointDigests takes a checkpoint through the leader and waits for
// every replica's digest of it.
func checkpointDigests(t *testing.T, c *testCluster, g uint64) []Digest {
	t.Helper()
	l := c.leader(g, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	index, err := c.group(l, g).Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	digests := make([]Digest, len(c.nodes))
	for i := range c.nodes {
		eventually(t, 30*time.Second, fmt.Sprintf("replica %d's digest at %d", i, index), func() error {
			d, err := c.group(i, g).CheckpointDigest(index)
			digests[i] = d
			return err
		})
		if digests[i].Index != index {
			t.Fatalf("replica %d's digest is of index %d, want %d", i, digests[i].Index, index)
		}
	}
	return digests
}

// TestCheckpointDigestsAgreeUnderWrites: writes go on while the replicas
// hash; every replica's digest at the checkpoint is the same, and a later
// checkpoint (after more writes) differs from it.
func TestCheckpointDigestsAgreeUnderWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, []uint64{1}, nil)
	for i := range 50 {
		c.propose(1, nil, fmt.Sprintf("k%d=v%d", i, i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.propose(1, nil, fmt.Sprintf("w%d=x", i))
		}
	}()
	first := checkpointDigests(t, c, 1)
	second := checkpointDigests(t, c, 1)
	close(stop)
	wg.Wait()
	for _, ds := range [][]Digest{first, second} {
		for i := 1; i < len(ds); i++ {
			if diff := FirstDifference(ds[0], ds[i]); diff != "" {
				t.Fatalf("replicas 0 and %d differ at checkpoint %d: %s", i, ds[0].Index, diff)
			}
		}
	}
	if first[0].SHA256 == second[0].SHA256 || len(first[0].Ranges) == 0 {
		t.Fatalf("two checkpoints with writes between them have the same digest (or no ranges: %d)", len(first[0].Ranges))
	}
	if _, err := c.group(0, 1).CheckpointDigest(first[0].Index + 1); !errors.Is(err, ErrCheckpointUnknown) {
		t.Fatalf("digest at a non-checkpoint index: %v, want ErrCheckpointUnknown", err)
	}
	if _, err := c.group(0, 1).CheckpointDigest(1 << 40); !errors.Is(err, ErrCheckpointPending) {
		t.Fatalf("digest at an index not applied yet: %v, want ErrCheckpointPending", err)
	}
}

// TestCheckpointFindsStateAlteredBehindRaft: a replica's stored state is
// changed on disk, not through the log; the next checkpoint's digests
// differ and name the key range of the change.
func TestCheckpointFindsStateAlteredBehindRaft(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	c := newTestCluster(t, 3, []uint64{1}, nil)
	for i := range 20 {
		c.propose(1, nil, fmt.Sprintf("acct%d=100", i))
	}
	idx := c.propose(1, nil, "last=1")
	c.converged(1, nil, idx)
	victim := (c.leader(1, nil) + 1) % 3
	db := c.nodes[victim].host.db.Pebble()
	if err := db.Set(storage.StateKey(storage.GroupID(1), []byte("kv/acct7")), []byte("1000000"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	ds := checkpointDigests(t, c, 1)
	healthy := (victim + 1) % 3
	diff := FirstDifference(ds[healthy], ds[victim])
	if diff == "" || !strings.Contains(diff, `"kv/a"`) {
		t.Fatalf("the altered replica's first difference is %q; want the range of kv/acct7 (\"kv/a\")", diff)
	}
	other := 3 - victim - healthy
	if d := FirstDifference(ds[healthy], ds[other]); d != "" {
		t.Fatalf("two untouched replicas differ: %s", d)
	}
}
