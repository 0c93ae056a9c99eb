// Package router is cellpay's regional router: the stateless front door
// that clients call (gRPC Payments, HTTP/JSON, RouterAdmin status).
//
// For each request it computes slot -> cell from the account (the
// topology), finds the cell's acting leader (from the gossip pool, where
// each node advertises the cells it leads with their raft terms, corrected
// at once by leader hints in errors) and forwards the request to that
// node's Cell service over one pooled gRPC connection per node. When the
// answer is not an answer (UNAVAILABLE: not leader, outcome unknown, a
// broken connection; or an attempt timeout) it sends the same request,
// with the same idempotency key, again: at once to a hinted leader,
// otherwise after a jittered backoff, until the request's deadline. It
// never retries a business error. Each cell has its own bound on requests
// in flight, so a cell without a leader cannot hold up the others.
//
// The router also probes every node's health every ProbeInterval
// (reachability and round-trip time per site) and keeps request outcomes
// per cell; both appear in Status and will feed the failover controller.
//
// JoinNode is the node side of the gossip pool; cmd/cellpay starts it next
// to each node.
//
// Callers' duties: Start with a validated topology and a unique router ID;
// give the router gossip seeds of other members (any node or router); Close
// it to leave the pool.
package router
