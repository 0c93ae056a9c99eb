package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// DB is one node's Pebble store, shared by the Raft logs and stable state of
// every group on the node and by their state machines. It is safe for
// concurrent use.
type DB struct {
	pebble       *pebble.DB
	writeOptions *pebble.WriteOptions

	// lifecycle keeps Close from running under an operation: Pebble panics
	// when used after Close. Every operation holds the read side for its
	// duration (one atomic add, shared by all groups); Close takes the write
	// side, so it waits for operations in flight and later ones see closed.
	lifecycle sync.RWMutex
	closed    bool // guarded by lifecycle
}

// Open opens the store in dir, creating dir and an empty store if needed.
func Open(dir string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("storage: open: empty directory name")
	}
	if err := mkdirAllDurable(opts.fs(), dir); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	pebbleDB, err := pebble.Open(dir, opts.pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	d := &DB{pebble: pebbleDB, writeOptions: pebble.Sync}
	if opts.UnsafeNoSyncForBenchmarksOnly {
		d.writeOptions = pebble.NoSync
		logger := opts.Logger
		if logger == nil {
			logger = pebble.DefaultLogger
		}
		logger.Errorf("storage: %s opened with UnsafeNoSyncForBenchmarksOnly: "+
			"Raft writes are not fsynced and can be lost, for benchmarks only", dir)
	}
	return d, nil
}

// Close waits for operations in flight and closes the store. Later
// operations, and a second Close, return ErrClosed. Users of Pebble() must
// have stopped (and closed their iterators and snapshots) before Close.
func (d *DB) Close() error {
	d.lifecycle.Lock()
	defer d.lifecycle.Unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	if err := d.pebble.Close(); err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// Pebble returns the underlying database for the state-machine layer, which
// keeps its data under StateKey/StatePrefix and MetaKey. It must not write
// log or stable keys, and must stop using the database before Close.
func (d *DB) Pebble() *pebble.DB {
	return d.pebble
}

// Group returns the LogStore and StableStore of group id. It is cheap (no
// I/O); calls with the same id return equivalent stores over the same data.
func (d *DB) Group(id GroupID) *GroupStore {
	logLower, logUpper := LogPrefix(id)
	return &GroupStore{db: d, id: id, logLower: logLower, logUpper: logUpper}
}

// DeleteGroup removes everything of group id (logs, stable state,
// state-machine data and metadata) with four range deletions in one synced
// batch, for a replica that leaves this node. The group's Raft instance and
// state machine must be stopped first.
func (d *DB) DeleteGroup(id GroupID) error {
	if err := d.acquire(); err != nil {
		return err
	}
	defer d.release()
	batch := d.pebble.NewBatch()
	defer batch.Close()
	for _, kind := range [...]byte{kindLog, kindStable, kindState, kindMeta} {
		lower, upper := prefixBounds(kind, id)
		if err := batch.DeleteRange(lower, upper, nil); err != nil {
			return fmt.Errorf("storage: group %d delete group: %w", id, err)
		}
	}
	if err := batch.Commit(d.writeOptions); err != nil {
		return fmt.Errorf("storage: group %d delete group: %w", id, err)
	}
	return nil
}

// acquire holds the store open for one operation, or returns ErrClosed.
// Every successful acquire must be followed by exactly one release.
func (d *DB) acquire() error {
	d.lifecycle.RLock()
	if d.closed {
		d.lifecycle.RUnlock()
		return ErrClosed
	}
	return nil
}

func (d *DB) release() {
	d.lifecycle.RUnlock()
}

// mkdirAllDurable creates dir and its missing parents, and syncs the
// parent of each directory it created: Pebble syncs the store's own
// directory, not the entries above it, so without this a crash right after
// a node's first start could lose the whole store, synced votes and log
// included.
func mkdirAllDurable(fs vfs.FS, dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fs.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, d := range created {
		parent := filepath.Dir(d)
		f, err := fs.OpenDir(parent)
		if err != nil {
			return err
		}
		if err := errors.Join(f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("sync directory %s: %w", parent, err)
		}
	}
	return nil
}
