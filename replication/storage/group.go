package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

// StoreLogsBytesMax bounds the encoded size of one StoreLogs call. Pebble
// panics on a batch of 4 GiB or more; Raft's appends (MaxAppendEntries
// entries of one command each) stay far below this limit.
const StoreLogsBytesMax = 1 << 30

// batchRecordOverheadBytesMax is the most a Pebble batch adds per Set: a kind
// byte and two uvarint lengths.
const batchRecordOverheadBytesMax = 1 + 2*binary.MaxVarintLen32

// GroupStore is the Raft log and stable store of one group. It implements
// raft.LogStore, raft.StableStore and raft.MonotonicLogStore, and is safe for
// concurrent use. Get it from DB.Group.
type GroupStore struct {
	db *DB
	id GroupID
	// logLower and logUpper bound iterators to exactly this group's log keys;
	// read-only once built, so concurrent iterators share them.
	logLower, logUpper []byte
}

var (
	_ raft.LogStore          = (*GroupStore)(nil)
	_ raft.StableStore       = (*GroupStore)(nil)
	_ raft.MonotonicLogStore = (*GroupStore)(nil)
)

// ID returns the group's id.
func (s *GroupStore) ID() GroupID { return s.id }

// IsMonotonic implements raft.MonotonicLogStore: log indexes have no gaps, so
// after restoring a snapshot Raft deletes all old logs with one DeleteRange
// (one range tombstone here) instead of relying on a gap.
func (s *GroupStore) IsMonotonic() bool { return true }

// FirstIndex implements raft.LogStore: the lowest stored index, 0 if none.
func (s *GroupStore) FirstIndex() (uint64, error) {
	return s.edgeIndex("first index", (*pebble.Iterator).First)
}

// LastIndex implements raft.LogStore: the highest stored index, 0 if none.
func (s *GroupStore) LastIndex() (uint64, error) {
	return s.edgeIndex("last index", (*pebble.Iterator).Last)
}

// edgeIndex positions an iterator bounded to exactly this group's log keys
// with First or Last. The bounds matter: without them, a stable or state key
// of this or another group could be taken for a log key.
func (s *GroupStore) edgeIndex(operation string, position func(*pebble.Iterator) bool) (index uint64, err error) {
	if err := s.db.acquire(); err != nil {
		return 0, err
	}
	defer s.db.release()
	iter, err := s.db.pebble.NewIter(&pebble.IterOptions{LowerBound: s.logLower, UpperBound: s.logUpper})
	if err != nil {
		return 0, fmt.Errorf("storage: group %d %s: %w", s.id, operation, err)
	}
	defer func() {
		if closeErr := iter.Close(); closeErr != nil && err == nil {
			index, err = 0, fmt.Errorf("storage: group %d %s: %w", s.id, operation, closeErr)
		}
	}()
	if !position(iter) {
		if err := iter.Error(); err != nil {
			return 0, fmt.Errorf("storage: group %d %s: %w", s.id, operation, err)
		}
		return 0, nil
	}
	index, ok := parseLogKey(s.id, iter.Key())
	if !ok {
		return 0, fmt.Errorf("storage: group %d %s: %w: key %x is not a log key",
			s.id, operation, ErrCorrupt, iter.Key())
	}
	return index, nil
}

// GetLog implements raft.LogStore. It returns raft.ErrLogNotFound (not
// wrapped) when the group has no entry at index.
func (s *GroupStore) GetLog(index uint64, log *raft.Log) error {
	if err := s.db.acquire(); err != nil {
		return err
	}
	defer s.db.release()
	value, closer, err := s.db.pebble.Get(LogKey(s.id, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: group %d log %d: %w", s.id, index, err)
	}
	decoded, decodeErr := decodeLog(value)
	if err := closer.Close(); err != nil {
		return fmt.Errorf("storage: group %d log %d: %w", s.id, index, err)
	}
	if decodeErr != nil {
		return fmt.Errorf("storage: group %d log %d: %w: %w", s.id, index, ErrCorrupt, decodeErr)
	}
	if decoded.Index != index {
		return fmt.Errorf("storage: group %d log %d: %w: entry records index %d",
			s.id, index, ErrCorrupt, decoded.Index)
	}
	*log = decoded
	return nil
}

// StoreLog implements raft.LogStore.
func (s *GroupStore) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs implements raft.LogStore: all entries in one batch, committed
// with fsync, so they are all durable or none is. An entry at an existing
// index replaces it.
func (s *GroupStore) StoreLogs(logs []*raft.Log) error {
	batchBytes := 0
	for i, l := range logs {
		if l == nil {
			return fmt.Errorf("storage: group %d store logs: entry %d of %d is nil", s.id, i, len(logs))
		}
		batchBytes += logKeyLen + encodedLogSize(l) + batchRecordOverheadBytesMax
		if batchBytes > StoreLogsBytesMax {
			return fmt.Errorf("storage: group %d store logs: %d entries exceed the %d-byte batch limit at entry %d (index %d)",
				s.id, len(logs), StoreLogsBytesMax, i, l.Index)
		}
	}
	if err := s.db.acquire(); err != nil {
		return err
	}
	defer s.db.release()
	if len(logs) == 0 {
		return nil
	}
	batch := s.db.pebble.NewBatchWithSize(batchBytes)
	defer batch.Close()
	for _, l := range logs {
		// Encode straight into the batch's buffer: no per-entry allocation.
		op := batch.SetDeferred(logKeyLen, encodedLogSize(l))
		putLogKey(op.Key, s.id, l.Index)
		encodeLog(op.Value, l)
		if err := op.Finish(); err != nil {
			return fmt.Errorf("storage: group %d store logs: index %d: %w", s.id, l.Index, err)
		}
	}
	if err := batch.Commit(s.db.writeOptions); err != nil {
		return fmt.Errorf("storage: group %d store logs: indexes %d-%d: %w",
			s.id, logs[0].Index, logs[len(logs)-1].Index, err)
	}
	return nil
}

// putLogKey writes LogKey(g, index) into dst, which is logKeyLen long.
func putLogKey(dst []byte, g GroupID, index uint64) {
	dst[0] = kindLog
	binary.BigEndian.PutUint64(dst[1:logIndexOffset], uint64(g))
	binary.BigEndian.PutUint64(dst[logIndexOffset:], index)
}

// DeleteRange implements raft.LogStore: it deletes the entries with indexes
// min through max, both included, with one synced range tombstone. It is a
// no-op when min > max.
func (s *GroupStore) DeleteRange(min, max uint64) error {
	if err := s.db.acquire(); err != nil {
		return err
	}
	defer s.db.release()
	if min > max {
		return nil
	}
	start := LogKey(s.id, min)
	end := s.logUpper // max == MaxUint64: up to the end of the group's logs
	if max < math.MaxUint64 {
		end = LogKey(s.id, max+1)
	}
	batch := s.db.pebble.NewBatch()
	defer batch.Close()
	if err := batch.DeleteRange(start, end, nil); err != nil {
		return fmt.Errorf("storage: group %d delete logs %d-%d: %w", s.id, min, max, err)
	}
	if err := batch.Commit(s.db.writeOptions); err != nil {
		return fmt.Errorf("storage: group %d delete logs %d-%d: %w", s.id, min, max, err)
	}
	return nil
}

// Set implements raft.StableStore, synced. Set(key, nil) stores an empty
// value, which Get returns as an empty, non-nil slice.
func (s *GroupStore) Set(key []byte, val []byte) error {
	if err := s.db.acquire(); err != nil {
		return err
	}
	defer s.db.release()
	if err := s.db.pebble.Set(StableKey(s.id, key), val, s.db.writeOptions); err != nil {
		return fmt.Errorf("storage: group %d stable key %q: %w", s.id, key, err)
	}
	return nil
}

// Get implements raft.StableStore. Like raft.InmemStore it returns
// (nil, ErrKeyNotFound), whose text is exactly "not found", for a key never
// set: raft accepts that text as "missing" and nothing else.
func (s *GroupStore) Get(key []byte) ([]byte, error) {
	if err := s.db.acquire(); err != nil {
		return nil, err
	}
	defer s.db.release()
	value, closer, err := s.db.pebble.Get(StableKey(s.id, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: group %d stable key %q: %w", s.id, key, err)
	}
	// Copy: value is only valid until closer.Close.
	out := append(make([]byte, 0, len(value)), value...)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("storage: group %d stable key %q: %w", s.id, key, err)
	}
	return out, nil
}

// SetUint64 implements raft.StableStore, synced. The value is stored as 8
// big-endian bytes under the same key space as Set.
func (s *GroupStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(make([]byte, 0, 8), val))
}

// GetUint64 implements raft.StableStore. Like raft.InmemStore and the
// interface's contract it returns (0, nil) for a key never set. A value that
// is not 8 bytes long is reported as corrupt.
func (s *GroupStore) GetUint64(key []byte) (uint64, error) {
	value, err := s.Get(key)
	if errors.Is(err, ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(value) != 8 {
		return 0, fmt.Errorf("storage: group %d stable key %q: %w: uint64 value of %d bytes",
			s.id, key, ErrCorrupt, len(value))
	}
	return binary.BigEndian.Uint64(value), nil
}
