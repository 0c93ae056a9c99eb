// Package demo is the embedded demo (cellpay demo): a whole three-site
// cluster in one process, a story played on it, and what a newcomer reads.
//
// The story (Story): start an in-process cluster (chaos/cluster: hz-a and
// hz-b in region hangzhou, sh-a in shanghai, emulated RTTs, real Raft,
// Pebble, gRPC and gossip, a short failback hold-down); play one chaos
// scenario on it with chaos.Run (steady traffic from clients in both
// regions, the fault, the repair, the checkers); wait for the cells to be
// home again; make a few payouts through the simulated banks; reconcile
// every cell (control.Reconciler); then write the chaos report (text, JSON,
// HTML with the timeline chart) with the reconciliation added as one more
// check, and print a summary. The terminal shows one status line per phase
// (status.go), rewritten in place on a terminal, plain periodic lines
// otherwise.
//
// Interactive keeps a cluster up instead, prints its routers' addresses,
// the commands that reach them and the operator token it configured, and
// drives light traffic (chaos.Traffic) until its context ends.
//
// Callers' duties: Validate the Config first (it reports every violation
// at once); give fresh directories for the data and the report; cancel the
// context to stop early (Ctrl-C). Both entry points stop everything they
// started before they return, also on error or cancellation; removing the
// data directory afterwards is the caller's.
package demo
