package control

import (
	"context"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/router/gossip"
	"github.com/cellpay/cellpay/router/meta"
)

// NodeAgent is a node's membership in the gossip pool: it advertises the
// node's site, client address and the cells it leads with their terms, and
// re-gossips whenever a leadership changes.
type NodeAgent struct {
	agent  *gossip.Agent
	cancel func()
	done   chan struct{}
}

// JoinNode starts gossip for node, advertising the address its client
// listener has; cfg.Name and cfg.Meta are filled here. Prefer JoinNodeAs:
// when the topology names the node's host, the listener's (resolved)
// address differs from the topology's and gossip.AdmitTopology refuses it.
func JoinNode(node *cell.Node, site string, cfg gossip.Config) (*NodeAgent, error) {
	return join(node, site, node.ClientAddr(), cfg)
}

// JoinNodeAs starts gossip for node, advertising the site and client
// address that self (the node's entry in the topology) has: what
// gossip.AdmitTopology checks. cfg.Name and cfg.Meta are filled here.
func JoinNodeAs(node *cell.Node, self topology.Node, cfg gossip.Config) (*NodeAgent, error) {
	return join(node, self.Site, self.ClientAddr, cfg)
}

func join(node *cell.Node, site, clientAddr string, cfg gossip.Config) (*NodeAgent, error) {
	host := node.Host()
	cfg.Name = node.ID()
	cfg.Meta = func() *pb.MemberMeta {
		m := &pb.MemberMeta{Kind: gossip.KindNode, Site: site, ClientAddr: clientAddr}
		for _, g := range host.Groups() {
			if g.IsLeader() && g.ID() != meta.GroupID {
				_, _, term := g.Leader()
				m.Leads = append(m.Leads, &pb.LeaderClaim{CellId: g.ID(), Term: term})
			}
		}
		return m
	}
	agent, err := gossip.Start(cfg)
	if err != nil {
		return nil, err
	}
	events, cancelWatch := host.WatchLeaders()
	ctx, cancel := context.WithCancel(context.Background())
	a := &NodeAgent{agent: agent, done: make(chan struct{})}
	a.cancel = func() { cancel(); cancelWatch() }
	go func() {
		defer close(a.done)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-events:
				if !ok {
					return
				}
				agent.UpdateMeta()
			}
		}
	}()
	return a, nil
}

// Routers lists the routers the pool knows as alive or suspect, for the
// failover controller to observe.
func (a *NodeAgent) Routers() []RouterInfo {
	var out []RouterInfo
	for _, m := range a.agent.Members() {
		if m.Meta.GetKind() == gossip.KindRouter && m.Live() {
			out = append(out, RouterInfo{ID: m.Name, Site: m.Meta.GetSite(), Addr: m.Meta.GetClientAddr()})
		}
	}
	return out
}

// Addr is the node's gossip address.
func (a *NodeAgent) Addr() string { return a.agent.Addr() }

// Close leaves the pool.
func (a *NodeAgent) Close() error {
	a.cancel()
	<-a.done
	return a.agent.Close()
}
