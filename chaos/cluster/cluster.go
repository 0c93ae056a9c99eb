// Package cluster runs a whole cellpay cluster in one process: nodes and
// routers of several sites on loopback, their Raft links, router-to-node
// links, clients' ingress and gossip (streams and datagrams) through a chaos
// fabric (so a test can cut a site off like a fiber cut), real Raft, Pebble,
// gRPC and gossip. Tests, chaos runs and the demo
// use it.
//
// Callers' duties: give a fresh Dir; Close the cluster (it stops every
// router, node and gossip agent, and the fabric).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/fabric"
	"github.com/cellpay/cellpay/replication/storage"
	"github.com/cellpay/cellpay/router"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/gossip"
)

// Config shapes the cluster. Zero fields take the defaults.
type Config struct {
	// Dir holds every node's data. Required.
	Dir string
	// Sites default to hz-a and hz-b (region hangzhou) and sh-a (shanghai).
	Sites []topology.Site
	// NodesPerSite defaults to 1; Cells to 3, homed round-robin over the
	// sites, each with one replica per site.
	NodesPerSite, Cells int
	// SameRegionRTT and CrossRegionRTT are the topology's RTTs (defaults
	// 2 ms and 30 ms). EmulateRTT also delays the fabric's links by them.
	SameRegionRTT, CrossRegionRTT time.Duration
	EmulateRTT                    bool
	// HeartbeatIntervalMin floors raft's heartbeat (default 100 ms: 1 s
	// election timeouts, safe on a busy two-core machine).
	HeartbeatIntervalMin time.Duration
	// RouterRequestTimeout is each router's request deadline (default 5 s).
	RouterRequestTimeout time.Duration
	Seed                 int64
	Logger               *slog.Logger
	// Control, if set, adjusts every node's control-plane configuration
	// (failover thresholds, operators) before it starts.
	Control func(*control.ControlConfig)
	// ProviderNames are the simulated payout providers every node pays
	// through, in order of preference (default "bank-a", "bank-b"); Sim
	// returns each. Payouts tunes the executor (its Providers are set here).
	ProviderNames []string
	Payouts       cell.PayoutConfig
	// ProviderWrap, if set, is what the nodes call instead of each
	// simulated provider (a test's misbehaving bank); Sim still returns the
	// simulator, whose statement is what was really paid.
	ProviderWrap func(*channel.Sim) channel.Provider
	// ProviderConfig, if set, adjusts each simulated provider's config
	// (from channel.DefaultSimConfig) before it starts, e.g. its
	// idempotency window.
	ProviderConfig func(*channel.SimConfig)
	// Insecure runs every listener and dialer on plain TCP, without
	// identities (a quick look); by default the cluster makes a throwaway
	// CA and speaks mutual TLS everywhere (certs.go).
	Insecure bool
}

func (c *Config) defaults() {
	if len(c.Sites) == 0 {
		c.Sites = []topology.Site{{ID: "hz-a", Region: "hangzhou"}, {ID: "hz-b", Region: "hangzhou"}, {ID: "sh-a", Region: "shanghai"}}
	}
	if c.NodesPerSite == 0 {
		c.NodesPerSite = 1
	}
	if c.Cells == 0 {
		c.Cells = 3
	}
	if c.SameRegionRTT == 0 {
		c.SameRegionRTT = 2 * time.Millisecond
	}
	if c.CrossRegionRTT == 0 {
		c.CrossRegionRTT = 30 * time.Millisecond
	}
	if c.HeartbeatIntervalMin == 0 {
		c.HeartbeatIntervalMin = 100 * time.Millisecond
	}
	if c.RouterRequestTimeout == 0 {
		c.RouterRequestTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(c.ProviderNames) == 0 {
		c.ProviderNames = []string{"bank-a", "bank-b"}
	}
}

// Cluster is a running in-process cluster.
type Cluster struct {
	cfg      Config
	Topology *topology.Topology
	Fabric   *fabric.Fabric

	// sims are the payout providers: outside the cluster, shared by every
	// node, as a bank is.
	sims map[string]*channel.Sim

	mu          sync.Mutex
	nodes       map[string]*node
	routers     map[string]*router.Router // by site
	routerAddrs map[string]string         // by site, kept across restarts
	httpAddrs   map[string]string
	seed        string // a gossip address to join
	// Prometheus registries of each node (by id) and router (by site),
	// kept across restarts as a scraper sees one process's metrics.
	nodeRegs, routerRegs map[string]*prometheus.Registry

	// gossipKeys encrypt the cluster's gossip (none when insecure).
	gossipKeys [][]byte
	// credit is the fault of the cross-cell credit path (creditfault.go).
	credit creditFaultState
}

type node struct {
	n   *control.Node
	dir string
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// Start builds the topology, starts every node (with gossip) and one router
// per site.
func Start(cfg Config) (_ *Cluster, err error) {
	cfg.defaults()
	if cfg.Dir == "" {
		return nil, errors.New("cluster: Config.Dir is required")
	}
	c := &Cluster{cfg: cfg, Fabric: fabric.New(cfg.Seed), nodes: map[string]*node{}, routers: map[string]*router.Router{},
		routerAddrs: map[string]string{}, httpAddrs: map[string]string{}, sims: map[string]*channel.Sim{}}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	for _, name := range cfg.ProviderNames {
		simCfg := channel.DefaultSimConfig(name)
		if cfg.ProviderConfig != nil {
			cfg.ProviderConfig(&simCfg)
		}
		sim, err := channel.NewSim(simCfg)
		if err != nil {
			return nil, err
		}
		c.sims[name] = sim
		var p channel.Provider = sim
		if cfg.ProviderWrap != nil {
			p = cfg.ProviderWrap(sim)
		}
		c.cfg.Payouts.Providers = append(c.cfg.Payouts.Providers, p)
	}
	spec := topology.Spec{Environment: "test", Sites: cfg.Sites}
	for i, a := range cfg.Sites {
		for _, b := range cfg.Sites[i+1:] {
			rtt := cfg.CrossRegionRTT
			if a.Region == b.Region {
				rtt = cfg.SameRegionRTT
			}
			spec.RTTs = append(spec.RTTs, topology.SiteRTT{A: a.ID, B: b.ID, RTT: rtt})
			if cfg.EmulateRTT {
				c.Fabric.SetDelay(a.ID, b.ID, rtt/2, rtt/20)
			}
		}
	}
	raftLns, clientLns := map[string]net.Listener{}, map[string]net.Listener{}
	closeLns := func() {
		for _, l := range raftLns {
			_ = l.Close()
		}
		for _, l := range clientLns {
			_ = l.Close()
		}
	}
	for _, s := range cfg.Sites {
		for k := 1; k <= cfg.NodesPerSite; k++ {
			id := fmt.Sprintf("%s-%d", s.ID, k)
			r, err := listen()
			if err != nil {
				closeLns()
				return nil, err
			}
			raftLns[id] = r
			cl, err := listen()
			if err != nil {
				closeLns()
				return nil, err
			}
			clientLns[id] = cl
			c.Fabric.Register(r.Addr().String(), s.ID)
			c.Fabric.Register(cl.Addr().String(), s.ID)
			spec.Nodes = append(spec.Nodes, topology.Node{ID: id, Site: s.ID, RaftAddr: r.Addr().String(), ClientAddr: cl.Addr().String()})
		}
	}
	for i := 0; i < cfg.Cells; i++ {
		first := i * topology.Slots / cfg.Cells
		last := (i+1)*topology.Slots/cfg.Cells - 1
		cellSpec := topology.Cell{ID: uint64(i + 1), Home: cfg.Sites[i%len(cfg.Sites)].ID, Slots: []topology.SlotRange{{First: first, Last: last}}}
		for _, s := range cfg.Sites {
			cellSpec.Replicas = append(cellSpec.Replicas, fmt.Sprintf("%s-%d", s.ID, 1+i%cfg.NodesPerSite))
		}
		spec.Cells = append(spec.Cells, cellSpec)
	}
	if c.Topology, err = topology.New(spec); err != nil {
		closeLns()
		return nil, err
	}
	if err := c.issueCerts(); err != nil {
		closeLns()
		return nil, err
	}
	for _, n := range c.Topology.Nodes() {
		if err := c.startNode(n, raftLns[n.ID], clientLns[n.ID]); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Sites {
		if err := c.StartRouter(s.ID); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startNode(n topology.Node, raftLn, clientLn net.Listener) error {
	dir := filepath.Join(c.cfg.Dir, n.ID)
	reg := c.registry(&c.nodeRegs, n.ID)
	ccfg := control.DefaultControlConfig()
	ccfg.Logger, ccfg.Metrics = c.cfg.Logger, reg
	ccfg.Reconcile.Statements = map[string]channel.StatementReader{}
	for name, sim := range c.sims {
		ccfg.Reconcile.Statements[name] = sim
	}
	if c.cfg.Control != nil {
		c.cfg.Control(&ccfg)
	}
	gcfg := gossip.DefaultConfig()
	gcfg.BindAddr, gcfg.Logger = "127.0.0.1:0", c.cfg.Logger
	gcfg.Dialer, gcfg.WrapPacketConn = c.Fabric.Dialer(n.Site), c.gossipPacketConn(n.Site)
	gcfg.SecretKeys = c.gossipKeys
	c.mu.Lock()
	if c.seed != "" {
		gcfg.Seeds = []string{c.seed}
	}
	c.mu.Unlock()
	sec, err := c.Security(auth.Identity{Role: auth.RoleNode, Name: n.ID})
	if err != nil {
		_ = raftLn.Close()
		_ = clientLn.Close()
		return err
	}
	cn, err := control.StartNode(control.NodeConfig{
		Security: sec,
		Cell: cell.NodeConfig{
			Topology: c.Topology, NodeID: n.ID, DataDir: dir, RaftListener: raftLn, ClientListener: clientLn,
			Dialer: c.Fabric.Dialer(n.Site), HeartbeatIntervalMin: c.cfg.HeartbeatIntervalMin,
			Logger: c.cfg.Logger, RaftLogOutput: io.Discard, Payouts: c.cfg.Payouts, Metrics: reg,
		},
		Control:     ccfg,
		Gossip:      &gcfg,
		WrapCourier: c.faultableCourier,
	})
	if err != nil {
		_ = raftLn.Close()
		_ = clientLn.Close()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seed == "" {
		c.seed = cn.Agent().Addr()
	}
	c.nodes[n.ID] = &node{n: cn, dir: dir}
	return nil
}

// StartRouter starts (or restarts, on its old addresses) the router of site.
func (c *Cluster) StartRouter(site string) error {
	c.mu.Lock()
	addr, httpAddr, seed := c.routerAddrs[site], c.httpAddrs[site], c.seed
	c.mu.Unlock()
	if addr == "" {
		addr, httpAddr = "127.0.0.1:0", "127.0.0.1:0"
	}
	ln, err := listenRetry(addr)
	if err != nil {
		return err
	}
	hln, err := listenRetry(httpAddr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	// Clients reach routers through the fabric too (ingress links from the
	// pseudo-sites ClientSite(region) to the router's site).
	c.Fabric.Register(ln.Addr().String(), site)
	c.Fabric.Register(hln.Addr().String(), site)
	cfg := router.DefaultConfig()
	cfg.Topology, cfg.ID, cfg.Site = c.Topology, routerID(site), site
	sec, err := c.Security(auth.Identity{Role: auth.RoleRouter, Name: cfg.ID})
	if err != nil {
		_ = ln.Close()
		_ = hln.Close()
		return err
	}
	cfg.ServerTLS, cfg.NodeTLS = sec.ServerTLS(), sec.ClientTLS()
	cfg.ServerOptions = sec.Authorizer("router-grpc").ServerOptions()
	cfg.Listener, cfg.HTTPListener = ln, hln
	cfg.GossipAddr, cfg.GossipSeeds = "127.0.0.1:0", []string{seed}
	cfg.NodeDialer = c.Fabric.Dialer(site)
	cfg.GossipDialer, cfg.GossipPacketConn = c.Fabric.Dialer(site), c.gossipPacketConn(site)
	cfg.GossipKeys = c.gossipKeys
	if s, ok := c.Topology.Site(site); ok {
		cfg.IngressDialer = c.ClientDialer(s.Region) // an outside prober in the router's region
	}
	cfg.RequestTimeout = c.cfg.RouterRequestTimeout
	cfg.Logger, cfg.Metrics = c.cfg.Logger, c.registry(&c.routerRegs, site)
	r, err := router.Start(cfg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routers[site] = r
	c.routerAddrs[site], c.httpAddrs[site] = r.Addr(), hln.Addr().String()
	return nil
}

// gossipPacketConn puts a gossip member of site on the fabric: its address
// (the same host:port for its UDP and TCP) is registered the moment it is
// bound, before anyone can learn it, and its datagrams cross the links.
func (c *Cluster) gossipPacketConn(site string) func(net.PacketConn) net.PacketConn {
	return func(pc net.PacketConn) net.PacketConn {
		c.Fabric.Register(pc.LocalAddr().String(), site)
		return c.Fabric.PacketConn(site, pc)
	}
}

// listenRetry listens on addr, retrying briefly while an old socket lingers.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// ClientSite is the fabric's pseudo-site of the clients of region: cutting
// the links from it to a site is an ingress cut.
func ClientSite(region string) string { return "clients-" + region }

// ClientDialer dials routers as a client in region does, through the fabric.
func (c *Cluster) ClientDialer(region string) func(ctx context.Context, addr string) (net.Conn, error) {
	return c.Fabric.Dialer(ClientSite(region))
}

// StopNode stops node id abruptly (no drain), keeping its data and
// addresses for RestartNode.
func (c *Cluster) StopNode(id string) error {
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if n == nil {
		return fmt.Errorf("cluster: node %q is not running", id)
	}
	return n.n.Close(0)
}

// RestartNode starts node id again from its data directory.
func (c *Cluster) RestartNode(id string) error {
	n, ok := c.Topology.Node(id)
	if !ok {
		return fmt.Errorf("cluster: node %q is not in the topology", id)
	}
	raftLn, err := listenRetry(n.RaftAddr)
	if err != nil {
		return err
	}
	clientLn, err := listenRetry(n.ClientAddr)
	if err != nil {
		_ = raftLn.Close()
		return err
	}
	return c.startNode(n, raftLn, clientLn)
}

// StopRouter stops the router of site (its addresses are kept for a restart).
func (c *Cluster) StopRouter(site string) error {
	c.mu.Lock()
	r := c.routers[site]
	delete(c.routers, site)
	c.mu.Unlock()
	if r == nil {
		return fmt.Errorf("cluster: no router running in site %q", site)
	}
	return r.Close(time.Second)
}

// RouterAddr is the gRPC address of site's router; HTTPAddr its HTTP one.
func (c *Cluster) RouterAddr(site string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routerAddrs[site]
}

// HTTPAddr is the HTTP/JSON address of site's router.
func (c *Cluster) HTTPAddr(site string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.httpAddrs[site]
}

// NodeMetrics is the Prometheus registry of node id (its Cell service,
// relay, payouts and control plane); RouterMetrics that of site's router.
// Each is kept across restarts, so counts go on.
func (c *Cluster) NodeMetrics(id string) *prometheus.Registry { return c.registry(&c.nodeRegs, id) }

// RouterMetrics is the Prometheus registry of site's router.
func (c *Cluster) RouterMetrics(site string) *prometheus.Registry {
	return c.registry(&c.routerRegs, site)
}

func (c *Cluster) registry(regs *map[string]*prometheus.Registry, key string) *prometheus.Registry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *regs == nil {
		*regs = map[string]*prometheus.Registry{}
	}
	if (*regs)[key] == nil {
		(*regs)[key] = prometheus.NewRegistry()
	}
	return (*regs)[key]
}

// RouterAddrs groups the router addresses by region, for router/client.
func (c *Cluster) RouterAddrs() map[string][]string {
	out := map[string][]string{}
	for _, s := range c.Topology.Sites() {
		out[s.Region] = append(out[s.Region], c.RouterAddr(s.ID))
	}
	for _, addrs := range out {
		sort.Strings(addrs)
	}
	return out
}

// Node returns a running node.
func (c *Cluster) Node(id string) *cell.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.n.Cell
	}
	return nil
}

// Leader returns the node that leads cellID now ("" if none).
func (c *Cluster) Leader(cellID uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, n := range c.nodes {
		if g, err := n.n.Cell.Host().Group(cellID); err == nil && g.IsLeader() {
			return id
		}
	}
	return ""
}

// TransferLeadership moves cellID's leadership to nodeID (a drill by hand).
// The failover controller moves leaders too: a transfer refused because
// another is under way is tried again until ctx ends.
func (c *Cluster) TransferLeadership(ctx context.Context, cellID uint64, nodeID string) error {
	for {
		leader := c.Leader(cellID)
		if leader != "" {
			g, err := c.Node(leader).Host().Group(cellID)
			if err != nil {
				return err
			}
			err = g.TransferLeadership(ctx, nodeID)
			if !errors.Is(err, raft.ErrLeadershipTransferInProgress) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: cell %d: no transfer to %s before the deadline: %w", cellID, nodeID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LeadersHome moves every cell's leadership to its replica in its home
// site and waits until each leads there. The failover controller moves
// cells home too, so a transfer refused because another is under way is
// retried until ctx ends.
func (c *Cluster) LeadersHome(ctx context.Context) error {
	var errs []error
	for _, cl := range c.Topology.Cells() {
		home := ""
		for _, id := range cl.Replicas {
			if n, _ := c.Topology.Node(id); n.Site == cl.Home {
				home = id
			}
		}
		if home == "" {
			continue
		}
		// Done once the leader is seen at home (Leader reads "" for a moment
		// during any election, so it is not read twice).
		var last error
		for c.Leader(cl.ID) != home {
			if ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("cluster: cell %d does not lead at home %s: %w", cl.ID, home, errors.Join(last, ctx.Err())))
				break
			}
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			last = c.TransferLeadership(tctx, cl.ID, home)
			cancel()
			if last != nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	return errors.Join(errs...)
}

// WaitLeaders waits until every cell has a leader.
func (c *Cluster) WaitLeaders(ctx context.Context) error {
	for _, cl := range c.Topology.Cells() {
		for c.Leader(cl.ID) == "" {
			select {
			case <-ctx.Done():
				return fmt.Errorf("cluster: cell %d has no leader: %w", cl.ID, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Close stops routers, then nodes and their gossip, then the fabric.
func (c *Cluster) Close() error {
	c.mu.Lock()
	routers, nodes := c.routers, c.nodes
	c.routers, c.nodes = map[string]*router.Router{}, map[string]*node{}
	c.mu.Unlock()
	var errs []error
	for _, r := range routers {
		errs = append(errs, r.Close(time.Second))
	}
	for _, n := range nodes {
		errs = append(errs, n.n.Close(time.Second))
	}
	errs = append(errs, c.Fabric.Close())
	for _, sim := range c.sims {
		_ = sim.Close()
	}
	return errors.Join(errs...)
}

// Reconcile runs a reconciliation of every cell (control.Reconciler, with
// the simulated providers' statements), dialing the nodes directly.
func (c *Cluster) Reconcile(ctx context.Context, since time.Time, stuckAfter time.Duration) (reconcile.Report, error) {
	statements := map[string]channel.StatementReader{}
	for name, sim := range c.sims {
		statements[name] = sim
	}
	return c.ReconcileWith(ctx, since, stuckAfter, statements)
}

// ReconcileWith is Reconcile with the given statements.
func (c *Cluster) ReconcileWith(ctx context.Context, since time.Time, stuckAfter time.Duration, statements map[string]channel.StatementReader) (reconcile.Report, error) {
	r, err := control.NewReconciler(control.ReconcilerConfig{Topology: c.Topology, TLS: c.As(auth.RoleOperator).ClientTLS(),
		Statements: statements, StuckAfter: stuckAfter})
	if err != nil {
		return reconcile.Report{}, err
	}
	defer r.Close()
	return r.Run(ctx, nil, since)
}

// Sim returns the simulated payout provider of that name (nil if none).
func (c *Cluster) Sim(name string) *channel.Sim { return c.sims[name] }

// ProviderNames are the simulated payout providers, in the nodes' order of
// preference.
func (c *Cluster) ProviderNames() []string { return slices.Clone(c.cfg.ProviderNames) }

// AlterStateOnDisk changes a stopped node's stored state behind Raft's
// back: it sets key (a state key of the cell, e.g. "a/<account>") to value
// directly in the node's Pebble store, as a disk fault or an operator's
// hand edit would. Reconciliation must catch it. The node must be stopped
// (StopNode); restart it with RestartNode.
func (c *Cluster) AlterStateOnDisk(nodeID string, cellID uint64, key, value []byte) error {
	c.mu.Lock()
	_, running := c.nodes[nodeID]
	c.mu.Unlock()
	if running {
		return fmt.Errorf("cluster: node %q is running; stop it first", nodeID)
	}
	db, err := pebble.Open(filepath.Join(c.cfg.Dir, nodeID, "pebble"), &pebble.Options{})
	if err != nil {
		return err
	}
	err = db.Set(storage.StateKey(storage.GroupID(cellID), key), value, pebble.Sync)
	return errors.Join(err, db.Close())
}
