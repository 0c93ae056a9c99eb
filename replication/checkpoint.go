package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cellpay/cellpay/replication/storage"
)

// A checkpoint is a point of a group's log where every replica computes a
// digest of its state, so replicas can be compared at the same index while
// writes go on. The leader appends a checkpoint entry (Group.Checkpoint);
// each replica, when it applies it, commits what it applied before, takes a
// Pebble snapshot there and hashes it in the background (the apply path is
// not held up). Group.CheckpointDigest returns the result.
//
// The entry's data can never be a state machine's command: 0xFF is not a
// valid first byte of a protobuf message (wire type 7), and the state
// machine never sees it.

var checkpointData = []byte("\xffcellpay/checkpoint")

// checkpointsKept bounds the digests a replica remembers.
const checkpointsKept = 16

var (
	// ErrCheckpointPending: this replica has not applied the checkpoint
	// yet, or is still hashing it; ask again.
	ErrCheckpointPending = errors.New("replication: checkpoint digest not ready yet")
	// ErrCheckpointUnknown: this replica has no digest at that index (it
	// was never a checkpoint, the replica caught up by a snapshot past it,
	// restarted, or the digest is older than the last checkpointsKept).
	ErrCheckpointUnknown = errors.New("replication: no checkpoint digest at that index")
)

// RangeDigest is the digest of the state keys in [Lower, Upper).
type RangeDigest struct {
	Lower, Upper []byte
	Keys         int
	SHA256       [32]byte
}

// Digest is a replica's state at a checkpoint: the whole state's SHA-256
// (the same hash as StateDigest) and one per key range. Ranges are cut at
// fixed boundaries, the key up to its first '/' plus one byte ("t/a" to
// "t/b"), so replicas with different states still cut the same ranges and
// the first range that differs narrows a divergence down.
type Digest struct {
	Index  uint64
	SHA256 [32]byte
	Ranges []RangeDigest
}

// Checkpoint appends a checkpoint entry to the group's log (leader only)
// and returns its index once committed.
func (g *Group) Checkpoint(ctx context.Context) (uint64, error) {
	if !g.IsLeader() {
		return 0, g.notLeader()
	}
	f := g.raft.Apply(checkpointData, g.timing.ElectionTimeout)
	if err := wait(ctx, f); err != nil {
		return 0, fmt.Errorf("replication: group %d: checkpoint: %w", g.id, err)
	}
	return f.Index(), nil
}

// CheckpointDigest returns this replica's digest at a checkpoint index:
// ErrCheckpointPending while the replica has not applied that far or is
// still hashing.
func (g *Group) CheckpointDigest(index uint64) (Digest, error) {
	d, err := g.fsm.checkpoints.get(index)
	if applied, _ := g.fsm.appliedIndex(); errors.Is(err, ErrCheckpointUnknown) && applied < index {
		return Digest{}, ErrCheckpointPending
	}
	return d, err
}

// checkpoints holds a replica's recent checkpoint digests.
type checkpoints struct {
	mu      sync.Mutex
	digests map[uint64]*checkpointResult
	order   []uint64 // oldest first
	wg      sync.WaitGroup
}

type checkpointResult struct {
	done   chan struct{}
	digest Digest
	err    error
}

func (c *checkpoints) get(index uint64) (Digest, error) {
	c.mu.Lock()
	r, ok := c.digests[index]
	c.mu.Unlock()
	if !ok {
		return Digest{}, ErrCheckpointUnknown
	}
	select {
	case <-r.done:
		return r.digest, r.err
	default:
		return Digest{}, ErrCheckpointPending
	}
}

// start hashes snap (the state right after index) in the background and
// closes snap when done.
func (c *checkpoints) start(index uint64, g storage.GroupID, snap *pebble.Snapshot) {
	r := &checkpointResult{done: make(chan struct{})}
	c.mu.Lock()
	if c.digests == nil {
		c.digests = make(map[uint64]*checkpointResult)
	}
	c.digests[index] = r
	c.order = append(c.order, index)
	for len(c.order) > checkpointsKept {
		delete(c.digests, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer snap.Close()
		r.digest, r.err = digestOf(snap, g, index)
		close(r.done)
	}()
}

// wait waits for every digest in progress (at shutdown, before the store
// closes).
func (c *checkpoints) wait() { c.wg.Wait() }

// rangeOf is the fixed range a state key falls in: its bytes up to the
// first '/', plus the next byte (the whole key if shorter).
func rangeOf(key []byte) []byte {
	i := bytes.IndexByte(key, '/')
	if i < 0 || i+2 > len(key) {
		return key
	}
	return key[:i+2]
}

// digestOf hashes the group's state in snap, whole and per range.
func digestOf(snap *pebble.Snapshot, g storage.GroupID, index uint64) (Digest, error) {
	d := Digest{Index: index}
	whole := sha256.New()
	whole.Write(binary.BigEndian.AppendUint64(nil, index))
	var part = sha256.New()
	var cur []byte
	keys := 0
	flush := func() {
		if cur == nil {
			return
		}
		var rd RangeDigest
		rd.Lower = append([]byte(nil), cur...)
		rd.Upper = append(append([]byte(nil), cur[:len(cur)-1]...), cur[len(cur)-1]+1)
		if len(cur) > 0 && cur[len(cur)-1] == 0xff {
			rd.Upper = nil // No fixed successor: the range runs to the end of its prefix.
		}
		rd.Keys = keys
		copy(rd.SHA256[:], part.Sum(nil))
		d.Ranges = append(d.Ranges, rd)
		part.Reset()
		keys = 0
	}
	var lenBuf []byte
	err := scan(snap, g, nil, nil, func(k, v []byte) bool {
		if r := rangeOf(k); cur == nil || !bytes.Equal(r, cur) {
			flush()
			cur = append(cur[:0:0], r...)
		}
		for _, h := range [...]interface{ Write([]byte) (int, error) }{whole, part} {
			lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(k)))
			h.Write(lenBuf)
			h.Write(k)
			lenBuf = binary.AppendUvarint(lenBuf[:0], uint64(len(v)))
			h.Write(lenBuf)
			h.Write(v)
		}
		keys++
		return true
	})
	if err != nil {
		return Digest{}, err
	}
	flush()
	copy(d.SHA256[:], whole.Sum(nil))
	sort.Slice(d.Ranges, func(i, j int) bool { return bytes.Compare(d.Ranges[i].Lower, d.Ranges[j].Lower) < 0 })
	return d, nil
}

// FirstDifference compares two digests of the same checkpoint: "" if they
// agree, else the first key range whose keys differ, as "[lower, upper)".
func FirstDifference(a, b Digest) string {
	if a.SHA256 == b.SHA256 {
		return ""
	}
	ranges := map[string][2]*RangeDigest{}
	for i := range a.Ranges {
		r := &a.Ranges[i]
		e := ranges[string(r.Lower)]
		e[0] = r
		ranges[string(r.Lower)] = e
	}
	for i := range b.Ranges {
		r := &b.Ranges[i]
		e := ranges[string(r.Lower)]
		e[1] = r
		ranges[string(r.Lower)] = e
	}
	lowers := make([]string, 0, len(ranges))
	for l := range ranges {
		lowers = append(lowers, l)
	}
	sort.Strings(lowers)
	for _, l := range lowers {
		e := ranges[l]
		if e[0] == nil || e[1] == nil || e[0].SHA256 != e[1].SHA256 {
			r := e[0]
			if r == nil {
				r = e[1]
			}
			return fmt.Sprintf("[%q, %q)", r.Lower, r.Upper)
		}
	}
	return "(the ranges agree; the applied indexes differ)"
}
