// Package fabric emulates a wide-area network between datacenter sites in user
// space, for tests, chaos runs and benchmarks whose nodes all listen on the
// loopback network (the machines have no tc netem). It is a leaf package: the
// standard library only, no project imports.
//
// Every listening address belongs to a site (Register). A node of site A dials
// through Dialer(A); the returned net.Conn wraps the real TCP conn and applies
// the link (A, B) to the bytes it writes and the link (B, A) to the bytes it
// reads, where B is the site of the dialed address. A Link adds a one-way delay
// and seeded jitter (byte order is always preserved), or cuts the direction.
//
// A cut is a black hole, like a fiber cut, not a reset: nothing is delivered and
// nothing fails. Written bytes are held, as TCP would keep retransmitting them,
// up to HeldBytesMax per direction (then Write blocks), and are delivered in
// order after Heal. The peer's reads hang until its own deadlines or keepalives
// give up. A dial over a path cut in either direction hangs, like a SYN or its
// answer lost in a black hole, until its context is done or the path heals.
// Reset is the abrupt alternative: it aborts live conns at once, like a TCP RST.
//
// Only the dialing side is wrapped; listeners and accepted conns stay real. So a
// conn's faults are those between the dialer's site and the listener's site,
// and the delays of both directions are applied in the dialing process.
//
// Callers' duties:
//
//  1. Register every listening address, as the exact host:port string that
//     will be dialed, before anyone dials it; a dial to an unregistered address
//     fails with ErrNotRegistered.
//  2. Give each node Dialer(its site) for all inter-site traffic, e.g.
//     grpc.WithContextDialer(f.Dialer(site)); the fabric cannot see conns it did
//     not dial.
//  3. Change links at any time. A new delay affects bytes written afterwards; a
//     cut also stops the delivery of bytes already queued, at once.
//  4. Close every conn (Close discards bytes still in flight, both directions)
//     and finally the Fabric: it closes every live conn, stops every goroutine
//     and makes later dials fail with ErrClosed.
//
// Costs: two goroutines per live conn (one per direction), one allocation per
// written or received chunk; no goroutine for links, dials or deadlines.
package fabric
