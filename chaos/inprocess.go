package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/cluster"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/router/client"
	"google.golang.org/protobuf/proto"
)

// inProcess is a Target over a chaos/cluster in this process: its network
// is the cluster's fabric, its state is read straight from the nodes' stores.
type inProcess struct {
	c *cluster.Cluster
}

// StartInProcess starts a fresh in-process three-site cluster (one node
// and one router per site, three cells) with its data in dir, as a Target.
// Close stops it.
func StartInProcess(dir string, seed int64, logger *slog.Logger) (Target, error) {
	c, err := cluster.Start(cluster.Config{Dir: dir, Seed: seed, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &inProcess{c: c}, nil
}

var _ Crasher = (*inProcess)(nil)

func (p *inProcess) Topology() *topology.Topology { return p.c.Topology }

func (p *inProcess) ClientConfig(region string) client.Config {
	return client.Config{Region: region, Routers: p.c.RouterAddrs(), Dialer: p.c.ClientDialer(region)}
}

func (p *inProcess) Leaders(context.Context) map[uint64]string {
	out := map[uint64]string{}
	for _, cl := range p.c.Topology.Cells() {
		if id := p.c.Leader(cl.ID); id != "" {
			out[cl.ID] = id
		}
	}
	return out
}

func (p *inProcess) MoveLeader(ctx context.Context, cellID uint64, nodeID string) error {
	return p.c.TransferLeadership(ctx, cellID, nodeID)
}

func (p *inProcess) Replicas(context.Context) map[uint64][]history.Replica {
	out := map[uint64][]history.Replica{}
	for _, cl := range p.c.Topology.Cells() {
		for _, id := range cl.Replicas {
			n := p.c.Node(id)
			if n == nil {
				continue
			}
			g, err := n.Host().Group(cl.ID)
			if err != nil {
				continue
			}
			applied, sha, err := g.StateDigest()
			if err != nil {
				continue
			}
			out[cl.ID] = append(out[cl.ID], history.Replica{Node: id, Applied: applied, Digest: fmt.Sprintf("%x", sha)})
		}
	}
	return out
}

// ReadLedger reads every cell's leader store: its deposit totals, every
// transfer it holds, and the balances of accounts.
func (p *inProcess) ReadLedger(_ context.Context, accounts []string) (history.Final, error) {
	final := history.Final{Balances: map[string]int64{}, Transfers: map[string]history.Transfer{}}
	leader := func(cellID uint64) (*cell.Node, error) {
		n := p.c.Node(p.c.Leader(cellID))
		if n == nil {
			return nil, fmt.Errorf("chaos: cell %d has no leader", cellID)
		}
		return n, nil
	}
	for _, cl := range p.c.Topology.Cells() {
		n, err := leader(cl.ID)
		if err != nil {
			return final, err
		}
		g, err := n.Host().Group(cl.ID)
		if err != nil {
			return final, err
		}
		r := g.Reader()
		tot, err := cell.ReadTotals(r)
		if err != nil {
			return final, err
		}
		for _, d := range tot.Deposited {
			final.Deposited += d
		}
		var decodeErr error
		err = r.Scan([]byte("t/"), []byte("t0"), func(k, v []byte) bool {
			var rec pb.TransferRecord
			if decodeErr = proto.Unmarshal(v, &rec); decodeErr != nil {
				return false
			}
			addRecord(&final, &rec)
			return true
		})
		if err = errors.Join(err, decodeErr); err != nil {
			return final, err
		}
	}
	for _, a := range accounts {
		owner, _ := p.c.Topology.CellOfAccount(a)
		n, err := leader(owner.ID)
		if err != nil {
			return final, err
		}
		g, err := n.Host().Group(owner.ID)
		if err != nil {
			return final, err
		}
		acc, err := cell.GetAccount(g.Reader(), a)
		if err != nil {
			return final, err
		}
		final.Balances[a] = acc.GetBalanceMinor()
	}
	return final, nil
}

func (p *inProcess) Cut(a, b string) error     { p.c.Fabric.Cut(a, b); return nil }
func (p *inProcess) Heal(a, b string) error    { p.c.Fabric.Heal(a, b); return nil }
func (p *inProcess) Isolate(site string) error { p.c.Fabric.Isolate(site); return nil }
func (p *inProcess) HealAll() error            { p.c.Fabric.HealAll(); return nil }
func (p *inProcess) CutIngress(site string) error {
	for _, r := range regionsOf(p.c.Topology) {
		p.c.Fabric.Cut(cluster.ClientSite(r), site)
	}
	return nil
}

func (p *inProcess) Delay(a, b string) (time.Duration, time.Duration, error) {
	l := p.c.Fabric.Link(a, b)
	return l.Delay, l.Jitter, nil
}

func (p *inProcess) SetDelay(a, b string, oneWay, jitter time.Duration) error {
	p.c.Fabric.SetDelay(a, b, oneWay, jitter)
	return nil
}

func (p *inProcess) CrashNode(id string) error       { return p.c.StopNode(id) }
func (p *inProcess) RestartNode(id string) error     { return p.c.RestartNode(id) }
func (p *inProcess) CrashRouter(site string) error   { return p.c.StopRouter(site) }
func (p *inProcess) RestartRouter(site string) error { return p.c.StartRouter(site) }

func (p *inProcess) Describe() string {
	t := p.c.Topology
	return fmt.Sprintf("in-process cluster: %d sites, %d nodes, %d cells, one router per site", len(t.Sites()), len(t.Nodes()), len(t.Cells()))
}

func (p *inProcess) Close() error { return p.c.Close() }
