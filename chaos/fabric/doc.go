// Package fabric emulates a wide-area network between datacenter sites in user
// space, for tests, chaos runs and benchmarks whose nodes all listen on the
// loopback network (the machines have no tc netem). It is a leaf package: the
// standard library only, no project imports. Package chaos/proxy runs the same
// model as a TCP proxy between separate processes.
//
// Every listening address belongs to a site (Register). A node of site A dials
// through Dialer(A); the returned net.Conn wraps the real TCP conn and applies
// the link (A, B) to the bytes it writes and the link (B, A) to the bytes it
// reads, where B is the site of the dialed address.
//
// # Faults
//
// A Link is the faults of one direction, one field each, and they combine.
// Each is a small type in its own file (fault_*.go) behind one interface that
// says when a chunk (one write, or one read of the real conn) is deliverable
// and whether the direction holds everything now. Byte order is always
// preserved: a late chunk delays every chunk behind it.
//
//   - Delay and Jitter: a one-way latency plus a uniform [0, Jitter) draw.
//   - Loss: the probability that a chunk is lost. TCP does not lose bytes, it
//     retransmits, so a lost chunk (and all behind it) arrives LossStall
//     (200 ms, TCP's minimum RTO) late.
//   - BandwidthBytesPerSecond: paces each conn in the direction; writes are cut
//     into chunks of about 10 ms of sending so they trickle in.
//   - Cut: a black hole (below).
//   - Probability: not a fault but a gate in front of the others, like
//     toxiproxy's toxicity: the share of conns the link's faults apply to.
//     0 (the zero value) and 1 both mean every conn. Otherwise each conn
//     draws one number in [0, 1) when it is dialed, from its own seeded
//     stream, and the link's faults apply to it, in each direction, while the
//     draw is below that direction's Probability. The draw is per conn, not
//     per direction (same Probability both ways: a conn is selected both ways
//     or neither) and link changes never re-draw: the same conns stay
//     selected across Cut, Heal and SetLink, raising Probability only adds
//     conns, conns dialed before the link was set count like the others.
//     The dial itself does not draw: it hangs over a cut path and pays both
//     delays (below) whatever the Probability, so to cut a share of conns,
//     cut them once they are up. A PacketConn draws per datagram instead.
//
// Jitter and loss draw from a generator per direction of each conn, seeded by
// New's seed, the two sites and the conn's dial number between them: the same
// seed and the same chunks give the same pattern, whatever the other direction
// or other conns do. The selection draw of Probability has a stream of its
// own, seeded the same way, so the same seed and the same order of dials
// select the same conns, and setting a Probability does not change the
// jitter and loss a conn sees. (Chunks read from the real conn are as big as
// the kernel hands them over, so only the dialing side's writes are fully
// reproducible.)
// A Link's JSON form names every field and writes durations as "30ms" strings;
// Link.Validate reports out-of-range fields, SetLink clamps them.
//
// A cut is a black hole, like a fiber cut, not a reset: nothing is delivered and
// nothing fails. Written bytes are held, as TCP would keep retransmitting them,
// up to HeldBytesMax per direction (then Write blocks), and are delivered in
// order after Heal. The peer's reads hang until its own deadlines or keepalives
// give up. A dial over a path cut in either direction hangs, like a SYN or its
// answer lost in a black hole, until its context is done or the path heals.
// Loss and bandwidth do not slow the handshake; delays do (one round trip).
// Reset is the abrupt alternative: it aborts live conns at once, like a TCP RST.
// Reset is not a link field, so Probability spares no conn from it.
//
// # Datagrams
//
// PacketConn wraps a process's UDP socket (memberlist's gossip probes) so the
// link from its site to each destination's site applies to every datagram it
// sends: delayed (jitter may reorder), lost for good, or dropped silently
// while cut. With a Probability strictly between 0 and 1, each datagram draws
// whether the link applies to it. Registered addresses serve both: a
// datagram's destination site is the site its host:port was registered to.
//
// # Partitions and ingress
//
// Cut, Heal, Isolate, Split (two groups of sites) and Bridge (a and c cut,
// both still reach a third site) shape partitions; HealAll undoes every cut.
// Clients are just another site: a client pseudo-site is named with
// ClientSitePrefix (e.g. "clients-hangzhou") and dials through its own Dialer,
// so ingress faults are links from that pseudo-site to a site. CutIngress(site)
// cuts every client pseudo-site from site, both directions (Raft links stay
// up: the site is healthy but unreachable by clients); HealIngress undoes it.
// Client pseudo-sites never Register, so Isolate does not cut them.
//
// Only the dialing side is wrapped; listeners and accepted conns stay real. So a
// conn's faults are those between the dialer's site and the listener's site,
// and the faults of both directions are applied in the dialing process.
//
// Callers' duties:
//
//  1. Register every listening address, as the exact host:port string that
//     will be dialed, before anyone dials it; a dial to an unregistered address
//     fails with ErrNotRegistered.
//  2. Give each node Dialer(its site) for all inter-site traffic, e.g.
//     grpc.WithContextDialer(f.Dialer(site)); the fabric cannot see conns it did
//     not dial.
//  3. Change links at any time. New faults affect bytes written afterwards; a
//     cut also stops the delivery of bytes already queued, at once.
//  4. Close every conn (Close discards bytes still in flight, both directions;
//     a conn's CloseWrite, found by interface assertion as on a *net.TCPConn,
//     half-closes after them instead) and finally the Fabric: it closes every
//     live conn, stops every goroutine and makes later dials fail with
//     ErrClosed.
//
// Costs: two goroutines per live conn (one per direction), one allocation per
// written or received chunk; no goroutine for links, dials or deadlines.
package fabric
