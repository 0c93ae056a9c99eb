// Package replication is everything Raft, and nothing of money: a node's
// multi-raft Host runs one hashicorp/raft group per cell replica (and the
// meta group), over one Pebble store (the log, the stable store and every
// group's state, under per-group prefixes: storage) and one multiplexed
// gRPC transport (transport). Timing derives the WAN-tuned timeouts from a
// cell's RTT; Group offers proposals (Apply), linearizable reads (a
// batched Raft barrier), leadership transfer, membership changes,
// snapshots and checkpoints (a digest of the state at an index, compared
// across replicas).
//
// A StateMachine (statemachine.go) applies committed entries
// deterministically through a Tx confined to its group's keys; its writes
// commit atomically with the applied index, so a restart skips what was
// applied and snapshots need no help from it. replicationtest is its
// in-memory twin for tests (no Raft, no TCP).
//
// Callers' duties: one Host per node and data directory; start each group
// with the same peers on every replica; propose only on the leader
// (Apply answers *NotLeaderError with the leader's hint otherwise) and
// treat ErrOutcomeUnknown as "may have committed"; read with
// LinearizableRead first when the answer must be current; Close the Host
// last. Dialers and listeners come from the caller, so tests and chaos can
// put the transport on their fabric.
package replication
