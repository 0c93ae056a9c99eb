package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport limits, with why.
const (
	// packetBytesMax is the largest datagram read: memberlist keeps its
	// packets under a UDP MTU, 64 KiB covers any datagram at all.
	packetBytesMax = 65536
	// packetsQueuedMax and streamsQueuedMax bound what waits for memberlist
	// to take it; memberlist drains both at once, so a full queue means it
	// is shutting down, and dropping is what UDP and a full backlog do.
	packetsQueuedMax = 1024
	streamsQueuedMax = 64
	// bindAttemptsMax: with port 0 the UDP port is the one the kernel gave
	// the TCP listener, which another socket may hold; try a few ports.
	bindAttemptsMax = 10
	// udpReceiveBufferBytes is the socket buffer memberlist's own transport
	// asks for, so bursts of gossip are not dropped by the kernel.
	udpReceiveBufferBytes = 2 << 20
)

// transport is a memberlist.Transport over sockets the caller can shape:
// streams (state syncs, joins, TCP fallback probes) go through Config.Dialer,
// datagrams (probes, gossip) through the UDP socket Config.WrapPacketConn
// returns. It is used only when one of the two is set; otherwise memberlist
// runs its own NetTransport.
type transport struct {
	logger *slog.Logger
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	tcp    *net.TCPListener
	udp    net.PacketConn
	addr   *net.TCPAddr

	packets  chan *memberlist.Packet
	streams  chan net.Conn
	shutdown atomic.Bool
	wg       sync.WaitGroup
}

var _ memberlist.Transport = (*transport)(nil)

// newTransport binds TCP and UDP on the same ip:port (bindAddr was
// validated) and starts reading both.
func newTransport(cfg Config, logger *slog.Logger) (*transport, error) {
	host, portText, _ := net.SplitHostPort(cfg.BindAddr)
	port, _ := strconv.Atoi(portText)
	ip := net.ParseIP(host)
	attempts := 1
	if port == 0 {
		attempts = bindAttemptsMax
	}
	var errs []error
	for range attempts {
		tcp, udp, err := bindPair(ip, port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t := &transport{
			logger:  logger,
			dial:    cfg.Dialer,
			tcp:     tcp,
			udp:     udp,
			addr:    tcp.Addr().(*net.TCPAddr),
			packets: make(chan *memberlist.Packet, packetsQueuedMax),
			streams: make(chan net.Conn, streamsQueuedMax),
		}
		if t.dial == nil {
			t.dial = func(ctx context.Context, addr string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			}
		}
		if cfg.WrapPacketConn != nil {
			t.udp = cfg.WrapPacketConn(udp)
		}
		t.wg.Add(2)
		go t.acceptStreams()
		go t.readPackets()
		return t, nil
	}
	return nil, fmt.Errorf("gossip: bind %s: %w", cfg.BindAddr, errors.Join(errs...))
}

// bindPair listens on TCP ip:port, then UDP on the port TCP got.
func bindPair(ip net.IP, port int) (*net.TCPListener, *net.UDPConn, error) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, nil, err
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: tcp.Addr().(*net.TCPAddr).Port})
	if err != nil {
		_ = tcp.Close()
		return nil, nil, err
	}
	_ = udp.SetReadBuffer(udpReceiveBufferBytes) // A smaller buffer still works, it drops more in bursts.
	return tcp, udp, nil
}

// FinalAdvertiseAddr advertises the bound address unless the configuration
// names one.
func (t *transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	advertiseIP := t.addr.IP
	if ip != "" {
		if advertiseIP = net.ParseIP(ip); advertiseIP == nil {
			return nil, 0, fmt.Errorf("gossip: advertise address %q is not an IP", ip)
		}
	}
	if port == 0 {
		port = t.addr.Port
	}
	return advertiseIP, port, nil
}

func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.udp.WriteTo(b, udpAddr)
	return time.Now(), err
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.dial(ctx, addr)
}

func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes both sockets and waits for the readers to stop.
func (t *transport) Shutdown() error {
	t.shutdown.Store(true)
	errs := errors.Join(t.tcp.Close(), t.udp.Close())
	t.wg.Wait()
	return errs
}

func (t *transport) readPackets() {
	defer t.wg.Done()
	for {
		buf := make([]byte, packetBytesMax)
		n, from, err := t.udp.ReadFrom(buf)
		received := time.Now()
		if err != nil {
			if t.shutdown.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Warn("gossip: read packet", "err", err)
			continue
		}
		if n == 0 {
			continue // memberlist needs at least the message type byte.
		}
		select {
		case t.packets <- &memberlist.Packet{Buf: buf[:n], From: from, Timestamp: received}:
		default:
			t.logger.Debug("gossip: packet queue full, packet dropped", "from", from)
		}
	}
}

func (t *transport) acceptStreams() {
	defer t.wg.Done()
	for {
		conn, err := t.tcp.Accept()
		if err != nil {
			if t.shutdown.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			t.logger.Warn("gossip: accept stream", "err", err)
			time.Sleep(10 * time.Millisecond) // Out of file descriptors, say: do not spin.
			continue
		}
		select {
		case t.streams <- conn:
		default:
			_ = conn.Close() // A full backlog refuses, as the kernel's would.
		}
	}
}
