package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/cellpay/cellpay/api/auth"
)

// Pool holds one gRPC connection per node (Cell service), shared by
// every request to that node.
type Pool struct {
	dialer func(ctx context.Context, addr string) (net.Conn, error)
	tls    *tls.Config

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewPool dials through dialer (nil: plain TCP), with tlsCfg (nil: no TLS).
func NewPool(dialer func(ctx context.Context, addr string) (net.Conn, error), tlsCfg *tls.Config) *Pool {
	return &Pool{dialer: dialer, tls: tlsCfg, conns: make(map[string]*grpc.ClientConn)}
}

var errPoolClosed = errors.New("router: connection pool closed")

func (p *Pool) Get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	creds := auth.Credentials(p.tls)
	bo := backoff.DefaultConfig
	bo.BaseDelay, bo.MaxDelay = 50*time.Millisecond, time.Second
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: 2 * time.Second}),
	}
	if p.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(p.dialer))
	}
	c, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for _, c := range p.conns {
		errs = append(errs, c.Close())
	}
	p.conns = nil
	return errors.Join(errs...)
}
