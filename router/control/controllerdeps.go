package control

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/api/rpcstatus"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/replication"
	"github.com/cellpay/cellpay/router/failover"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/meta"
)

// What Control hands to the controller and the automatic reconciler at
// construction (doc.go: who owns what). They reach nothing else of
// Control.

// metaReplica is what the controller needs of this node's meta replica
// (a *replication.Group).
type metaReplica interface {
	ID() uint64
	Leader() (id, addr string, term uint64)
	IsLeader() bool
	LinearizableRead(ctx context.Context) error
	Reader() replication.Reader
}

// proposer records commands in the meta group.
type proposer interface {
	// propose applies cmd unfenced (events and audit entries only).
	propose(ctx context.Context, cmd *pb.MetaCommand) (meta.Result, error)
	// proposeAs applies cmd as the failover controller of meta term term.
	proposeAs(ctx context.Context, term uint64, cmd *pb.MetaCommand) (meta.Result, error)
}

// mover asks a cell's leader to move its leadership.
type mover interface {
	moveLeader(ctx context.Context, term uint64, fromNode string, cellID uint64, toNode string) error
}

// controllerDeps are everything the controller is given: configuration
// values, the logger and metrics, its meta replica, a proposer, a mover,
// its observer cache and the reconciler's kick.
type controllerDeps struct {
	topo     *topology.Topology
	failover failover.Config
	// tickInterval: how often it decides; moveTimeout bounds one move and
	// one round of meta writes; drillTimeout bounds a drill; settle is how
	// long a moved cell is left alone (one observer report:
	// ObserveInterval + ObserveTimeout).
	tickInterval, moveTimeout, drillTimeout, settle time.Duration
	observationAgeMax                               time.Duration
	routers                                         func() []RouterInfo // nil: none
	now                                             func() time.Time
	logger                                          *slog.Logger
	metrics                                         *controlMetrics // nil: none
	nodeID                                          string
	meta                                            metaReplica
	proposer                                        proposer
	mover                                           mover
	obs                                             *observerCache
	// reconcileKick tells the automatic reconciler a leader moved (never
	// blocks); nil: no automatic reconciliation.
	reconcileKick func()
}

// controllerDeps hands the controller its parts. Called once c.meta (and
// c.recon, if any) are set.
func (c *Control) controllerDeps() controllerDeps {
	d := controllerDeps{
		topo: c.cfg.Topology, failover: c.cfg.Failover,
		tickInterval: c.cfg.TickInterval, moveTimeout: c.cfg.MoveTimeout, drillTimeout: c.cfg.DrillTimeout,
		settle: c.cfg.ObserveInterval + c.cfg.ObserveTimeout, observationAgeMax: c.cfg.Failover.ObservationAgeMax,
		routers: c.cfg.Routers, now: c.cfg.Now, logger: c.logger, metrics: c.metrics, nodeID: c.host.NodeID(),
		meta: c.meta, proposer: metaProposer{group: c.meta, now: c.cfg.Now}, mover: nodeMover{topo: c.cfg.Topology, conns: c.conns},
		obs: newObserverCache(c.conns, c.cfg.ObserveInterval, c.cfg.ObserveTimeout, c.cfg.Now),
	}
	if c.recon != nil {
		d.reconcileKick = c.recon.moved
	}
	return d
}

// metaProposer proposes commands to a meta replica, stamped with the
// clock.
type metaProposer struct {
	group *replication.Group
	now   func() time.Time
}

func (p metaProposer) propose(ctx context.Context, cmd *pb.MetaCommand) (meta.Result, error) {
	cmd.AtUnixMs = p.now().UnixMilli()
	b, err := proto.Marshal(cmd)
	if err != nil {
		return meta.Result{}, err
	}
	res, err := p.group.Apply(ctx, b)
	if err != nil {
		return meta.Result{}, err
	}
	r, _ := res.(meta.Result)
	return r, r.Err
}

func (p metaProposer) proposeAs(ctx context.Context, term uint64, cmd *pb.MetaCommand) (meta.Result, error) {
	cmd.ControllerTerm = term
	return p.propose(ctx, cmd)
}

// nodeMover moves leaderships through the nodes' Control services.
type nodeMover struct {
	topo  *topology.Topology
	conns *forward.Pool
}

// moveLeader asks node fromNode, the cell's leader, to move its
// leadership, for the controller of meta term term.
func (m nodeMover) moveLeader(ctx context.Context, term uint64, fromNode string, cellID uint64, toNode string) error {
	n, ok := m.topo.Node(fromNode)
	if !ok {
		return fmt.Errorf("router: node %q is not in the topology", fromNode)
	}
	conn, err := m.conns.Get(n.ClientAddr)
	if err != nil {
		return err
	}
	_, err = pb.NewControlClient(conn).MoveLeader(ctx, &pb.MoveLeaderRequest{CellId: cellID, TargetNodeId: toNode, ControllerTerm: term})
	return err
}

// notLeaderError is the NOT_LEADER refusal of g, with its leader's hint.
func notLeaderError(topo *topology.Topology, g metaReplica) error {
	id, _, term := g.Leader()
	addr := ""
	if n, ok := topo.Node(id); ok {
		addr = n.ClientAddr
	}
	return rpcstatus.NotLeader(g.ID(), id, addr, term)
}
