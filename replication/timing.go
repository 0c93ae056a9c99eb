package replication

import (
	"time"

	"github.com/hashicorp/raft"
)

// Timing is the set of Raft and transport timeouts derived from the
// inter-site round-trip time. The formula (also in docs/REPLICATION.md):
//
//	heartbeatInterval  = max(RTT, HeartbeatIntervalMin)   etcd: heartbeat ≈ 0.5–1.5 × RTT
//	HeartbeatTimeout   = 10 × heartbeatInterval            hashicorp/raft sends heartbeats
//	                                                       every HeartbeatTimeout/10; a follower
//	                                                       that hears nothing this long campaigns
//	ElectionTimeout    = HeartbeatTimeout                  etcd: election ≥ 10 × RTT
//	LeaderLeaseTimeout = HeartbeatTimeout / 2              a leader cut off from its quorum
//	                                                       steps down (stops serving) within this
//	CommitTimeout      = heartbeatInterval                 idle commit-index propagation
//	RPCTimeout         = 2 × HeartbeatTimeout              deadline of every unary raft RPC; a
//	                                                       peer silent this long is already
//	                                                       presumed gone by raft itself
//	PeerDeadAfter      = 3 × HeartbeatTimeout              a connection silent this long is
//	                                                       replaced (black-holed link)
//
// The floor HeartbeatIntervalMin keeps loopback and same-region clusters
// from electing on every scheduling hiccup of a busy machine.
type Timing struct {
	HeartbeatInterval  time.Duration
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	RPCTimeout         time.Duration
	PeerDeadAfter      time.Duration
}

// DeriveTiming applies the formula above.
func DeriveTiming(rtt, heartbeatIntervalMin time.Duration) Timing {
	interval := max(rtt, heartbeatIntervalMin)
	hb := 10 * interval
	return Timing{
		HeartbeatInterval:  interval,
		HeartbeatTimeout:   hb,
		ElectionTimeout:    hb,
		LeaderLeaseTimeout: hb / 2,
		CommitTimeout:      interval,
		RPCTimeout:         2 * hb,
		PeerDeadAfter:      3 * hb,
	}
}

// apply sets the raft timeouts of c.
func (t Timing) apply(c *raft.Config) {
	c.HeartbeatTimeout = t.HeartbeatTimeout
	c.ElectionTimeout = t.ElectionTimeout
	c.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	c.CommitTimeout = t.CommitTimeout
}
