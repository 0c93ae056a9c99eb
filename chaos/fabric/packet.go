package fabric

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// PacketsDelayedMax bounds the datagrams one PacketConn holds for their delay,
// like a router's queue: a datagram sent when it is full is dropped.
const PacketsDelayedMax = 4096

// PacketConn wraps pc, a datagram (UDP) socket of a process in site fromSite,
// so that the link from fromSite to the site of each destination applies to
// the datagrams it sends. Datagrams are not streams, so the faults mean what
// they mean to UDP on a real WAN:
//
//   - Delay and Jitter: each datagram is sent after its own delay; jitter may
//     reorder datagrams, as a real network may.
//   - Loss: a lost datagram is gone (nobody retransmits it).
//   - Cut: a black hole; the datagram is gone and WriteTo still succeeds.
//   - BandwidthBytesPerSecond and Reset do not apply: there is no connection
//     to pace or abort (our datagrams are gossip probes, a few hundred bytes).
//   - Probability: there is no conn to draw once for, so each datagram draws
//     from the seeded generator of its destination site whether the link's
//     faults apply to it at all (0 and 1: every datagram, without a draw).
//
// Only sending is shaped: every process wraps its own socket, so the link
// (B, A) applies to B's answers to A in B's PacketConn. Reads, deadlines and
// addresses are pc's. WriteTo to an address no site registered fails with
// ErrNotRegistered; after the Fabric or the PacketConn closes, datagrams still
// waiting for their delay are dropped, and later WriteTos fail with ErrClosed.
func (f *Fabric) PacketConn(fromSite string, pc net.PacketConn) net.PacketConn {
	f.noteDialerSite(fromSite)
	return &packetConn{PacketConn: pc, f: f, fromSite: fromSite, rngs: make(map[string]*rand.Rand), timers: make(map[*time.Timer]struct{})}
}

type packetConn struct {
	net.PacketConn
	f        *Fabric
	fromSite string

	mu     sync.Mutex
	rngs   map[string]*rand.Rand // per destination site, seeded like a conn's
	timers map[*time.Timer]struct{}
	closed bool
}

func (p *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	toSite, err := p.f.siteOf(addr.String())
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: addr.Network(), Addr: addr, Err: err}
	}
	link, _, _ := p.f.linkState(p.fromSite, toSite)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, &net.OpError{Op: "write", Net: addr.Network(), Addr: addr, Err: ErrClosed}
	}
	if selects(link.Probability) && !applies(link.Probability, p.rngLocked(toSite).Float64()) {
		return p.PacketConn.WriteTo(b, addr) // This datagram is spared the link's faults.
	}
	if link.Cut {
		return len(b), nil
	}
	rng := p.rngLocked(toSite)
	if link.Loss > 0 && rng.Float64() < link.Loss {
		return len(b), nil
	}
	delay := link.Delay
	if link.Jitter > 0 {
		delay += time.Duration(rng.Int64N(int64(link.Jitter)))
	}
	if delay <= 0 {
		return p.PacketConn.WriteTo(b, addr)
	}
	if len(p.timers) >= PacketsDelayedMax {
		return len(b), nil // The queue is full: dropped, as a router would.
	}
	datagram := append([]byte(nil), b...)
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		p.mu.Lock()
		_, pending := p.timers[t]
		delete(p.timers, t)
		p.mu.Unlock()
		if pending && !isClosed(p.f.done) {
			_, _ = p.PacketConn.WriteTo(datagram, addr) // A failed send is a lost datagram.
		}
	})
	p.timers[t] = struct{}{}
	return len(b), nil
}

// rngLocked returns the generator of datagrams to toSite: the fabric's seed,
// the two sites and how many PacketConns of fromSite sent there before.
func (p *packetConn) rngLocked(toSite string) *rand.Rand {
	rng, ok := p.rngs[toSite]
	if !ok {
		rng = p.f.faultRand(p.fromSite, toSite, p.f.nextDial(p.fromSite, toSite+"/udp"), p.fromSite, toSite+"/udp")
		p.rngs[toSite] = rng
	}
	return rng
}

// Close drops the datagrams still waiting for their delay and closes pc.
func (p *packetConn) Close() error {
	p.mu.Lock()
	p.closed = true
	for t := range p.timers {
		t.Stop()
	}
	clear(p.timers)
	p.mu.Unlock()
	return p.PacketConn.Close()
}
