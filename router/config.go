package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/forward"
)

// Config configures a regional router. DefaultConfig fills the tunables;
// Validate reports every violation at once.
type Config struct {
	// Topology is the cluster's topology. Required.
	Topology *topology.Topology
	// ID names this router (unique among gossip members); Site is where it
	// runs. Both required; Site must be in the topology.
	ID, Site string
	// Listener serves the gRPC Payments, RouterAdmin and health services.
	// Required. HTTPListener, if set, serves the HTTP/JSON API.
	Listener, HTTPListener net.Listener
	// GossipAddr is the memberlist bind address; GossipSeeds the members to
	// join. GossipAddr required.
	GossipAddr  string
	GossipSeeds []string
	// GossipDialer and GossipPacketConn, if set, carry gossip's streams and
	// datagrams (gossip.Config.Dialer and WrapPacketConn); default plain.
	GossipDialer     func(ctx context.Context, addr string) (net.Conn, error)
	GossipPacketConn func(net.PacketConn) net.PacketConn
	// GossipKeys encrypt and authenticate gossip (gossip.Config.SecretKeys:
	// the first encrypts, all decrypt); none: plain gossip (--insecure only).
	GossipKeys [][]byte
	// NodeDialer connects to nodes' Cell services (default plain TCP);
	// NodeTLS secures those connections; ServerTLS the router's listener.
	NodeDialer func(ctx context.Context, addr string) (net.Conn, error)
	// IngressDialer, if set, reaches other sites' routers the way a client
	// outside does; the router then reports ingress reachability to the
	// failover controller (without it, ingress is "unknown").
	IngressDialer func(ctx context.Context, addr string) (net.Conn, error)
	NodeTLS       *tls.Config
	ServerTLS     *tls.Config
	// HTTPServerTLS, if set, serves the HTTP/JSON API over TLS (client
	// certificates optional: API clients authenticate with keys).
	HTTPServerTLS *tls.Config
	// ServerOptions are added to the gRPC server's options (its
	// authorization interceptors).
	ServerOptions []grpc.ServerOption

	// RequestTimeout bounds one client request including every retry.
	// Default 5 s.
	RequestTimeout time.Duration
	// AttemptTimeout bounds one attempt at one node. Default 1 s.
	AttemptTimeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between attempts that got no hint. Defaults 10 ms and 250 ms.
	BackoffMin, BackoffMax time.Duration
	// CellInFlightMax bounds the requests in flight per cell. Default 1024.
	CellInFlightMax int
	// ProbeInterval is how often the router probes every node's health
	// (reachability and round-trip time). Default 300 ms.
	ProbeInterval time.Duration
	// HTTPBodyBytesMax bounds an HTTP request body. Default 64 KiB.
	HTTPBodyBytesMax int64

	Logger *slog.Logger
	// Metrics, if set, is where the router registers its Prometheus
	// metrics (docs/METRICS.md); nil: none.
	Metrics prometheus.Registerer
}

// DefaultConfig returns a Config with every tunable at its default.
func DefaultConfig() Config {
	f := forward.DefaultConfig()
	return Config{
		RequestTimeout:   f.RequestTimeout,
		AttemptTimeout:   f.AttemptTimeout,
		BackoffMin:       f.BackoffMin,
		BackoffMax:       f.BackoffMax,
		CellInFlightMax:  f.CellInFlightMax,
		ProbeInterval:    300 * time.Millisecond,
		HTTPBodyBytesMax: 64 << 10,
	}
}

// forwardConfig is the forwarder's part of c.
func (c Config) forwardConfig() forward.Config {
	return forward.Config{RequestTimeout: c.RequestTimeout, AttemptTimeout: c.AttemptTimeout,
		BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax, CellInFlightMax: c.CellInFlightMax}
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("router: "+format, args...)) }
	if c.Topology == nil {
		bad("Topology is required")
	} else if _, ok := c.Topology.Site(c.Site); !ok {
		bad("Site %q is not in the topology", c.Site)
	}
	if c.ID == "" {
		bad("ID is required")
	}
	if c.Listener == nil {
		bad("Listener is required")
	}
	if c.GossipAddr == "" {
		bad("GossipAddr is required")
	}
	if err := c.forwardConfig().Validate("router: "); err != nil {
		errs = append(errs, err)
	}
	if c.ProbeInterval < 10*time.Millisecond {
		bad("ProbeInterval (%s) must be at least 10ms", c.ProbeInterval)
	}
	if c.HTTPBodyBytesMax < 1024 {
		bad("HTTPBodyBytesMax (%d) must be at least 1024", c.HTTPBodyBytesMax)
	}
	return errors.Join(errs...)
}
