package meta

import (
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
)

// Voters returns the meta group's voters: the first node (by id) of every
// site that has nodes, in site order. Every process derives the same list
// from the same topology.
func Voters(topo *topology.Topology) []topology.Node {
	var out []topology.Node
	for _, s := range topo.Sites() {
		if ns := topo.NodesOfSite(s.ID); len(ns) > 0 {
			out = append(out, ns[0])
		}
	}
	return out
}

// IsVoter reports whether nodeID holds a meta replica.
func IsVoter(topo *topology.Topology, nodeID string) bool {
	for _, n := range Voters(topo) {
		if n.ID == nodeID {
			return true
		}
	}
	return false
}

// Peers are the voters as replication peers.
func Peers(topo *topology.Topology) []replication.Peer {
	var out []replication.Peer
	for _, n := range Voters(topo) {
		out = append(out, replication.Peer{NodeID: n.ID, Addr: n.RaftAddr})
	}
	return out
}
