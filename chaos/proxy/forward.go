package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// copyBufferBytes is the buffer of each direction of a forwarded conn.
const copyBufferBytes = 32 << 10

// forward dials the route's target through the fabric and copies both ways
// until both directions have ended. A half-close passes along (CloseWrite),
// after every byte before it; a reset from either end passes along as a
// reset. While the link is cut the dial hangs, as into a black hole: the
// client's conn is accepted (the proxy's kernel answered) but nothing moves.
func (p *Proxy) forward(r *route, client net.Conn) {
	r.live.Add(1)
	r.total.Add(1)
	defer r.live.Add(-1)
	defer p.untrack(client)
	defer client.Close()

	upstream, err := r.dial(p.ctx, r.TargetAddr)
	if err != nil {
		// The target refused, or the proxy is closing: a refused connect
		// looks like a reset to the client.
		resetClose(client)
		return
	}
	if !p.track(upstream) {
		return
	}
	defer p.untrack(upstream)
	defer upstream.Close()

	var wg sync.WaitGroup
	wg.Go(func() { pipe(upstream, client) })
	wg.Go(func() { pipe(client, upstream) })
	wg.Wait()
}

// pipe copies src to dst. At src's end of stream it half-closes dst; on any
// failure it closes both, as a reset when src was reset, which ends the other
// direction's copy too.
func pipe(dst, src net.Conn) {
	buf := make([]byte, copyBufferBytes)
	_, err := io.CopyBuffer(writerOnly{dst}, readerOnly{src}, buf)
	if err == nil {
		if half, ok := dst.(interface{ CloseWrite() error }); ok && half.CloseWrite() == nil {
			return
		}
	}
	if errors.Is(err, syscall.ECONNRESET) {
		resetClose(dst)
	}
	_ = dst.Close() // Ends the other copy: its Write or Read fails.
	_ = src.Close()
}

// resetClose closes c with an RST instead of a FIN, when c is TCP.
func resetClose(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // Best effort: a FIN still ends the peer's conn.
	}
	_ = c.Close()
}

// readerOnly and writerOnly hide ReadFrom and WriteTo, so io.CopyBuffer uses
// its buffer and the two conns' own Read and Write, fault injection included.
type readerOnly struct{ io.Reader }

type writerOnly struct{ io.Writer }
