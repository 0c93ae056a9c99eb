package chaos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/cellpay/cellpay/api/auth"
	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/proxy"
	"github.com/cellpay/cellpay/router/client"
)

// ErrInvalidTarget marks DialRemote's errors about the configuration (a
// topology or proxy config that cannot describe a reachable cluster), as
// opposed to a proxy that does not answer.
var ErrInvalidTarget = errors.New("chaos: invalid target")

// RemoteConfig describes a running cluster of separate processes whose
// inter-site and client traffic goes through one chaos proxy.
type RemoteConfig struct {
	// Topology is the cluster's topology. Required.
	Topology *topology.Topology
	// Proxy is the proxy's config (the file `cellpay chaos proxy` runs):
	// its control address, and its client routes (from_site
	// "clients-REGION"), which name every router and are how the workload
	// reaches them. Every router needs a route from every client region.
	Proxy proxy.Config
	// PidDir, if set, holds the processes' pid files, node-NODE.pid and
	// router-SITE.pid (as deploy/local/cluster-up.sh writes them): the
	// target can then crash and restart them (Crasher; Linux only).
	PidDir string
	// CallTimeout bounds one call to a node or to the proxy (default 2 s).
	CallTimeout time.Duration
	// OperatorTLS secures the run's own calls to the nodes (an operator's
	// certificate); ClientTLS the workload's calls to the routers (an API
	// client's). Nil: plain TCP (a cluster run with --insecure).
	OperatorTLS, ClientTLS *tls.Config
}

// remote is a Target over separate processes: faults through the proxy's
// control API, clients through its ingress routes, leaders, digests and the
// ledger read from the nodes' Control and Cell services, dialed directly
// (the run is an operator outside every site, so a cut never blinds it).
type remote struct {
	topo        *topology.Topology
	ctl         *proxy.Client
	routers     map[string][]string // region -> router addresses
	dialers     map[string]func(ctx context.Context, addr string) (net.Conn, error)
	callTimeout time.Duration
	procs       *procs // nil without PidDir
	operatorTLS *tls.Config
	clientTLS   *tls.Config

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by node id
}

// DialRemote checks cfg and that the proxy's control API answers, and
// returns the cluster as a Target. It starts nothing; Close drops its
// connections. When cfg.PidDir is set the Target is also a Crasher.
func DialRemote(ctx context.Context, cfg RemoteConfig) (Target, error) {
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	if cfg.Topology == nil {
		return nil, fmt.Errorf("%w: RemoteConfig.Topology is required", ErrInvalidTarget)
	}
	topo := cfg.Topology
	r := &remote{topo: topo, routers: map[string][]string{}, dialers: map[string]func(context.Context, string) (net.Conn, error){},
		callTimeout: cfg.CallTimeout, conns: map[string]*grpc.ClientConn{}, operatorTLS: cfg.OperatorTLS, clientTLS: cfg.ClientTLS}
	var errs []error
	regionOf := map[string]string{}
	for _, s := range topo.Sites() {
		regionOf[s.ID] = s.Region
	}
	// Routers are the targets of the client routes; each region's clients
	// must have a route to every one of them, or the workload would reach
	// some router around the proxy.
	reachedFrom := map[string][]string{} // router address -> client regions with a route to it
	for i, route := range cfg.Proxy.Routes {
		region, ok := clientRegion(route.FromSite, regionOf)
		if !ok {
			continue
		}
		targetRegion, known := regionOf[route.TargetSite]
		if !known {
			errs = append(errs, fmt.Errorf("chaos: proxy routes[%d] (%s): target site %q is not in the topology", i, route.FromSite+">"+route.TargetAddr, route.TargetSite))
			continue
		}
		if !slices.Contains(r.routers[targetRegion], route.TargetAddr) {
			r.routers[targetRegion] = append(r.routers[targetRegion], route.TargetAddr)
		}
		reachedFrom[route.TargetAddr] = append(reachedFrom[route.TargetAddr], region)
	}
	regions := regionsOf(topo)
	if len(reachedFrom) == 0 {
		errs = append(errs, fmt.Errorf("chaos: the proxy config has no client routes (from_site %q and the like): the workload could not reach any router through it", proxy.ClientSite(regions[0])))
	}
	for addr, from := range reachedFrom {
		for _, region := range regions {
			if !slices.Contains(from, region) {
				errs = append(errs, fmt.Errorf("chaos: the proxy config has no route from %s to router %s", proxy.ClientSite(region), addr))
			}
		}
	}
	// The proxy must be the one the processes dial: every site needs a
	// route to every node of the other sites, as `--via-proxy` requires.
	for _, s := range topo.Sites() {
		redirects, err := cfg.Proxy.RedirectsFrom(s.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var outside []string
		for _, n := range topo.Nodes() {
			if n.Site != s.ID {
				outside = append(outside, n.RaftAddr, n.ClientAddr)
			}
		}
		if missing := redirects.Missing(outside); len(missing) > 0 {
			errs = append(errs, fmt.Errorf("chaos: the proxy config has no route from site %s to %v: it is not the proxy of this topology's cluster", s.ID, missing))
		}
	}
	for _, region := range regions {
		redirects, err := cfg.Proxy.RedirectsFrom(proxy.ClientSite(region))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.dialers[region] = redirects.Dialer(nil)
		if len(r.routers[region]) == 0 && len(reachedFrom) > 0 {
			errs = append(errs, fmt.Errorf("chaos: no router in region %s among the proxy's client routes: client.Config needs the routers of every region", region))
		}
	}
	if cfg.PidDir != "" {
		p, err := newProcs(cfg.PidDir)
		if err != nil {
			errs = append(errs, err)
		}
		r.procs = p
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalidTarget, err)
	}
	for _, addrs := range r.routers {
		slices.Sort(addrs)
	}
	controlAddr := cfg.Proxy.ControlAddr
	if controlAddr == "" {
		controlAddr = proxy.DefaultControlAddr
	}
	r.ctl = proxy.NewClient(controlAddr, cfg.CallTimeout)
	if _, err := r.ctl.Status(ctx); err != nil {
		r.ctl.Close()
		return nil, fmt.Errorf("chaos: the target's chaos proxy: %w", err)
	}
	if r.procs != nil {
		return &remoteCrasher{r}, nil
	}
	return r, nil
}

// remoteCrasher is a remote target that knows its processes' pid files.
type remoteCrasher struct{ *remote }

var _ Crasher = remoteCrasher{}

// clientRegion returns the region of a client pseudo-site ("clients-R").
func clientRegion(site string, regionOf map[string]string) (string, bool) {
	for _, region := range regionOf {
		if site == proxy.ClientSite(region) {
			return region, true
		}
	}
	return "", false
}

func (r *remote) Topology() *topology.Topology { return r.topo }

func (r *remote) ClientConfig(region string) client.Config {
	routers := make(map[string][]string, len(r.routers))
	for k, v := range r.routers {
		routers[k] = slices.Clone(v)
	}
	return client.Config{Region: region, Routers: routers, Dialer: r.dialers[region], TLS: r.clientTLS}
}

// conn returns the (lazily connecting) gRPC connection to a node's Cell
// and Control services.
func (r *remote) conn(nodeID string) (*grpc.ClientConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.conns[nodeID]; ok {
		return c, nil
	}
	n, ok := r.topo.Node(nodeID)
	if !ok {
		return nil, fmt.Errorf("chaos: node %q is not in the topology", nodeID)
	}
	// A short reconnect backoff: a crashed node is back within seconds, and
	// the run polls it every 50 ms (gRPC's default backoff grows to 2 min).
	bo := backoff.DefaultConfig
	bo.BaseDelay, bo.MaxDelay = 50*time.Millisecond, time.Second
	creds := auth.Credentials(r.operatorTLS)
	c, err := grpc.NewClient("passthrough:///"+n.ClientAddr, grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: r.callTimeout}))
	if err != nil {
		return nil, fmt.Errorf("chaos: node %s at %s: %w", nodeID, n.ClientAddr, err)
	}
	r.conns[nodeID] = c
	return c, nil
}

// eachNode calls fn for every node of the topology in parallel, each call
// bounded by the call timeout, and waits for all.
func (r *remote) eachNode(ctx context.Context, fn func(ctx context.Context, n topology.Node, conn *grpc.ClientConn)) {
	var wg sync.WaitGroup
	for _, n := range r.topo.Nodes() {
		conn, err := r.conn(n.ID)
		if err != nil {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
			defer cancel()
			fn(cctx, n, conn)
		})
	}
	wg.Wait()
}

// Leaders asks every node's Control service which replicas it leads; of
// two claims on a cell, the higher term wins. A node that does not answer
// claims nothing.
func (r *remote) Leaders(ctx context.Context) map[uint64]string {
	type claim struct {
		node string
		term uint64
	}
	var mu sync.Mutex
	best := map[uint64]claim{}
	r.eachNode(ctx, func(ctx context.Context, n topology.Node, conn *grpc.ClientConn) {
		obs, err := pb.NewControlClient(conn).Observe(ctx, &pb.ObserveRequest{})
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rep := range obs.GetReplicas() {
			if rep.GetLeader() && rep.GetTerm() >= best[rep.GetCellId()].term {
				best[rep.GetCellId()] = claim{node: n.ID, term: rep.GetTerm()}
			}
		}
	})
	out := make(map[uint64]string, len(best))
	for cellID, c := range best {
		out[cellID] = c.node
	}
	return out
}

// MoveLeader asks the cell's leader (Control.MoveLeader) to transfer its
// leadership to nodeID.
func (r *remote) MoveLeader(ctx context.Context, cellID uint64, nodeID string) error {
	leader := r.Leaders(ctx)[cellID]
	if leader == "" {
		return fmt.Errorf("chaos: cell %d has no leader to move", cellID)
	}
	if leader == nodeID {
		return nil
	}
	conn, err := r.conn(leader)
	if err != nil {
		return err
	}
	_, err = pb.NewControlClient(conn).MoveLeader(ctx, &pb.MoveLeaderRequest{CellId: cellID, TargetNodeId: nodeID})
	return err
}

// Replicas asks every replica's Cell service for its applied index and
// state digest.
func (r *remote) Replicas(ctx context.Context) map[uint64][]history.Replica {
	var mu sync.Mutex
	out := map[uint64][]history.Replica{}
	r.eachNode(ctx, func(ctx context.Context, n topology.Node, conn *grpc.ClientConn) {
		cells := pb.NewCellClient(conn)
		for _, c := range r.topo.CellsOfNode(n.ID) {
			st, err := cells.ReplicaStatus(ctx, &pb.ReplicaStatusRequest{CellId: c.ID, WithDigest: true})
			if err != nil {
				continue
			}
			mu.Lock()
			out[c.ID] = append(out[c.ID], history.Replica{Node: n.ID, Applied: st.GetAppliedIndex(), Digest: fmt.Sprintf("%x", st.GetStateSha256())})
			mu.Unlock()
		}
	})
	for _, reps := range out {
		slices.SortFunc(reps, func(a, b history.Replica) int { return strings.Compare(a.Node, b.Node) })
	}
	return out
}

// Ledger reads: how many times one account's read is tried, and the page
// size of ListTransfers.
const (
	ledgerReadAttemptsMax = 5
	transfersPageSize     = 500
	transferPagesMax      = 10_000 // 5 million transfers of one account
)

// ReadLedger reads each account and its transfers from its cell's leader
// (linearizable reads of the Cell service). The Cell API has no deposit
// total, so Deposited is derived: the balances minus the money the stored
// transfers moved into the accounts, plus what they moved out. It reads no
// payouts: the workload sends none to a remote target (it is no
// PayoutTarget), and CrossCell has both sides of each cross-cell transfer
// but not the payee's stored refusals (RefusalKnown false).
func (r *remote) ReadLedger(ctx context.Context, accounts []string) (history.Final, error) {
	final := history.Final{Balances: map[string]int64{}, Transfers: map[string]history.Transfer{}, CrossCell: map[string]history.CrossCellTransfer{}}
	leaders := r.Leaders(ctx)
	for _, a := range accounts {
		owner, ok := r.topo.CellOfAccount(a)
		if !ok {
			return final, fmt.Errorf("chaos: account %q belongs to no cell", a)
		}
		var err error
		for attempt := 0; attempt < ledgerReadAttemptsMax; attempt++ {
			if attempt > 0 {
				pause(200*time.Millisecond, ctx.Done())
				leaders = r.Leaders(ctx)
			}
			if err = r.readAccount(ctx, leaders[owner.ID], owner.ID, a, &final); err == nil {
				break
			}
		}
		if err != nil {
			return final, fmt.Errorf("chaos: reading account %s of cell %d: %w", a, owner.ID, err)
		}
	}
	ours := map[string]bool{}
	for _, a := range accounts {
		ours[a] = true
		final.Deposited += final.Balances[a]
	}
	for _, t := range final.Transfers {
		if ours[t.To] {
			final.Deposited -= t.Amount
		}
		if ours[t.From] {
			final.Deposited += t.Amount
		}
	}
	return final, nil
}

func (r *remote) readAccount(ctx context.Context, leader string, cellID uint64, account string, final *history.Final) error {
	if leader == "" {
		return fmt.Errorf("cell %d has no leader", cellID)
	}
	conn, err := r.conn(leader)
	if err != nil {
		return err
	}
	cells := pb.NewCellClient(conn)
	cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
	acc, err := cells.GetAccount(cctx, &pb.GetAccountRequest{CellId: cellID, AccountId: account})
	cancel()
	if err != nil {
		return err
	}
	token := ""
	for page := 0; ; page++ {
		if page >= transferPagesMax {
			return fmt.Errorf("more than %d pages of transfers", transferPagesMax)
		}
		cctx, cancel := context.WithTimeout(ctx, r.callTimeout)
		resp, err := cells.ListTransfers(cctx, &pb.ListTransfersRequest{CellId: cellID, AccountId: account, PageSize: transfersPageSize, PageToken: token})
		cancel()
		if err != nil {
			return err
		}
		for _, t := range resp.GetTransfers() {
			addRecord(final, cellID, t)
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	final.Balances[account] = acc.GetBalanceMinor()
	return nil
}

// call runs one proxy call bounded by the call timeout.
func (r *remote) call(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.callTimeout)
	defer cancel()
	return fn(ctx)
}

func (r *remote) Cut(a, b string) error {
	return r.call(func(ctx context.Context) error { return r.ctl.Cut(ctx, a, b) })
}

func (r *remote) Heal(a, b string) error {
	return r.call(func(ctx context.Context) error { return r.ctl.Heal(ctx, a, b) })
}

func (r *remote) Isolate(site string) error {
	return r.call(func(ctx context.Context) error { return r.ctl.Isolate(ctx, site) })
}

func (r *remote) CutIngress(site string) error {
	return r.call(func(ctx context.Context) error { return r.ctl.CutIngress(ctx, site) })
}

func (r *remote) HealAll() error {
	return r.call(func(ctx context.Context) error { return r.ctl.HealAll(ctx) })
}

func (r *remote) Delay(a, b string) (oneWay, jitter time.Duration, err error) {
	err = r.call(func(ctx context.Context) error {
		l, err := r.ctl.Link(ctx, a, b)
		oneWay, jitter = l.Delay, l.Jitter
		return err
	})
	return oneWay, jitter, err
}

func (r *remote) SetDelay(a, b string, oneWay, jitter time.Duration) error {
	return r.call(func(ctx context.Context) error { return r.ctl.SetDelay(ctx, a, b, oneWay, jitter) })
}

func (r *remote) SetDelayOneWay(from, to string, oneWay, jitter time.Duration) error {
	return r.call(func(ctx context.Context) error { return r.ctl.SetDelayOneWay(ctx, from, to, oneWay, jitter) })
}

func (r *remote) Describe() string {
	routers := 0
	for _, addrs := range r.routers {
		routers += len(addrs)
	}
	crash := "no pid files: node and router crashes refused"
	if r.procs != nil {
		crash = "crashes by signal, pid files in " + r.procs.dir
	}
	return fmt.Sprintf("separate processes behind the chaos proxy at %s: %d sites, %d nodes, %d cells, %d routers (%s); "+
		"the deposited total is derived from balances and stored transfers (the Cell API has none), so conservation's sum holds by construction and its bounds still check",
		r.ctl.Addr(), len(r.topo.Sites()), len(r.topo.Nodes()), len(r.topo.Cells()), routers, crash)
}

func (r *remote) Close() error {
	r.ctl.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, c := range r.conns {
		errs = append(errs, c.Close())
	}
	r.conns = map[string]*grpc.ClientConn{}
	return errors.Join(errs...)
}

func (r remoteCrasher) CrashNode(id string) error {
	if _, ok := r.topo.Node(id); !ok {
		return fmt.Errorf("chaos: node %q is not in the topology", id)
	}
	return r.procs.crash("node-"+id, "node", id)
}

func (r remoteCrasher) RestartNode(id string) error { return r.procs.restart("node-" + id) }

func (r remoteCrasher) CrashRouter(site string) error {
	return r.procs.crash("router-"+site, "router", site)
}

func (r remoteCrasher) RestartRouter(site string) error { return r.procs.restart("router-" + site) }
