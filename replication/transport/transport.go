package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// ErrClosed is returned by calls on a closed Transport or GroupTransport.
var ErrClosed = errors.New("transport: closed")

// Transport is one node's Raft transport: one gRPC server and one client
// connection per peer node, shared by every Raft group on the node.
type Transport struct {
	cfg    Config
	logger *slog.Logger
	server *grpc.Server
	served chan struct{} // closed when Serve returns

	mu     sync.Mutex
	groups map[uint64]*GroupTransport
	peers  map[string]*peer
	closed bool

	stats stats
}

// stats counts RPCs served, by kind (observable by tests and metrics).
type stats struct {
	appendEntries, heartbeats, pipelined, requestVote, requestPreVote, timeoutNow, installSnapshot atomic.Uint64
	connectionsReplaced                                                                            atomic.Uint64
}

// Stats is a snapshot of the RPCs a node has served.
type Stats struct {
	AppendEntries, Heartbeats, PipelinedAppendEntries, RequestVote, RequestPreVote, TimeoutNow, InstallSnapshot uint64
	// ConnectionsReplaced counts peer connections presumed dead and replaced.
	ConnectionsReplaced uint64
}

// New validates cfg and starts serving on cfg.Listener.
func New(cfg Config) (*Transport, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MessageBytesMax),
		grpc.MaxSendMsgSize(cfg.MessageBytesMax),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepaliveInterval, Timeout: cfg.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: cfg.KeepaliveInterval / 2, PermitWithoutStream: true}),
	}
	if cfg.ServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.ServerTLS)))
	}
	opts = append(opts, cfg.ServerOptions...)
	t := &Transport{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "raft-transport", "addr", cfg.AdvertiseAddr),
		server: grpc.NewServer(opts...),
		served: make(chan struct{}),
		groups: make(map[uint64]*GroupTransport),
		peers:  make(map[string]*peer),
	}
	pb.RegisterRaftTransportServer(t.server, &server{t: t})
	go func() {
		defer close(t.served)
		if err := t.server.Serve(cfg.Listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.logger.Error("raft transport server stopped", "error", err)
		}
	}()
	return t, nil
}

// Addr is the address peers dial to reach this node.
func (t *Transport) Addr() string { return t.cfg.AdvertiseAddr }

// ServiceInfo lists the services the transport's server has registered
// (for the test that every method is authorized).
func (t *Transport) ServiceInfo() map[string]grpc.ServiceInfo { return t.server.GetServiceInfo() }

// Stats returns the counts of RPCs served so far.
func (t *Transport) Stats() Stats {
	return Stats{
		AppendEntries: t.stats.appendEntries.Load(), Heartbeats: t.stats.heartbeats.Load(),
		PipelinedAppendEntries: t.stats.pipelined.Load(), RequestVote: t.stats.requestVote.Load(),
		RequestPreVote: t.stats.requestPreVote.Load(), TimeoutNow: t.stats.timeoutNow.Load(),
		InstallSnapshot: t.stats.installSnapshot.Load(), ConnectionsReplaced: t.stats.connectionsReplaced.Load(),
	}
}

// Group registers a Raft group on this node and returns its raft.Transport.
// The group receives the RPCs addressed to its id until its Close.
func (t *Transport) Group(id uint64) (*GroupTransport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if _, ok := t.groups[id]; ok {
		return nil, fmt.Errorf("transport: group %d is already registered on %s", id, t.cfg.AdvertiseAddr)
	}
	g := newGroupTransport(t, id)
	t.groups[id] = g
	return g, nil
}

func (t *Transport) lookup(id uint64) *GroupTransport {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.groups[id]
}

func (t *Transport) unregister(g *GroupTransport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups[g.id] == g {
		delete(t.groups, g.id)
	}
}

// peerFor returns the shared connection to the node at addr, creating it on
// first use.
func (t *Transport) peerFor(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	p, ok := t.peers[addr]
	if !ok {
		var err error
		if p, err = newPeer(t, addr); err != nil {
			return nil, err
		}
		t.peers[addr] = p
	}
	return p, nil
}

// Close stops the server, closes every peer connection and every group.
// Groups still registered stop receiving RPCs.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	peers := t.peers
	groups := t.groups
	t.peers, t.groups = nil, nil
	t.mu.Unlock()

	for _, g := range groups {
		g.shutdownOnce.Do(func() { close(g.shutdown) })
	}
	// Stop, not GracefulStop: a black-holed peer's stream would never finish.
	t.server.Stop()
	<-t.served
	var errs []error
	for _, p := range peers {
		errs = append(errs, p.close())
	}
	return errors.Join(errs...)
}
