package fabric

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// pumpBufferBytes is the most bytes a pump moves per real Read or Write.
const pumpBufferBytes = 64 << 10

// conn is a net.Conn dialed from fromSite to an address of toSite. Two pumps
// connect it to the real conn: pumpOut writes the out direction to the real
// conn when its bytes are deliverable, pumpIn reads the real conn into the in
// direction, from which Read takes what is deliverable. Nothing else runs.
type conn struct {
	fabric           *Fabric
	real             net.Conn
	fromSite, toSite string
	out              *direction // bytes this side writes: link (fromSite, toSite)
	in               *direction // bytes the peer writes: link (toSite, fromSite)
	readDeadline     *deadline
	writeDeadline    *deadline

	closeOnce sync.Once
	closeErr  error // the real conn's, from the first close
	pumps     sync.WaitGroup
}

var _ net.Conn = (*conn)(nil)

// newConn wraps real, the dial-th conn dialed from fromSite to toSite (it
// seeds the faults of both directions, and the conn's selection draw, which
// both directions share: see fault_probability.go).
func newConn(f *Fabric, real net.Conn, fromSite, toSite string, dial uint64) *conn {
	draw := f.selectionDraw(fromSite, toSite, dial)
	return &conn{
		fabric:        f,
		real:          real,
		fromSite:      fromSite,
		toSite:        toSite,
		out:           newDirection(f, fromSite, toSite, f.faultRand(fromSite, toSite, dial, fromSite, toSite), draw),
		in:            newDirection(f, toSite, fromSite, f.faultRand(fromSite, toSite, dial, toSite, fromSite), draw),
		readDeadline:  newDeadline(),
		writeDeadline: newDeadline(),
	}
}

// start runs the pumps; abort stops them.
func (c *conn) start() {
	c.pumps.Go(c.pumpOut)
	c.pumps.Go(c.pumpIn)
}

// Read returns the bytes the peer wrote that the link (toSite, fromSite) has
// delivered by now, blocking until there are some. After them it returns the
// real conn's read error (io.EOF when the peer closed).
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.in.pop(p, c.readDeadline.channel)
	return n, c.opError("read", err)
}

// Write queues p for delivery over the link (fromSite, toSite) and returns
// once it is queued; it blocks only while HeldBytesMax bytes are queued.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.out.push(p, c.writeDeadline.channel)
	return n, c.opError("write", err)
}

// CloseWrite half-closes the conn, like (*net.TCPConn).CloseWrite: the peer
// reads the end of the stream after every byte written before, delivered
// through the link as they are (so not while it is cut), and later Writes
// fail. Reads go on. Proxies use it to pass a half-close along.
func (c *conn) CloseWrite() error {
	return c.opError("close", c.out.end(errWriteClosed))
}

// Close closes the real conn, fails blocked and later Reads and Writes, drops
// bytes still in flight and waits for the pumps to stop. Idempotent.
func (c *conn) Close() error {
	return c.abort(net.ErrClosed)
}

func (c *conn) LocalAddr() net.Addr  { return c.real.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.real.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.readDeadline.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.set(t)
	return nil
}

// abort closes the conn for reason (net.ErrClosed, ErrClosed or ErrReset),
// which blocked and later Reads and Writes return. Only the first call closes
// and returns the real conn's close error; later calls return nil.
func (c *conn) abort(reason error) error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.out.shut(reason)
		c.in.shut(reason)
		if errors.Is(reason, ErrReset) {
			if tcp, ok := c.real.(*net.TCPConn); ok {
				// Linger 0 makes close send an RST instead of a FIN.
				_ = tcp.SetLinger(0) // Best effort: a FIN still ends the peer's conn.
			}
		}
		c.closeErr = c.real.Close() // Unblocks the pumps' real Read and Write.
		c.pumps.Wait()
		c.readDeadline.stop()
		c.writeDeadline.stop()
		c.fabric.forget(c)
	})
	if !first {
		return nil
	}
	return c.closeErr
}

// pumpOut writes deliverable bytes to the real conn until the conn closes, a
// real write fails (the failure is what later Writes return), or CloseWrite's
// end of stream is delivered (then it half-closes the real conn).
func (c *conn) pumpOut() {
	buf := make([]byte, pumpBufferBytes)
	for {
		n, err := c.out.pop(buf, nil)
		if err == errWriteClosed {
			if half, ok := c.real.(interface{ CloseWrite() error }); ok {
				if err := half.CloseWrite(); err != nil {
					c.out.shut(err)
				}
			}
			return
		}
		if err != nil {
			return // Shut: the conn is closing.
		}
		if _, err := c.real.Write(buf[:n]); err != nil {
			c.out.shut(err)
			return
		}
	}
}

// pumpIn reads the real conn into the in direction until it fails (io.EOF
// included), then queues the failure behind the bytes.
func (c *conn) pumpIn() {
	buf := make([]byte, pumpBufferBytes)
	for {
		n, err := c.real.Read(buf)
		if n > 0 {
			if _, pushErr := c.in.push(buf[:n], nil); pushErr != nil {
				return // Shut: the conn is closing.
			}
		}
		if err != nil {
			_ = c.in.end(err) // Fails only when shut: the conn is closing anyway.
			return
		}
	}
}

// opError wraps the fabric's own errors like the net package wraps its errors;
// io.EOF and the real conn's errors (already wrapped) pass unchanged.
func (c *conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) ||
		err == ErrClosed || err == ErrReset || err == errWriteClosed {
		var already *net.OpError
		if errors.As(err, &already) {
			return err
		}
		return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return err
}
