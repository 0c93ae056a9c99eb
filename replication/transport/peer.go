package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// clientKeepaliveInterval is grpc-go's floor for client pings; below it the
// library silently raises the value, so we say it ourselves. Faster
// detection of a black-holed peer comes from PeerDeadAfter.
const clientKeepaliveInterval = 10 * time.Second

// peer is the one client connection from this node to another node. It is
// replaced when it looks black-holed: RPCs keep timing out and nothing has
// succeeded for PeerDeadAfter (a fiber cut sends no reset, and grpc-go's
// client keepalive cannot ping more often than every 10 s).
type peer struct {
	t    *Transport
	addr string

	// lastOKUnixNanos is read and written without the lock: success is
	// recorded on every RPC, so it must not serialize them.
	lastOKUnixNanos atomic.Int64

	mu     sync.Mutex
	conn   *grpc.ClientConn
	closed bool
}

func newPeer(t *Transport, addr string) (*peer, error) {
	p := &peer{t: t, addr: addr}
	conn, err := p.dial()
	if err != nil {
		return nil, err
	}
	p.conn = conn
	p.lastOKUnixNanos.Store(time.Now().UnixNano())
	return p, nil
}

func (p *peer) dial() (*grpc.ClientConn, error) {
	cfg := p.t.cfg
	dialer := cfg.Dialer
	if dialer == nil {
		var d net.Dialer
		dialer = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	creds := auth.Credentials(cfg.ClientTLS)
	bo := backoff.DefaultConfig
	bo.BaseDelay = 100 * time.Millisecond
	bo.MaxDelay = cfg.ReconnectBackoffMax
	conn, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithContextDialer(dialer),
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: cfg.PeerDeadAfter}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: clientKeepaliveInterval, Timeout: cfg.KeepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MessageBytesMax), grpc.MaxCallSendMsgSize(cfg.MessageBytesMax)),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: connection to %s: %w", p.addr, err)
	}
	return conn, nil
}

// client returns the current connection's stub.
func (p *peer) client() (pb.RaftTransportClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	return pb.NewRaftTransportClient(p.conn), nil
}

// observe records the outcome of one RPC. Success refreshes the peer;
// a deadline error after PeerDeadAfter without success replaces the
// connection, failing every stream on the old one.
func (p *peer) observe(err error) {
	now := time.Now()
	if err == nil {
		p.lastOKUnixNanos.Store(now.UnixNano())
		return
	}
	if !isDeadline(err) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	silence := now.Sub(time.Unix(0, p.lastOKUnixNanos.Load()))
	if p.closed || silence < p.t.cfg.PeerDeadAfter {
		return
	}
	fresh, dialErr := p.dial()
	if dialErr != nil {
		p.t.logger.Warn("cannot replace dead peer connection", "peer", p.addr, "error", dialErr)
		return
	}
	old := p.conn
	p.conn = fresh
	p.lastOKUnixNanos.Store(now.UnixNano())
	p.t.stats.connectionsReplaced.Add(1)
	p.t.logger.Warn("peer connection presumed dead, replaced", "peer", p.addr, "silence", silence)
	go func() { _ = old.Close() }() // Close may wait on a hung connection.
}

func (p *peer) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	return p.conn.Close()
}

func isDeadline(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}
