package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/meta"
)

// ControlConfig configures a node's control plane. DefaultControlConfig
// fills the tunables; Validate reports every violation at once.
type ControlConfig struct {
	// Topology is the cluster's topology. Required.
	Topology *topology.Topology
	// Failover holds the controller's thresholds.
	Failover failover.Config
	// TickInterval is how often the controller decides. Default 200 ms.
	TickInterval time.Duration
	// ObserveInterval is how often each observer is asked for its view;
	// ObserveTimeout bounds one ask. Defaults 200 ms and 500 ms.
	ObserveInterval, ObserveTimeout time.Duration
	// ProbeInterval is how often this node probes every node. Default 300 ms.
	ProbeInterval time.Duration
	// MoveTimeout bounds one leadership move. Default 5 s.
	MoveTimeout time.Duration
	// DrillTimeout bounds a drill from start to its last move. Default 2 min.
	DrillTimeout time.Duration
	// Dialer reaches other nodes and routers (default plain TCP); TLS
	// secures those connections.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	TLS    *tls.Config
	// Operators maps an operator's name to the SHA-256 (hex) of their
	// token. Drills are refused when it is empty.
	Operators map[string]string
	// Routers lists the routers to observe (from gossip). Optional.
	Routers func() []RouterInfo
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Reconcile is when the meta leader reconciles on its own.
	Reconcile ReconcileSchedule
	// Metrics, if set, is where the control plane registers its Prometheus
	// metrics (docs/METRICS.md; usually the node's registry); nil: none.
	Metrics prometheus.Registerer
}

// RouterInfo is a router the controller asks for its view.
type RouterInfo struct{ ID, Site, Addr string }

// DefaultControlConfig returns the documented defaults.
func DefaultControlConfig() ControlConfig {
	return ControlConfig{
		Failover:        failover.DefaultConfig(),
		TickInterval:    200 * time.Millisecond,
		ObserveInterval: 200 * time.Millisecond,
		ObserveTimeout:  500 * time.Millisecond,
		ProbeInterval:   300 * time.Millisecond,
		MoveTimeout:     5 * time.Second,
		DrillTimeout:    2 * time.Minute,
	}
}

// Validate reports every violation, with its value.
func (c ControlConfig) Validate() error {
	var errs []error
	if c.Topology == nil {
		errs = append(errs, errors.New("router: ControlConfig.Topology is required"))
	}
	if err := c.Failover.Validate(); err != nil {
		errs = append(errs, err)
	}
	for name, d := range map[string]time.Duration{
		"TickInterval": c.TickInterval, "ObserveInterval": c.ObserveInterval, "ObserveTimeout": c.ObserveTimeout,
		"ProbeInterval": c.ProbeInterval, "MoveTimeout": c.MoveTimeout, "DrillTimeout": c.DrillTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("router: ControlConfig.%s (%s) must be positive", name, d))
		}
	}
	if c.ObservationAgeMaxTooShort() {
		errs = append(errs, fmt.Errorf("router: Failover.ObservationAgeMax (%s) must exceed ObserveInterval + ObserveTimeout (%s)",
			c.Failover.ObservationAgeMax, c.ObserveInterval+c.ObserveTimeout))
	}
	for name, h := range c.Operators {
		if name == "" || len(h) != 64 {
			errs = append(errs, fmt.Errorf("router: ControlConfig.Operators[%q]: want a name and a 64-digit hex SHA-256 of the token", name))
		}
	}
	return errors.Join(errs...)
}

// ObservationAgeMaxTooShort reports whether observations would go stale
// between two asks.
func (c ControlConfig) ObservationAgeMaxTooShort() bool {
	return c.Failover.ObservationAgeMax > 0 && c.Failover.ObservationAgeMax <= c.ObserveInterval+c.ObserveTimeout
}

// Control is a node's control plane: it serves the Control service,
// probes every node, hosts the node's meta replica (on meta voters) and,
// while that replica leads, runs the failover controller and drills.
type Control struct {
	pb.UnimplementedControlServer
	cfg     ControlConfig
	logger  *slog.Logger
	conns   *forward.Pool
	metrics *controlMetrics // nil without ControlConfig.Metrics

	mu      sync.Mutex
	node    *cell.Node
	host    *replication.Host
	prober  *forward.Prober
	meta    *replication.Group // nil on a node that is not a meta voter
	ctrl    *controller        // nil on a node that is not a meta voter
	recon   *autoReconciler    // nil on a node that is not a meta voter, or when disabled
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool

	// controllerTermMax is the newest meta term of a controller whose
	// MoveLeader this node has seen (in memory: a restarted node starts
	// from 0 and learns it from the next move).
	termMu            sync.Mutex
	controllerTermMax uint64

	// overdraft serves the overdraft accounts' RPCs (overdraftaccounts.go).
	overdraft overdraftAccounts
}

// NewControl validates cfg. Register its service on the node's gRPC server
// (cell.NodeConfig.Register), then Start it with the node.
func NewControl(cfg ControlConfig) (*Control, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	metrics, err := newControlMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Control{cfg: cfg, logger: cfg.Logger.With("component", "control"), conns: forward.NewPool(cfg.Dialer, cfg.TLS), metrics: metrics}, nil
}

// Register registers the Control service on s.
func (c *Control) Register(s *grpc.Server) { pb.RegisterControlServer(s, c) }

// Start binds the control plane to node: it starts the node's prober, its
// meta replica if it is a voter, and the controller loop.
func (c *Control) Start(node *cell.Node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return errors.New("router: control already started")
	}
	topo := c.cfg.Topology
	c.node, c.host = node, node.Host()
	c.prober = forward.NewProber(topo, c.conns, c.cfg.ProbeInterval, c.cfg.Now)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Go(func() { c.prober.Run(ctx) })
	if meta.IsVoter(topo, node.ID()) {
		g, err := c.host.StartGroup(meta.GroupID, meta.FSM{}, meta.Peers(topo))
		if err != nil {
			cancel()
			return fmt.Errorf("router: start the meta replica: %w", err)
		}
		c.meta = g
		// The reconciler first: the controller is given its kick.
		if !c.cfg.Reconcile.Disabled {
			c.recon = newAutoReconciler(c.autoReconcilerDeps(), c.cfg.Reconcile)
		}
		c.ctrl = newController(c.controllerDeps())
		c.wg.Go(func() { c.ctrl.run(ctx) })
		if c.recon != nil {
			c.wg.Go(func() { c.recon.run(ctx) })
		}
	}
	c.started = true
	c.logger.Info("control started", "node", node.ID(), "meta_voter", c.meta != nil)
	return nil
}

// Close stops the controller and the prober (the meta replica stops with
// the node's host) and closes connections.
func (c *Control) Close() error {
	c.mu.Lock()
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.wg.Wait()
	return c.conns.Close()
}

func (c *Control) bound() (*cell.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return nil, status.Error(codes.Unavailable, "router: control plane not started yet")
	}
	return c.node, nil
}

// Observe implements pb.ControlServer: this node's view of every site and
// the state of its replicas.
func (c *Control) Observe(ctx context.Context, _ *pb.ObserveRequest) (*pb.Observation, error) {
	node, err := c.bound()
	if err != nil {
		return nil, err
	}
	self, _ := c.cfg.Topology.Node(node.ID())
	out := &pb.Observation{ObserverId: node.ID(), ObserverSite: self.Site, Kind: observerKindNode}
	out.Sites = forward.BackboneView(c.cfg.Topology, c.prober)
	for _, g := range c.host.Groups() {
		if g.ID() == meta.GroupID {
			continue
		}
		id, _, term := g.Leader()
		out.Replicas = append(out.Replicas, &pb.ReplicaInfo{CellId: g.ID(), Leader: g.IsLeader(), LeaderId: id, Term: term, AppliedIndex: g.AppliedIndex()})
	}
	return out, nil
}

// MoveLeader implements pb.ControlServer: it moves a cell's leadership,
// here, if this node leads the cell, unless a controller of a newer meta
// term than the request's has been seen (term fencing; a request without
// a term is not fenced).
func (c *Control) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	if _, err := c.bound(); err != nil {
		return nil, err
	}
	if req.GetCellId() == 0 || req.GetTargetNodeId() == "" {
		return nil, status.Errorf(codes.InvalidArgument, "router: MoveLeader needs cell_id and target_node_id, got %d and %q", req.GetCellId(), req.GetTargetNodeId())
	}
	// Only a controller moves leaders, and controllers run on meta voters
	// (the authorizer let only nodes through; without TLS there is no
	// identity to check).
	if id, ok := auth.PeerIdentity(ctx); ok && !meta.IsVoter(c.cfg.Topology, id.Name) {
		c.logger.Warn("auth: call refused", "method", "MoveLeader", "reason", "not_a_meta_voter", "caller", id.String())
		return nil, status.Errorf(codes.PermissionDenied, "router: MoveLeader from node %s refused: only the meta voters run the controller", id.Name)
	}
	if err := c.admitTerm(req.GetControllerTerm(), req.GetCellId()); err != nil {
		return nil, err
	}
	g, err := c.host.Group(req.GetCellId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "router: cell %d is not hosted on node %s", req.GetCellId(), c.host.NodeID())
	}
	if !g.IsLeader() {
		return nil, c.notLeader(g)
	}
	if err := g.TransferLeadership(ctx, req.GetTargetNodeId()); err != nil {
		var nl *replication.NotLeaderError
		if errors.As(err, &nl) {
			return nil, c.notLeader(g)
		}
		return nil, status.Errorf(codes.Aborted, "router: cell %d: move to %s: %v", req.GetCellId(), req.GetTargetNodeId(), err)
	}
	id, _, term := g.Leader()
	return &pb.MoveLeaderResponse{LeaderNodeId: id, Term: term}, nil
}

// admitTerm fences controllers by their meta term: it refuses a move of a
// term older than the newest seen, and remembers a newer one. Term 0 (a
// move by hand: chaos tooling, an operator's script) is let through
// without changing the newest term: such callers are not controllers and
// know no meta term; the controller itself always sends one.
func (c *Control) admitTerm(term, cellID uint64) error {
	if term == 0 {
		return nil
	}
	c.termMu.Lock()
	defer c.termMu.Unlock()
	if term < c.controllerTermMax {
		c.logger.Warn("refused a move of an older controller term", "cell", cellID, "controller_term", term, "controller_term_max", c.controllerTermMax)
		return rpcstatus.Error(codes.FailedPrecondition, rpcstatus.ReasonStaleTerm,
			fmt.Sprintf("router: node %s refuses to move cell %d for the controller of meta term %d: a controller of term %d has been seen since (the sender lost the meta leadership)",
				c.host.NodeID(), cellID, term, c.controllerTermMax),
			map[string]string{rpcstatus.MetaControllerTerm: strconv.FormatUint(term, 10), rpcstatus.MetaControllerTermMax: strconv.FormatUint(c.controllerTermMax, 10)})
	}
	c.controllerTermMax = term
	return nil
}

func (c *Control) notLeader(g *replication.Group) error { return notLeaderError(c.cfg.Topology, g) }

// metaStatusEventsMax and metaStatusAuditMax bound GetMetaStatus answers.
const (
	metaStatusEventsMax = 1000
	metaStatusAuditMax  = 1000
)

// GetMetaStatus implements pb.ControlServer, from this replica's local
// state (it may lag the leader by a few entries).
func (c *Control) GetMetaStatus(ctx context.Context, req *pb.MetaStatusRequest) (*pb.MetaStatus, error) {
	if _, err := c.bound(); err != nil {
		return nil, err
	}
	if c.meta == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "router: node %s holds no meta replica; ask one of %v", c.host.NodeID(), voterIDs(c.cfg.Topology))
	}
	snap, err := meta.Read(c.meta.Reader(), int(min(req.GetEventsMax(), metaStatusEventsMax)), int(min(req.GetAuditMax(), metaStatusAuditMax)))
	if err != nil {
		return nil, status.Errorf(codes.DataLoss, "router: %v", err)
	}
	leader, _, _ := c.meta.Leader()
	out := &pb.MetaStatus{MetaLeaderId: leader, Sites: snap.Sites, Events: snap.Events, Audit: snap.Audit, Drill: snap.Drill, Pins: snap.Pins, AnsweredBy: c.host.NodeID()}
	return out, nil
}

func voterIDs(topo *topology.Topology) []string {
	var ids []string
	for _, n := range meta.Voters(topo) {
		ids = append(ids, n.ID)
	}
	return ids
}

// propose applies cmd to the meta group, stamped with the clock, unfenced
// (the overdraft accounts' audit entries). The node must hold a meta
// replica.
func (c *Control) propose(ctx context.Context, cmd *pb.MetaCommand) (meta.Result, error) {
	return metaProposer{group: c.meta, now: c.cfg.Now}.propose(ctx, cmd)
}
