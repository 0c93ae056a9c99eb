package cell

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
)

// NodeConfig configures one cellpay node: the replicas of its cells and
// the Cell service. Topology, NodeID and DataDir are required.
type NodeConfig struct {
	Topology *topology.Topology
	NodeID   string
	DataDir  string
	// RaftListener and ClientListener default to listening on the node's
	// raft_addr and client_addr from the topology. Tests pass their own.
	RaftListener, ClientListener net.Listener
	// Dialer connects to peer nodes for Raft (default plain TCP).
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// TLS for Raft (both sides) and for the Cell service; nil is plain TCP.
	RaftServerTLS, RaftClientTLS, ClientServerTLS *tls.Config
	// RaftServerOptions and ClientServerOptions are added to the Raft and
	// the client gRPC servers' options (their authorization interceptors).
	RaftServerOptions, ClientServerOptions []grpc.ServerOption
	// HeartbeatIntervalMin overrides the replication default when non-zero.
	HeartbeatIntervalMin time.Duration
	Service              ServiceConfig
	// Register, if set, registers more services on the node's gRPC server
	// (the one serving the Cell service) before it serves.
	Register func(*grpc.Server)
	// Courier, if set, delivers cross-cell credits: the node then runs the
	// outbox relay of the cells it leads (tuned by Relay). Without it,
	// transfers to another cell's account are refused.
	Courier Courier
	Relay   RelayConfig
	// Payouts configures the payout providers and executor; without
	// providers, payouts are refused.
	Payouts       PayoutConfig
	Logger        *slog.Logger
	RaftLogOutput io.Writer
	// Metrics, if set, is where the node registers its Prometheus metrics
	// (docs/METRICS.md); nil: none.
	Metrics prometheus.Registerer
}

// Node is a running cellpay node.
type Node struct {
	id      string
	host    *replication.Host
	server  *grpc.Server
	client  net.Listener
	served  chan struct{}
	service *Service
	relay   *relay          // nil without a Courier
	payouts *payoutExecutor // nil without providers
	janitor *keyJanitor     // expires deposit keys past their retention
	logger  *slog.Logger
	// stopLeaderWatch ends the metrics' leader watch (nil without metrics).
	stopLeaderWatch func()
}

// topologyDirectory answers the Cell service's questions from the topology.
type topologyDirectory struct{ t *topology.Topology }

func (d topologyDirectory) CellOfAccount(id string) (uint64, bool) {
	c, ok := d.t.CellOfAccount(id)
	return c.ID, ok
}

func (d topologyDirectory) ClientAddr(nodeID string) (string, bool) {
	n, ok := d.t.Node(nodeID)
	return n.ClientAddr, ok
}

// StartNode opens the node's store, starts a replica of every cell the
// topology places on it (bootstrapping new cells from the topology's
// replica list) and serves the Cell service.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var errs []error
	if cfg.Topology == nil {
		errs = append(errs, errors.New("cell: NodeConfig.Topology is required"))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("cell: NodeConfig.DataDir is required"))
	}
	var self topology.Node
	if cfg.Topology != nil {
		var ok bool
		if self, ok = cfg.Topology.Node(cfg.NodeID); !ok {
			errs = append(errs, fmt.Errorf("cell: node %q is not in the topology", cfg.NodeID))
		}
	}
	if err := cfg.Payouts.validate(); err != nil {
		errs = append(errs, err)
	}
	metrics, metricsErr := newNodeMetrics(cfg.Metrics)
	errs = append(errs, metricsErr)
	if err := errors.Join(errs...); err != nil {
		closeAll(cfg.RaftListener, cfg.ClientListener)
		return nil, err
	}
	topo := cfg.Topology
	cells := topo.CellsOfNode(self.ID)

	raftLn, clientLn := cfg.RaftListener, cfg.ClientListener
	var err error
	if raftLn == nil {
		if raftLn, err = net.Listen("tcp", self.RaftAddr); err != nil {
			closeAll(clientLn)
			return nil, fmt.Errorf("cell: node %s: raft listener: %w", self.ID, err)
		}
	}
	if clientLn == nil {
		if clientLn, err = net.Listen("tcp", self.ClientAddr); err != nil {
			closeAll(raftLn)
			return nil, fmt.Errorf("cell: node %s: client listener: %w", self.ID, err)
		}
	}

	rcfg := replication.DefaultConfig()
	rcfg.NodeID, rcfg.DataDir = self.ID, cfg.DataDir
	rcfg.Listener, rcfg.AdvertiseAddr, rcfg.Dialer = raftLn, self.RaftAddr, cfg.Dialer
	rcfg.ServerTLS, rcfg.ClientTLS, rcfg.TransportServerOptions = cfg.RaftServerTLS, cfg.RaftClientTLS, cfg.RaftServerOptions
	rcfg.Logger, rcfg.RaftLogOutput = cfg.Logger, cfg.RaftLogOutput
	rcfg.InterSiteRTT = time.Millisecond
	for _, c := range cells {
		rcfg.InterSiteRTT = max(rcfg.InterSiteRTT, topo.CellRTTMax(c.ID))
	}
	if cfg.HeartbeatIntervalMin > 0 {
		rcfg.HeartbeatIntervalMin = cfg.HeartbeatIntervalMin
	}
	host, err := replication.NewHost(rcfg)
	if err != nil {
		closeAll(clientLn)
		return nil, err
	}
	for _, c := range cells {
		peers := make([]replication.Peer, 0, len(c.Replicas))
		for _, id := range c.Replicas {
			n, _ := topo.Node(id)
			peers = append(peers, replication.Peer{NodeID: n.ID, Addr: n.RaftAddr})
		}
		if _, err := host.StartGroup(c.ID, Ledger{}, peers); err != nil {
			_ = host.Close()
			closeAll(clientLn)
			return nil, err
		}
	}

	opts := GRPCServerLimits()
	if cfg.ClientServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.ClientServerTLS)))
	}
	opts = append(opts, cfg.ClientServerOptions...)
	n := &Node{
		id: self.ID, host: host, server: grpc.NewServer(opts...), client: clientLn, served: make(chan struct{}),
		service: NewService(host, topologyDirectory{topo}, cfg.Service),
		logger:  cfg.Logger.With("component", "node", "node", self.ID),
	}
	n.service.metrics = metrics
	if metrics != nil {
		events, cancel := host.WatchLeaders()
		n.stopLeaderWatch = cancel
		go metrics.watchLeaders(self.ID, events)
	}
	ids := make([]uint64, 0, len(cells))
	for _, c := range cells {
		ids = append(ids, c.ID)
	}
	if len(cfg.Payouts.Providers) > 0 {
		n.payouts = newPayoutExecutor(host, n.service, ids, cfg.Payouts, n.logger)
		n.service.payouts = n.payouts
		go n.payouts.run()
	}
	if cfg.Courier != nil {
		n.relay = newRelay(host, n.service, cfg.Courier, ids, cfg.Relay, n.logger)
		n.service.relay = n.relay
		go n.relay.run()
	}
	n.janitor = newKeyJanitor(host, n.service, ids, 0, n.logger)
	go n.janitor.run()
	pb.RegisterCellServer(n.server, n.service)
	// Routers probe nodes with the standard health service.
	healthpb.RegisterHealthServer(n.server, health.NewServer())
	if cfg.Register != nil {
		cfg.Register(n.server)
	}
	go func() {
		defer close(n.served)
		if err := n.server.Serve(clientLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.logger.Error("cell service stopped", "error", err)
		}
	}()
	n.logger.Info("node started", "cells", len(cells), "raft_addr", self.RaftAddr, "client_addr", self.ClientAddr)
	return n, nil
}

func closeAll(lns ...net.Listener) {
	for _, l := range lns {
		if l != nil {
			_ = l.Close()
		}
	}
}

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Host is the node's replication host.
func (n *Node) Host() *replication.Host { return n.host }

// ClientAddr is where the Cell service listens.
func (n *Node) ClientAddr() string { return n.client.Addr().String() }

// ServiceInfo lists the services of the node's client gRPC server (the
// Cell service and what Register added).
func (n *Node) ServiceInfo() map[string]grpc.ServiceInfo { return n.server.GetServiceInfo() }

// UnresolvedPayouts lists the payouts of the cells this node leads that
// are still PENDING or UNKNOWN past PayoutConfig.UnresolvedAge: alerts.
func (n *Node) UnresolvedPayouts() []*pb.PayoutRecord {
	if n.payouts == nil {
		return nil
	}
	return n.payouts.unresolved(time.Now())
}

// Close stops the Cell service (letting in-flight calls finish for up to
// drain) and then every replica.
func (n *Node) Close(drain time.Duration) error {
	done := make(chan struct{})
	go func() { n.server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		n.server.Stop()
		<-done
	}
	<-n.served
	if n.stopLeaderWatch != nil {
		n.stopLeaderWatch()
	}
	if n.janitor != nil {
		n.janitor.close()
	}
	if n.relay != nil {
		n.relay.close()
	}
	if n.payouts != nil {
		n.payouts.close()
	}
	return n.host.Close()
}

// Limits of the client-facing gRPC servers (a node's Cell, Control and
// health services; a router's Payments and RouterAdmin): what one
// connection may hold open and send, so that one misbehaving peer cannot
// take the process's memory or goroutines.
const (
	// clientStreamsPerConnMax bounds the calls in flight on one connection
	// (a router multiplexes all its requests to this node on one).
	clientStreamsPerConnMax = 1024
	// clientMessageBytesMax bounds one request or answer (a page of
	// transfers or payouts is far below it).
	clientMessageBytesMax = 4 << 20
	// clientKeepaliveMinDuration is the most often a client may ping; one
	// pinging more often is disconnected.
	clientKeepaliveMinDuration = 5 * time.Second
	// clientIdleMaxDuration closes a connection idle that long.
	clientIdleMaxDuration = 15 * time.Minute
	// clientPingIntervalDuration and clientPingTimeoutDuration: the server
	// pings a quiet connection and drops it when the ping goes unanswered.
	clientPingIntervalDuration = time.Minute
	clientPingTimeoutDuration  = 20 * time.Second
)

// GRPCServerLimits are those limits as server options.
func GRPCServerLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(clientStreamsPerConnMax),
		grpc.MaxRecvMsgSize(clientMessageBytesMax),
		grpc.MaxSendMsgSize(clientMessageBytesMax),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: clientKeepaliveMinDuration, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: clientIdleMaxDuration, Time: clientPingIntervalDuration, Timeout: clientPingTimeoutDuration}),
	}
}
