package control

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/replication/transport"
	"github.com/cellpay/cellpay/router/gossip"
)

// NodeConfig is what one node process runs: its cell node, its control
// plane, the courier its relay delivers cross-cell credits with, and
// (optionally) its membership gossip.
type NodeConfig struct {
	// Cell configures the cell node. Register and Courier are set here:
	// leave them nil.
	Cell cell.NodeConfig
	// Control configures the control plane. Its Topology and Dialer, if
	// nil, are Cell's; Routers is set here (the routers the gossip pool
	// knows): leave it nil.
	Control ControlConfig
	// Gossip, if set, joins the membership gossip with it (Name and Meta
	// are filled in); nil: no gossip (routers find leaders by hints only).
	Gossip *gossip.Config
	// WrapCourier, if set, wraps the courier the relay uses (a chaos test's
	// credit fault).
	WrapCourier func(cell.Courier) cell.Courier
	// Security is the node's certificate and the CA (auth.Secure, for the
	// identity node/<NodeID>), or auth.Insecure for --insecure. Required.
	// StartNode sets the TLS and the authorizers of the Raft and client
	// listeners and of every dialer from it: leave those fields nil.
	Security *auth.Security
}

// Node is a running node process's parts, started in order (courier, cell
// node, control plane, gossip) and closed in reverse.
type Node struct {
	Cell    *cell.Node
	Control *Control
	courier *Courier

	mu    sync.Mutex
	agent *NodeAgent
}

// StartNode starts a node. On error, whatever it started is closed again.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.Cell.Register != nil || cfg.Cell.Courier != nil || cfg.Control.Routers != nil {
		return nil, errors.New("control: StartNode sets Cell.Register, Cell.Courier and Control.Routers: leave them nil")
	}
	sec := cfg.Security
	if sec == nil {
		return nil, errors.New("control: NodeConfig.Security is required (auth.Secure, or auth.Insecure for --insecure)")
	}
	if want := (auth.Identity{Role: auth.RoleNode, Name: cfg.Cell.NodeID}); !sec.IsInsecure() && sec.Identity() != want {
		return nil, fmt.Errorf("control: node %s was given the certificate of %s, want %s", cfg.Cell.NodeID, sec.Identity(), want)
	}
	if cfg.Gossip != nil && !sec.IsInsecure() && len(cfg.Gossip.SecretKeys) == 0 {
		return nil, errors.New("control: gossip needs its keys (gossip.Config.SecretKeys) unless the node runs insecure")
	}
	raftAuthz := sec.Authorizer("raft")
	raftAuthz.ClaimedNode = transport.ClaimedNodeID
	cfg.Cell.RaftServerTLS, cfg.Cell.RaftClientTLS, cfg.Cell.ClientServerTLS = sec.ServerTLS(), sec.ClientTLS(), sec.ServerTLS()
	cfg.Cell.RaftServerOptions = raftAuthz.ServerOptions()
	cfg.Cell.ClientServerOptions = sec.Authorizer("node-grpc").ServerOptions()
	cfg.Control.TLS = sec.ClientTLS()
	n := &Node{}
	ccfg := cfg.Control
	if ccfg.Topology == nil {
		ccfg.Topology = cfg.Cell.Topology
	}
	if ccfg.Dialer == nil {
		ccfg.Dialer = cfg.Cell.Dialer
	}
	// The control plane is built before the gossip agent it asks for the
	// routers (which needs the cell node), so it asks through n.
	ccfg.Routers = n.routers
	ctl, err := NewControl(ccfg)
	if err != nil {
		return nil, err
	}
	n.Control = ctl
	n.courier = NewCourier(cfg.Cell.Topology, cfg.Cell.Dialer, sec.ClientTLS(), 0)
	ncfg := cfg.Cell
	ncfg.Register, ncfg.Courier = ctl.Register, n.courier
	if cfg.WrapCourier != nil {
		ncfg.Courier = cfg.WrapCourier(n.courier)
	}
	if n.Cell, err = cell.StartNode(ncfg); err != nil {
		return nil, errors.Join(err, n.courier.Close())
	}
	if err := ctl.Start(n.Cell); err != nil {
		return nil, errors.Join(err, n.Cell.Close(0), n.courier.Close())
	}
	if cfg.Gossip != nil {
		self, _ := cfg.Cell.Topology.Node(n.Cell.ID()) // known: the cell node started
		g := *cfg.Gossip
		if g.Admit == nil {
			g.Admit = gossip.AdmitTopology(cfg.Cell.Topology)
		}
		agent, err := JoinNodeAs(n.Cell, self, g)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("control: joining gossip: %w", err), ctl.Close(), n.Cell.Close(0), n.courier.Close())
		}
		n.mu.Lock()
		n.agent = agent
		n.mu.Unlock()
	}
	return n, nil
}

func (n *Node) routers() []RouterInfo {
	if a := n.Agent(); a != nil {
		return a.Routers()
	}
	return nil
}

// Agent is the node's gossip membership (nil without gossip).
func (n *Node) Agent() *NodeAgent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.agent
}

// Close stops the node in reverse order of its start: gossip, control
// plane, cell node (requests in flight get up to drain), courier.
func (n *Node) Close(drain time.Duration) error {
	var errs []error
	if a := n.Agent(); a != nil {
		errs = append(errs, a.Close())
	}
	errs = append(errs, n.Control.Close(), n.Cell.Close(drain), n.courier.Close())
	return errors.Join(errs...)
}
