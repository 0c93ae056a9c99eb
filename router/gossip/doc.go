// Package gossip is cellpay's membership and health gossip: every node
// process and every router process of all sites joins one
// hashicorp/memberlist pool. Each member advertises a *pb.MemberMeta (kind
// "node" or "router", site, client address and, for nodes, the cells they
// lead with the raft term of that leadership). Routers read the pool to
// learn which node leads which cell and which members are alive.
//
// An Agent is one member: Start joins the pool, Members lists what this
// member knows (itself included), Changes signals when that changes,
// UpdateMeta gossips a new meta, Close leaves.
//
// # Callers' duties
//
//  1. Give every process a unique Name (node id or router id) and seeds:
//     the gossip addresses of a few other members, ideally in several sites.
//     A member started before its seeds is fine: the rejoin loop joins them
//     when they come up.
//  2. Make Config.Meta fast and safe for concurrent use; it must not call
//     the Agent (memberlist calls it from its own goroutines). List the most
//     important leader claims first: the meta is limited to 512 bytes
//     (memberlist.MetaMaxSize) and claims are dropped from the end to fit,
//     with one warning per agent. About 40 to 80 claims fit beside a short site
//     and client address.
//  3. Call UpdateMeta whenever what Meta returns changes (a leadership won
//     or lost). It never blocks and coalesces bursts: call it freely.
//  4. On a Changes signal, read Members. Signals coalesce (capacity 1), so
//     read the whole list, not deltas; a periodic re-read costs little.
//  5. Treat what Members returns as read only (Meta is shared), and gossip
//     as a hint: two nodes may claim the same cell for a while, the higher
//     term wins; leader hints in errors correct the rest.
//  6. Close the Agent to leave gracefully; other members then see "left"
//     within a few gossip rounds instead of "dead" after the failure
//     detector's delay.
//  7. Outside --insecure, set SecretKeys (LoadKeyFile: one base64 key per
//     line, the first encrypts, all decrypt) so that only holders of the
//     key join and are heard; rotate in three pool-wide steps (add the new
//     key second, make it first, drop the old one): a member that
//     encrypts with a key another lacks is not heard by it. And set Admit
//     (AdmitTopology) so that only topology members are believed; nodes
//     must then advertise the topology's site and client address.
//  8. Believe leader claims only through LeaderClaims (a topology node,
//     for a cell it hosts), behind Admit and in any case; forget the
//     routes of members no longer alive before observing claims.
//
// # Trust
//
// With SecretKeys every message is AES-GCM encrypted and authenticated
// (memberlist's keyring, GossipVerifyIncoming and GossipVerifyOutgoing):
// without the key a process can neither join nor be heard. Admit is a
// second line: a key holder that is not a topology member (or advertises
// another site or client address than the topology's) is refused each
// time memberlist hears it is alive (AliveDelegate), and a join from a
// side without any admitted member fails (MergeDelegate); refusals are
// logged (once per member per minute) and reported to OnRefuse. A
// refused member may still reach us with messages about others (e.g. a
// suspicion) if it holds the key: the key is the boundary.
//
// # States
//
// Memberlist itself reports joins, meta updates and deaths (NotifyLeave,
// for a failure and a graceful leave alike) but no suspicion. So:
//   - "alive": joined, or updated its meta, or answered a probe since it
//     was suspect;
//   - "suspect": this member's own probe of it failed (taken from
//     memberlist's log line, see logwriter.go); best effort, since a
//     suspicion learned from other members is not reported;
//   - "dead": memberlist declared it failed;
//   - "left": it sent a leave notice (our own message, sent by Close just
//     before memberlist's leave, by gossip) and then left.
//
// Dead and left members stay listed for GossipToTheDeadTime (30 s), as
// memberlist keeps them, so they can refute a false death; then they are
// reaped.
//
// # Timing defaults
//
// Sites are a WAN of about 30 ms RTT and a dead member must be noticed in
// about 2 s, where memberlist's WAN preset takes 35-40 s:
//   - ProbeInterval 300ms: each member probes one other member per
//     interval, so with N members some member probes a given one about
//     every interval.
//   - ProbeTimeout 150ms: five times the RTT for the direct ack; the other
//     150 ms of the interval are for the indirect probes through other
//     members and the TCP fallback, so a slow link alone does not make a
//     suspicion.
//   - SuspicionMult 4: a suspect is declared dead after 4 * max(1,
//     log10(N)) * ProbeInterval = 1.2 s (N <= 10), 1.4 s (N = 15), once
//     other members confirm (else up to 6 times that), leaving time for a
//     live member to refute.
//   - So detection takes about one probe interval to the first failed
//     probe, one to fail it, and the suspicion: 0.3 + 0.3 + 1.2 = 1.8 s;
//     measured on loopback with three members, a killed member is suspect
//     after 0.5 s and dead after 1.7 s.
//   - GossipInterval 100ms: meta updates, suspicions and deaths reach 3
//     members per round; a pool of tens of members hears of them in a few
//     rounds (about 100 ms measured for three members).
//   - PushPullInterval 10s: a full state sync with one random member
//     repairs what gossip missed; each sync is at most about 600 bytes per
//     member, so 30 members cost about 18 KB per member every 10 s.
//   - TCPTimeout 2s: bounds connects and each read and write of joins and
//     syncs; ample for 30 ms RTT, short for a black-holed seed.
//   - RejoinInterval 1s: seeds that are not known alive members are joined
//     again this often (one connect attempt each); it also re-merges two
//     halves of the pool that reaped each other after a long partition.
//   - LeaveTimeout 1s, UpdateTimeout 1s: bounds on Close's and on one
//     update's wait for the broadcast (normally a few gossip rounds).
//
// Steady-state cost per member: about 3 probes a second (a ~100-byte ping
// and ack each) and gossip packets only when there is something to gossip.
//
// # Goroutines
//
// Besides memberlist's own, an Agent runs the update coalescer and the
// maintenance loop (reaping and rejoining). Close stops both, then leaves
// and shuts memberlist down; it returns after at most about UpdateTimeout
// or TCPTimeout (whichever is in progress) plus LeaveTimeout.
package gossip
