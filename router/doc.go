// Package router is cellpay's regional router: the stateless front door
// that clients call (gRPC Payments, HTTP/JSON through httpapi, RouterAdmin
// status and observations).
//
// For each request it computes slot -> cell from the account (the
// topology) and hands the request to router/forward, which finds the
// cell's acting leader (from the gossip pool, where each node advertises
// the cells it leads with their raft terms, corrected at once by leader
// hints in errors), forwards it over one pooled connection per node, and
// retries what is not an answer with the same idempotency key, never a
// business error. The public API refuses what only operators may do (an
// overdraft account) before any cell hears of it.
//
// The router probes every node's health every ProbeInterval, probes the
// other sites' routers from outside when given an IngressDialer, and keeps
// request outcomes per cell; Status and Observe report them, and the
// failover controller (router/control, in the node processes) reads
// Observe.
//
// The control plane is not here: router/control runs in every node
// process; the two never import each other.
//
// Callers' duties: Start with a validated topology and a unique router ID;
// give the router gossip seeds of other members (any node or router); Close
// it to leave the pool.
package router
