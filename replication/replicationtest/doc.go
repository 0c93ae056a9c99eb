// Package replicationtest is the in-memory twin of a replication group, for
// tests: a StateMachine applied to the same Pebble-backed storage a node
// uses (replication/storage, replication.Applier: the same batches, applied
// index, skipping and snapshot format), on pebble's in-memory filesystem,
// with no Raft and no network. It also holds Eventually, the one helper
// tests use to wait on a condition.
//
// # Responsibility
//
// A Twin plays the part Raft plays for a Group on a lone leader: it assigns
// each command the next log index and the current term, stores it in the
// group's log store (synced, as Raft does before applying), and applies it.
// Reads go through the replication.Reader that production reads use.
// Snapshot and Restore use the group snapshot format. A Twin made with
// WithCrashableFS can Crash: the store is reopened from what was synced
// (pebble vfs.NewCrashableMem and CrashClone), and the log is replayed
// into the state machine as Raft replays it after a restart, so a test
// sees exactly what a node would see after a power loss.
//
// What a Twin does not model: elections, replication to followers,
// proposals that fail or time out, leadership loss. Tests of those start a
// real Host.
//
// # Callers' duties
//
//  1. Use it from tests only. Production code never imports this package
//     (a node runs groups through replication.Host).
//  2. Give New the state machine the real group runs (cell.Ledger,
//     meta.FSM), unchanged: the twin proves nothing about a stand-in.
//  3. Re-read Twin.Reader after Crash or Reopen: a Reader is bound to the
//     store it came from, which Crash and Reopen replace.
//  4. Call Crash only on a Twin made WithCrashableFS; Crash and Reopen
//     must not run concurrently with Apply (Apply itself is safe to call
//     from several goroutines, like Group.Apply).
//  5. Wait with Eventually and a bound, never with a bare sleep: a
//     failure then names what did not happen.
package replicationtest
