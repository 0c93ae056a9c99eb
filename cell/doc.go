// Package cell is the payment ledger of a cell and the node that hosts
// cells.
//
// Ledger is the deterministic state machine applied to a cell's Raft log
// (through replication.Host): accounts, deposits and transfers, each
// mutating command under an idempotency key whose first result is stored
// and replayed. Money is int64 minor units with an ISO 4217 currency; every
// transfer writes both legs in one batch with the applied index, so money is
// conserved by construction. Service is the node's gRPC Cell service;
// StartNode wires a topology, a replication.Host and the service into a
// running node.
//
// Callers' duties:
//   - propose commands only through Service (or a Command stamped the same
//     way: the leader's timestamp and idempotency retention go into the
//     command, never read during apply);
//   - send mutations and current reads to the cell's leader; on
//     UNAVAILABLE with reason NOT_LEADER follow the hint (LeaderHint); on
//     OUTCOME_UNKNOWN retry with the same idempotency key, never with a new
//     one;
//   - close a Node with Close, which drains the service and then stops the
//     replicas.
package cell
