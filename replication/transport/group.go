package transport

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// GroupTransport is the raft.Transport of one Raft group on this node. It
// also implements raft.WithClose and raft.WithPreVote (without the latter,
// hashicorp/raft silently disables pre-vote).
type GroupTransport struct {
	t        *Transport
	id       uint64
	consumer chan raft.RPC

	heartbeatMu sync.Mutex
	heartbeatFn func(raft.RPC)

	shutdown     chan struct{}
	shutdownOnce sync.Once
}

var (
	_ raft.Transport   = (*GroupTransport)(nil)
	_ raft.WithClose   = (*GroupTransport)(nil)
	_ raft.WithPreVote = (*GroupTransport)(nil)
)

func newGroupTransport(t *Transport, id uint64) *GroupTransport {
	return &GroupTransport{t: t, id: id, consumer: make(chan raft.RPC), shutdown: make(chan struct{})}
}

// Consumer implements raft.Transport.
func (g *GroupTransport) Consumer() <-chan raft.RPC { return g.consumer }

// LocalAddr implements raft.Transport.
func (g *GroupTransport) LocalAddr() raft.ServerAddress {
	return raft.ServerAddress(g.t.cfg.AdvertiseAddr)
}

// EncodePeer implements raft.Transport.
func (g *GroupTransport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}

// DecodePeer implements raft.Transport.
func (g *GroupTransport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler implements raft.Transport: heartbeats bypass the
// consumer channel so they never wait behind log replication.
func (g *GroupTransport) SetHeartbeatHandler(fn func(raft.RPC)) {
	g.heartbeatMu.Lock()
	defer g.heartbeatMu.Unlock()
	g.heartbeatFn = fn
}

func (g *GroupTransport) heartbeatHandler() func(raft.RPC) {
	g.heartbeatMu.Lock()
	defer g.heartbeatMu.Unlock()
	return g.heartbeatFn
}

// Close implements raft.WithClose: the group stops receiving RPCs.
func (g *GroupTransport) Close() error {
	g.shutdownOnce.Do(func() { close(g.shutdown) })
	g.t.unregister(g)
	return nil
}

// AppendEntries implements raft.Transport (unary; heartbeats use it).
func (g *GroupTransport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return unary(g, target, func(ctx context.Context, c pb.RaftTransportClient) error {
		m, err := c.AppendEntries(ctx, encodeAppendEntriesRequest(g.id, args))
		if err != nil {
			return err
		}
		return decodeAppendEntriesResponse(m, resp)
	})
}

// RequestVote implements raft.Transport.
func (g *GroupTransport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return unary(g, target, func(ctx context.Context, c pb.RaftTransportClient) error {
		m, err := c.RequestVote(ctx, encodeRequestVoteRequest(g.id, args))
		if err != nil {
			return err
		}
		return decodeRequestVoteResponse(m, resp)
	})
}

// RequestPreVote implements raft.WithPreVote.
func (g *GroupTransport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return unary(g, target, func(ctx context.Context, c pb.RaftTransportClient) error {
		m, err := c.RequestPreVote(ctx, encodeRequestPreVoteRequest(g.id, args))
		if err != nil {
			return err
		}
		return decodeRequestPreVoteResponse(m, resp)
	})
}

// TimeoutNow implements raft.Transport.
func (g *GroupTransport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return unary(g, target, func(ctx context.Context, c pb.RaftTransportClient) error {
		m, err := c.TimeoutNow(ctx, encodeTimeoutNowRequest(g.id, args))
		if err != nil {
			return err
		}
		return decodeTimeoutNowResponse(m, resp)
	})
}

// unary runs one RPC to target with the RPCTimeout deadline and reports the
// outcome to the peer's liveness tracking.
func unary(g *GroupTransport, target raft.ServerAddress, call func(context.Context, pb.RaftTransportClient) error) error {
	select {
	case <-g.shutdown:
		return ErrClosed
	default:
	}
	p, err := g.t.peerFor(string(target))
	if err != nil {
		return err
	}
	c, err := p.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.t.cfg.RPCTimeout)
	defer cancel()
	err = call(ctx, c)
	p.observe(err)
	if err != nil {
		return fmt.Errorf("transport: group %d to %s: %w", g.id, target, err)
	}
	return nil
}

// dispatch hands one received RPC to the group's raft instance and waits for
// its answer, bounded by ctx (the caller's deadline) and the group's shutdown.
func (g *GroupTransport) dispatch(ctx context.Context, cmd any, body io.Reader, heartbeat bool) (any, error) {
	respCh := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{Command: cmd, Reader: body, RespChan: respCh}
	fast := false
	if heartbeat {
		if fn := g.heartbeatHandler(); fn != nil {
			fn(rpc)
			fast = true
		}
	}
	if !fast {
		select {
		case g.consumer <- rpc:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-g.shutdown:
			return nil, status.Errorf(codes.Unavailable, "transport: group %d is shutting down", g.id)
		}
	}
	select {
	case r := <-respCh:
		if r.Error != nil {
			return nil, status.Errorf(codes.Unknown, "transport: group %d: %v", g.id, r.Error)
		}
		return r.Response, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-g.shutdown:
		return nil, status.Errorf(codes.Unavailable, "transport: group %d is shutting down", g.id)
	}
}
