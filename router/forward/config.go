package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cellpay/cellpay/cell/topology"
)

// Config bounds a Forwarder's requests. DefaultConfig fills it; Validate
// reports every violation at once.
type Config struct {
	// RequestTimeout bounds one request including every retry. Default 5 s.
	RequestTimeout time.Duration
	// AttemptTimeout bounds one attempt at one node. Default 1 s.
	AttemptTimeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between attempts that got no hint. Defaults 10 ms and 250 ms.
	BackoffMin, BackoffMax time.Duration
	// CellInFlightMax bounds the requests in flight per cell. Default 1024.
	CellInFlightMax int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:  5 * time.Second,
		AttemptTimeout:  time.Second,
		BackoffMin:      10 * time.Millisecond,
		BackoffMax:      250 * time.Millisecond,
		CellInFlightMax: 1024,
	}
}

// Validate reports every invalid field at once; prefix names the owner
// ("router: ").
func (c Config) Validate(prefix string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(prefix+format, args...)) }
	if c.RequestTimeout <= 0 {
		bad("RequestTimeout (%s) must be positive", c.RequestTimeout)
	}
	if c.AttemptTimeout <= 0 || c.AttemptTimeout > c.RequestTimeout {
		bad("AttemptTimeout (%s) must be positive and at most RequestTimeout (%s)", c.AttemptTimeout, c.RequestTimeout)
	}
	if c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin {
		bad("BackoffMin (%s) must be positive and at most BackoffMax (%s)", c.BackoffMin, c.BackoffMax)
	}
	if c.CellInFlightMax < 1 {
		bad("CellInFlightMax (%d) must be at least 1", c.CellInFlightMax)
	}
	return errors.Join(errs...)
}

// NewHintForwarder is a Forwarder outside a router (in a node or a tool):
// its own connections through dialer (nil: plain TCP) with tlsCfg (nil: no
// TLS), leaders learned from the hints in errors only (no gossip), the
// defaults but requestTimeout (0: the default). Close the Pool when done.
func NewHintForwarder(topo *topology.Topology, dialer func(ctx context.Context, addr string) (net.Conn, error), tlsCfg *tls.Config, requestTimeout time.Duration) (*Forwarder, *Pool) {
	cfg := DefaultConfig()
	if requestTimeout > 0 {
		cfg.RequestTimeout = requestTimeout
	}
	conns := NewPool(dialer, tlsCfg)
	return New(topo, conns, NewRoutes(), cfg), conns
}
