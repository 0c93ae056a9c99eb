// Package storage keeps the Raft logs and stable state of every Raft group
// on a node in the node's single Pebble database, which the groups' state
// machines share.
//
// # Responsibility
//
// A node hosts replicas of many cells; each cell is one Raft group whose
// group id is the cell id. Open opens the node's database once; DB.Group
// returns, per group, a GroupStore that implements hashicorp/raft's
// LogStore, StableStore and MonotonicLogStore over it. Every write that Raft
// relies on for safety (StoreLogs, DeleteRange, Set, SetUint64) is one Pebble
// batch committed with fsync before the call returns. Many groups may be used
// from many goroutines at once; the only shared synchronisation is a
// read-locked guard that lets Close wait for operations in flight.
//
// # Key layout
//
// Every key starts with one kind byte and the 8-byte big-endian group id, so
// the keys of one kind and group are contiguous and sort numerically:
//
//	0x01 | group | index (8 bytes, big-endian)   Raft log entry      LogKey
//	0x02 | group | raw key                        Raft stable state   StableKey
//	0x03 | group | raw key                        state-machine data  StateKey
//	0x04 | group | name                           group metadata      MetaKey
//
// LogPrefix and StatePrefix give exact iterator bounds for one group. Log
// values use this package's own versioned binary encoding of raft.Log (see
// codec.go); decoding never panics and reports damage as ErrCorrupt, naming
// the group and index.
//
// FirstIndex and LastIndex position an iterator bounded to exactly the
// group's log keys with First and Last. Without the bounds, a stable key that
// sorts before the log keys (a known bug in public Pebble raft stores) or
// another group's keys would be read as log entries.
//
// # Missing keys
//
// GetLog returns raft.ErrLogNotFound. Get returns (nil, ErrKeyNotFound),
// whose text is exactly "not found", and GetUint64 returns (0, nil): both as
// raft.InmemStore does, because raft recognises a missing CurrentTerm or vote
// either by a nil error or by err.Error() == "not found". Every other error
// starts with "storage: ".
//
// # Callers' duties
//
//  1. Open the database once per node and share the *DB; open it with
//     DefaultOptions unless measured otherwise. UnsafeNoSyncForBenchmarksOnly
//     is for benchmarks only: it gives up Raft's safety on power loss.
//  2. Give each group's Raft instance DB.Group(id) as both its LogStore and
//     StableStore. Group ids must be unique on the node.
//  3. The state-machine layer writes only under StateKey and MetaKey of its
//     own group, through DB.Pebble(); it never writes log or stable keys. It
//     stores its applied index under MetaKey in the same batch as the data it
//     applies (see DESIGN.md).
//  4. To remove a replica from the node, stop its Raft instance and state
//     machine, then call DB.DeleteGroup.
//  5. Stop every Raft instance and every user of DB.Pebble() (closing their
//     iterators and snapshots) before DB.Close. After Close, this package's
//     operations return ErrClosed; the *pebble.DB must no longer be used.
package storage
