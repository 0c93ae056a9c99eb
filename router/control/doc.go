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
// Ownership: Control owns the configuration, connections, metrics and the
// meta group it proposes to; the controller owns the failover state, the
// drill in progress and the moves under way, and is only touched from its
// own goroutine (drills reach it through a channel).
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
