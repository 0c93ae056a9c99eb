package replication

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cellpay/cellpay/replication/storage"
)

// Entry is one committed command handed to a StateMachine.
type Entry struct {
	Index uint64 // raft log index
	Term  uint64 // raft term of the leader that proposed it
	Data  []byte // the command as proposed; must not be retained after Apply
}

// StateMachine is a group's deterministic application. Its state lives in
// the node's Pebble store under the group's state prefix, written only
// through the Tx given to Apply, so the host can snapshot, restore and
// skip already-applied entries after a restart without its help.
type StateMachine interface {
	// Apply applies one committed command. Everything written through tx
	// commits atomically with the group's applied index, together with the
	// other entries of the same batch. Apply must be deterministic: no
	// clocks, randomness or map iteration order; the same entries on the
	// same state give the same writes and result on every replica. The
	// result is returned to the proposer (on the node that proposed it).
	Apply(tx *Tx, e Entry) any
	// Restored tells the state machine that its state was replaced by a
	// snapshot taken at appliedIndex (it may drop caches).
	Restored(appliedIndex uint64)
}

// Tx is the view of one apply batch, confined to a group's state keys.
// Reads see the batch's own earlier writes.
type Tx struct {
	group storage.GroupID
	batch *pebble.Batch
	err   error // first write error; fails the whole batch
}

// Get returns a copy of the value of key, or found=false.
func (tx *Tx) Get(key []byte) (value []byte, found bool, err error) {
	v, closer, err := tx.batch.Get(storage.StateKey(tx.group, key))
	if err == pebble.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("replication: group %d: get: %w", tx.group, err)
	}
	value = bytes.Clone(v)
	return value, true, closer.Close()
}

// Set writes key = value.
func (tx *Tx) Set(key, value []byte) {
	if err := tx.batch.Set(storage.StateKey(tx.group, key), value, nil); err != nil && tx.err == nil {
		tx.err = err
	}
}

// Delete removes key.
func (tx *Tx) Delete(key []byte) {
	if err := tx.batch.Delete(storage.StateKey(tx.group, key), nil); err != nil && tx.err == nil {
		tx.err = err
	}
}

// Scan calls fn for each key in [lower, upper) in order (nil upper: to the
// end of the group's state) until fn returns false. Keys and values passed to
// fn are valid only during the call.
func (tx *Tx) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return scan(tx.batch, tx.group, lower, upper, fn)
}

type iterable interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

func scan(r iterable, g storage.GroupID, lower, upper []byte, fn func(key, value []byte) bool) error {
	lo, hi := storage.StatePrefix(g)
	prefixLen := len(storage.StateKey(g, nil))
	opts := &pebble.IterOptions{LowerBound: storage.StateKey(g, lower), UpperBound: hi}
	if upper != nil {
		opts.UpperBound = storage.StateKey(g, upper)
	}
	if bytes.Compare(opts.LowerBound, lo) < 0 {
		opts.LowerBound = lo
	}
	it, err := r.NewIter(opts)
	if err != nil {
		return fmt.Errorf("replication: group %d: scan: %w", g, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("replication: group %d: scan: %w", g, err)
		}
		if !fn(it.Key()[prefixLen:], v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("replication: group %d: scan: %w", g, err)
	}
	return nil
}

// Reader reads a group's committed state outside of Apply (after
// Group.LinearizableRead for current reads).
type Reader struct {
	group storage.GroupID
	db    *pebble.DB
}

// Get returns a copy of the value of key, or found=false.
func (r Reader) Get(key []byte) (value []byte, found bool, err error) {
	v, closer, err := r.db.Get(storage.StateKey(r.group, key))
	if err == pebble.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("replication: group %d: get: %w", r.group, err)
	}
	value = bytes.Clone(v)
	return value, true, closer.Close()
}

// Scan is Tx.Scan over the committed state.
func (r Reader) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return scan(r.db, r.group, lower, upper, fn)
}
