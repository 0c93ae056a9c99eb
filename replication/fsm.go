package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"

	"github.com/cellpay/cellpay/replication/storage"
)

// appliedKey names the group's applied index in its metadata.
const appliedKey = "applied"

// fsm adapts a StateMachine to raft.BatchingFSM. Each batch of committed
// entries becomes one Pebble batch that also records the applied index, so
// after a restart (when hashicorp/raft replays every entry after its last
// snapshot) entries at or below the stored index are skipped: none is
// applied twice.
type fsm struct {
	group storage.GroupID
	db    *pebble.DB
	sm    StateMachine

	mu      sync.Mutex // guards applied and wakes waiters
	applied uint64
	changed chan struct{} // closed and replaced whenever applied grows

	checkpoints checkpoints
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(db *pebble.DB, g storage.GroupID, sm StateMachine) (*fsm, error) {
	applied, err := readApplied(db, g)
	if err != nil {
		return nil, err
	}
	return &fsm{group: g, db: db, sm: sm, applied: applied, changed: make(chan struct{})}, nil
}

func readApplied(r interface {
	Get([]byte) ([]byte, io.Closer, error)
}, g storage.GroupID) (uint64, error) {
	v, closer, err := r.Get(storage.MetaKey(g, appliedKey))
	if err == pebble.ErrNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("replication: group %d: read applied index: %w", g, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("replication: group %d: applied index is %d bytes, want 8", g, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func appliedValue(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// appliedIndex is the last index whose effects are in the store.
func (f *fsm) appliedIndex() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.changed
}

func (f *fsm) setApplied(i uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = i
	close(f.changed)
	f.changed = make(chan struct{})
}

// Apply implements raft.FSM (unused when batching, kept for the interface).
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. A checkpoint entry cuts the
// batch: what came before it commits, and the state right there is hashed
// (checkpoint.go).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	applied, _ := f.appliedIndex()
	tx := &Tx{group: f.group, batch: f.db.NewIndexedBatch()}
	defer func() { tx.batch.Close() }()
	last := applied
	for i, l := range logs {
		if l.Index <= applied {
			continue // applied before a restart; its effects are already stored
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		if bytes.Equal(l.Data, checkpointData) {
			f.commit(tx, last)
			f.checkpoints.start(last, f.group, f.db.NewSnapshot())
			tx.batch.Close()
			tx = &Tx{group: f.group, batch: f.db.NewIndexedBatch()}
			applied = last
			continue
		}
		out[i] = f.sm.Apply(tx, Entry{Index: l.Index, Term: l.Term, Data: l.Data})
	}
	if last != applied {
		f.commit(tx, last)
	}
	return out
}

// commit stores tx's writes with the applied index last.
func (f *fsm) commit(tx *Tx, last uint64) {
	if tx.err == nil {
		tx.err = tx.batch.Set(storage.MetaKey(f.group, appliedKey), appliedValue(last), nil)
	}
	// NoSync: the raft log is already durable and replays whatever a crash
	// loses; Snapshot syncs before raft may compact the log.
	if tx.err == nil {
		tx.err = tx.batch.Commit(pebble.NoSync)
	}
	if tx.err != nil {
		// The store failed under us: continuing would diverge from the other
		// replicas. hashicorp/raft has no way to fail an apply; stop hard.
		panic(fmt.Sprintf("replication: group %d: cannot commit applied entries up to %d: %v", f.group, last, tx.err))
	}
	f.setApplied(last)
}

// Snapshot implements raft.FSM: a Pebble snapshot of the group's state at the
// applied index. The sync first makes every applied batch durable, so the
// raft log may be compacted up to this snapshot.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return nil, fmt.Errorf("replication: group %d: sync before snapshot: %w", f.group, err)
	}
	snap := f.db.NewSnapshot()
	applied, err := readApplied(snap, f.group)
	if err != nil {
		_ = snap.Close()
		return nil, err
	}
	return &fsmSnapshot{group: f.group, snap: snap, applied: applied}, nil
}

// Restore implements raft.FSM. When the stored state is already at or past
// the snapshot (a restart: hashicorp/raft restores the last snapshot, then
// replays the log after it), nothing is done. Otherwise the group's state is
// replaced: the applied index is zeroed first, so a crash part way leaves a
// state that the next start restores again rather than trusts.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := newSnapshotReader(rc)
	snapApplied, err := r.header()
	if err != nil {
		return fmt.Errorf("replication: group %d: restore: %w", f.group, err)
	}
	applied, _ := f.appliedIndex()
	if applied >= snapApplied {
		return nil
	}
	lo, hi := storage.StatePrefix(f.group)
	b := f.db.NewBatch()
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		return err
	}
	if err := b.Set(storage.MetaKey(f.group, appliedKey), appliedValue(0), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("replication: group %d: restore: clear state: %w", f.group, err)
	}
	f.setApplied(0)
	b = f.db.NewBatch()
	for {
		key, value, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = b.Close()
			return fmt.Errorf("replication: group %d: restore: %w", f.group, err)
		}
		if err := b.Set(storage.StateKey(f.group, key), value, nil); err != nil {
			_ = b.Close()
			return err
		}
		if b.Len() >= restoreBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return fmt.Errorf("replication: group %d: restore: %w", f.group, err)
			}
			b = f.db.NewBatch()
		}
	}
	if err := b.Set(storage.MetaKey(f.group, appliedKey), appliedValue(snapApplied), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("replication: group %d: restore: %w", f.group, err)
	}
	f.setApplied(snapApplied)
	f.sm.Restored(snapApplied)
	return nil
}

// restoreBatchBytes bounds the memory of one restore batch.
const restoreBatchBytes = 4 << 20

type fsmSnapshot struct {
	group   storage.GroupID
	snap    *pebble.Snapshot
	applied uint64
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := newSnapshotWriter(sink, s.applied)
	err := scan(s.snap, s.group, nil, nil, func(k, v []byte) bool {
		return w.entry(k, v) == nil
	})
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("replication: group %d: persist snapshot: %w", s.group, err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() { _ = s.snap.Close() }
