// Package control is the control plane that runs in every node process,
// beside the cell node: the Control gRPC service (observations, leader
// moves, drills, the meta group's status, overdraft accounts), the
// controller loop that runs on the meta group's leader (failover, failback
// and drills, decided by router/failover and recorded in router/meta), the
// observers that ask every router and node what it sees, automatic and
// on-demand reconciliation (Reconciler), the Courier the outbox relay
// delivers cross-cell credits with, the node's gossip membership
// (NodeAgent), and the node assembly: StartNode starts courier, cell node,
// control plane and gossip in order and Node.Close stops them in reverse.
//
// Ownership:
//   - Control owns the configuration, the connection pool, the metrics, the
//     node's host, its prober and its meta replica, and the goroutines it
//     starts (Close waits for them). It hands the controller and the
//     automatic reconciler, at construction, the narrow parts they need
//     (controllerdeps.go: controllerDeps, autoReconcilerDeps): config
//     values, the logger and metrics, the meta replica (metaReplica), a
//     proposer (metaProposer: meta writes stamped with the clock), a mover
//     (nodeMover: MoveLeader through the nodes' Control services), the
//     observer cache, and the reconciler's kick. They reach nothing else of
//     Control.
//   - The controller owns the failover state, the site records' versions,
//     the drill in progress, the first-write watches (failover.RTOTracker)
//     and the term's moves (moveBook: a failover.MoveTracker under a lock,
//     since the move goroutines report to it). All of it is touched only
//     from its own goroutine, except the move book; drills reach it
//     through a channel (Control.drillCall).
//   - The decisions are router/failover's: Decide (site states, moves),
//     PlanDrill and AbortDrillState (drills), RTOTracker (recovery times),
//     MoveTracker (moves under way and their retry holds). This package
//     does the I/O around them: observations in, meta records and moves
//     out.
//   - The automatic reconciler owns its Reconciler (connections, the index
//     each cell was last checked at).
//
// It imports router/forward, router/failover, router/meta, router/gossip
// and cell; it never imports the front door (package router), and the
// front door never imports it.
//
// Callers' duties: validate ControlConfig (NewControl does) and give it the
// topology every node shares; start the node through StartNode, or call
// Start once the cell node serves; Close (Node.Close) on shutdown. Every
// mutating call is authenticated by an operator token (Operators); without
// operators, drills and overdraft accounts are refused.
package control
