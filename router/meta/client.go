package meta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
)

// ClientConfig configures a Client. Zero fields take the defaults.
type ClientConfig struct {
	// Topology names the voters (Voters). Required.
	Topology *topology.Topology
	// Conn returns a connection to a voter's client address, owned by the
	// caller. Default: the Client dials each address once (with TLS, or
	// plain TCP when TLS is nil) and closes the connections on Close.
	Conn func(addr string) (grpc.ClientConnInterface, error)
	TLS  *tls.Config
	// CallTimeout bounds one call to one voter. Default 15 s.
	CallTimeout time.Duration
	// RetryPause separates rounds over the voters while none leads.
	// Default 200 ms.
	RetryPause time.Duration
	// Token, if set, is the operator token sent with every call (a bearer
	// token in the "authorization" metadata).
	Token string
}

// Client defaults.
const (
	DefaultClientCallTimeout = 15 * time.Second
	DefaultClientRetryPause  = 200 * time.Millisecond
)

// Client talks to the meta group's voters: it asks them all for the
// group's status, preferring the leader's answer, and runs calls that only
// the leader serves on the leader, following NOT_LEADER hints.
type Client struct {
	cfg    ClientConfig
	voters []topology.Node

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn // dialed here (cfg.Conn nil)
	leader string                      // client address of the last voter that served a leader-only call
}

// NewClient is a Client of the meta group of cfg.Topology.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Topology == nil {
		return nil, errors.New("meta: ClientConfig.Topology is required")
	}
	voters := Voters(cfg.Topology)
	if len(voters) == 0 {
		return nil, errors.New("meta: the topology has no meta voters (no site has nodes)")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultClientCallTimeout
	}
	if cfg.RetryPause <= 0 {
		cfg.RetryPause = DefaultClientRetryPause
	}
	return &Client{cfg: cfg, voters: voters, conns: map[string]*grpc.ClientConn{}}, nil
}

// Topology is the topology the client was made with.
func (c *Client) Topology() *topology.Topology { return c.cfg.Topology }

func (c *Client) control(addr string) (pb.ControlClient, error) {
	if c.cfg.Conn != nil {
		conn, err := c.cfg.Conn(addr)
		if err != nil {
			return nil, err
		}
		return pb.NewControlClient(conn), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	conn := c.conns[addr]
	if conn == nil {
		var err error
		creds := auth.Credentials(c.cfg.TLS)
		if conn, err = grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds)); err != nil {
			return nil, err
		}
		c.conns[addr] = conn
	}
	return pb.NewControlClient(conn), nil
}

// Close closes the connections the client dialed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for addr, conn := range c.conns {
		errs = append(errs, conn.Close())
		delete(c.conns, addr)
	}
	return errors.Join(errs...)
}

// withToken adds the operator token, if any, to ctx.
func (c *Client) withToken(ctx context.Context) context.Context {
	if c.cfg.Token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.cfg.Token)
}

// Retryable reports whether a call that failed with err may be sent again,
// elsewhere: the voter could not be reached, or does not lead (NOT_LEADER).
// A call the server failed while recording it (DRILL_OUTCOME_UNKNOWN,
// OUTCOME_UNKNOWN) is not: it may have partly happened, and the caller
// asks for its status (or retries with the same key) instead.
func Retryable(err error) bool {
	if status.Code(err) != codes.Unavailable {
		return false
	}
	switch rpcstatus.Reason(err) {
	case rpcstatus.ReasonDrillOutcomeUnknown, rpcstatus.ReasonOutcomeUnknown:
		return false
	}
	return true
}

// Call runs fn on the meta leader, with the operator token: it starts with
// the last leader seen (or the first voter), follows NOT_LEADER hints, and
// tries the other voters while none can be reached or none leads
// (Retryable), until ctx ends. Each attempt takes at most CallTimeout.
func (c *Client) Call(ctx context.Context, fn func(context.Context, pb.ControlClient) error) error {
	c.mu.Lock()
	next := c.leader
	c.mu.Unlock()
	hops, round := 0, 0
	for i := 0; ; {
		addr := next
		next = ""
		if addr == "" {
			addr = c.voters[i%len(c.voters)].ClientAddr
			i++
			if i%len(c.voters) == 0 {
				round++
			}
		}
		cl, err := c.control(addr)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(c.withToken(ctx), c.cfg.CallTimeout)
		err = fn(actx, cl)
		cancel()
		if err == nil {
			c.mu.Lock()
			c.leader = addr
			c.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %s)", status.FromContextError(ctx.Err()).Err(), status.Convert(err).Message())
		}
		if !Retryable(err) {
			return err
		}
		if _, hint, ok := rpcstatus.LeaderHint(err); ok && hint != "" && hint != addr && hops < 2*len(c.voters) {
			next, hops = hint, hops+1
			continue
		}
		if round > 0 || hops >= 2*len(c.voters) {
			// a whole round without a leader, or hints going round in
			// circles: an election is under way, give it time
			round, hops = 0, 0
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last error: %v)", status.FromContextError(ctx.Err()).Err(), status.Convert(err).Message())
			case <-time.After(c.cfg.RetryPause):
			}
		}
	}
}

// Status asks every voter at once for the meta group's records and returns
// the meta leader's answer, else any answer (a follower may lag by a few
// entries); the error (UNAVAILABLE) says why none answered. Each ask takes at most
// CallTimeout.
func (c *Client) Status(ctx context.Context, req *pb.MetaStatusRequest) (*pb.MetaStatus, error) {
	answers := make([]*pb.MetaStatus, len(c.voters))
	errs := make([]error, len(c.voters))
	var wg sync.WaitGroup
	for i, n := range c.voters {
		wg.Go(func() {
			cl, err := c.control(n.ClientAddr)
			if err != nil {
				errs[i] = fmt.Errorf("meta voter %s: %w", n.ID, err)
				return
			}
			actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			if answers[i], err = cl.GetMetaStatus(actx, req); err != nil {
				errs[i] = fmt.Errorf("meta voter %s: %w", n.ID, err)
			}
		})
	}
	wg.Wait()
	var any *pb.MetaStatus
	for _, ms := range answers {
		if ms == nil {
			continue
		}
		if ms.GetAnsweredBy() == ms.GetMetaLeaderId() {
			return ms, nil
		}
		any = ms
	}
	if any == nil {
		return nil, status.Errorf(codes.Unavailable, "meta: no voter answered: %v", errors.Join(errs...))
	}
	return any, nil
}

// AwaitStatus is Status asked again, RetryPause apart, while no voter
// answers (an election, a restart), until ctx ends; the error then is
// ctx's, with the last error.
func (c *Client) AwaitStatus(ctx context.Context, req *pb.MetaStatusRequest) (*pb.MetaStatus, error) {
	for {
		ms, err := c.Status(ctx, req)
		if err == nil {
			return ms, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %s)", status.FromContextError(ctx.Err()).Err(), status.Convert(err).Message())
		case <-time.After(c.cfg.RetryPause):
		}
	}
}
