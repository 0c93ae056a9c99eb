// Package transport is the multiplexed gRPC Raft transport of a cellpay
// node: one gRPC server per node and one client connection per peer node,
// shared by every Raft group (cell replica) on the node.
//
// Every RPC carries its group id; the server looks the group up and hands
// the request to that group's hashicorp/raft instance through the group's
// consumer channel. Heartbeats take raft's fast path (SetHeartbeatHandler)
// and travel as unary RPCs, so they never wait behind pipelined
// AppendEntries on a stream or behind log processing on the receiver.
// AppendEntries is pipelined over one bidirectional stream per (group,
// follower); InstallSnapshot streams the snapshot in chunks.
//
// Every wait is bounded: unary RPCs by Config.RPCTimeout, a pipeline by the
// age of its oldest unanswered request, a snapshot by a deadline that grows
// with its size. A peer that keeps timing out with no success for
// Config.PeerDeadAfter is presumed black-holed (a fiber cut sends no reset)
// and its connection is replaced, which breaks every stream on it; raft then
// re-establishes them, so no group is left silently stuck.
//
// Callers' duties:
//   - create one Transport per node with New, giving it a Listener (and
//     optionally a Dialer, both of which chaos tests wrap) and TLS configs;
//   - call Group(id) once per Raft group before starting that group's raft,
//     and pass the returned GroupTransport to raft.NewRaft; raft closes it
//     at shutdown (raft.WithClose), which unregisters the group;
//   - call Close on the Transport after every group has shut down.
package transport
