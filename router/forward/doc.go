// Package forward is the cell-cluster client shared by the router's front
// door, the node's courier (cross-cell credits), the reconciler and the
// control plane's cell calls: slot -> cell -> leader.
//
//   - Routes: where each cell's leader is believed to be, fed by gossip
//     (Observe, newer terms win, any term once a route was forgotten) and
//     by NOT_LEADER hints (Hint; Contradicted when the node a route points
//     at names another leader: it wins whatever the terms).
//   - Pool: one gRPC connection per node, shared by every request to it.
//   - Prober: health checks of every node, for reachability and RTT, and
//     BackboneView for the failover controller's observations.
//   - Forwarder: sends one request to its cell's leader and retries it
//     unchanged (same idempotency key) on anything that is not an answer,
//     following hints at once and backing off otherwise, within
//     Config.RequestTimeout. Once a mutation's attempt may have executed,
//     the only answers are its definite result or UNAVAILABLE /
//     OUTCOME_UNKNOWN carrying its key (finality.go, a pure fold).
//
// Callers' duties: give mutations their idempotency key (DoMutation);
// never retry an OUTCOME_UNKNOWN blindly (ask for the outcome, or retry
// with the same key); set Unreachable and Metrics before the first
// request; Close the Pool when done. Nothing here knows the front door or
// the control plane.
package forward
