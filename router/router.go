package router

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/gossip"
	"github.com/cellpay/cellpay/router/httpapi"
	"github.com/cellpay/cellpay/router/statuspage"
)

// Router is a running regional router.
type Router struct {
	cfg     Config
	logger  *slog.Logger
	conns   *forward.Pool
	table   *forward.Routes
	fwd     *forward.Forwarder
	prober  *forward.Prober
	ingress *ingressProber // nil without Config.IngressDialer
	agent   *gossip.Agent
	server  *grpc.Server
	http    *http.Server

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start validates cfg, joins the gossip pool and serves.
func Start(cfg Config) (*Router, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	metrics, err := newRouterMetrics(cfg.Metrics)
	if err = errors.Join(cfg.Validate(), err); err != nil {
		for _, l := range []interface{ Close() error }{cfg.Listener, cfg.HTTPListener} {
			if l != nil {
				_ = l.Close()
			}
		}
		return nil, err
	}
	r := &Router{cfg: cfg, logger: cfg.Logger.With("component", "router", "router", cfg.ID, "site", cfg.Site)}
	r.conns = forward.NewPool(cfg.NodeDialer, cfg.NodeTLS)
	r.table = forward.NewRoutes()
	r.fwd = forward.New(cfg.Topology, r.conns, r.table, cfg.forwardConfig())
	r.prober = forward.NewProber(cfg.Topology, r.conns, cfg.ProbeInterval, nil)
	r.fwd.Unreachable = func(nodeID string) bool {
		ok, _, at := r.prober.Node(nodeID)
		return !at.IsZero() && !ok
	}
	r.fwd.Metrics = metrics

	gcfg := gossip.DefaultConfig()
	gcfg.Name, gcfg.BindAddr, gcfg.Seeds, gcfg.Logger = cfg.ID, cfg.GossipAddr, cfg.GossipSeeds, cfg.Logger
	gcfg.Dialer, gcfg.WrapPacketConn = cfg.GossipDialer, cfg.GossipPacketConn
	gcfg.SecretKeys, gcfg.Admit = cfg.GossipKeys, gossip.AdmitTopology(cfg.Topology)
	advertised := cfg.Listener.Addr().String()
	gcfg.Meta = func() *pb.MemberMeta {
		return &pb.MemberMeta{Kind: gossip.KindRouter, Site: cfg.Site, ClientAddr: advertised}
	}
	agent, err := gossip.Start(gcfg)
	if err != nil {
		_ = cfg.Listener.Close()
		return nil, err
	}
	r.agent = agent
	if cfg.IngressDialer != nil {
		r.ingress = newIngressProber(agent, cfg.Site, forward.NewPool(cfg.IngressDialer, cfg.NodeTLS), cfg.ProbeInterval)
	}

	opts := cell.GRPCServerLimits()
	if cfg.ServerTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.ServerTLS)))
	}
	opts = append(opts, cfg.ServerOptions...)
	r.server = grpc.NewServer(opts...)
	pay := metered(&payments{topo: cfg.Topology, fwd: r.fwd}, metrics)
	pb.RegisterPaymentsServer(r.server, pay)
	pb.RegisterRouterAdminServer(r.server, &admin{r: r})
	healthpb.RegisterHealthServer(r.server, health.NewServer())

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Go(func() { r.prober.Run(ctx) })
	if r.ingress != nil {
		r.wg.Go(func() { r.ingress.run(ctx) })
	}
	r.wg.Go(func() { r.followGossip(ctx) })
	r.wg.Go(func() {
		if err := r.server.Serve(cfg.Listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			r.logger.Error("grpc server stopped", "error", err)
		}
	})
	if cfg.HTTPListener != nil {
		r.http = &http.Server{
			// The status page (/status, /status.json) in front of the API (/v1/).
			Handler: statuspage.New(statuspage.Config{Status: r.ClusterStatus, Sites: statuspage.SitesOf(cfg.Topology)},
				httpapi.New(pay, httpapi.Config{BodyBytesMax: cfg.HTTPBodyBytesMax, RequestTimeout: cfg.RequestTimeout})),
			ReadHeaderTimeout: httpHeaderReadMaxDuration,
			ReadTimeout:       httpReadMaxDuration,
			WriteTimeout:      cfg.RequestTimeout + httpWriteSlackDuration,
			IdleTimeout:       httpIdleMaxDuration,
			MaxHeaderBytes:    httpHeaderBytesMax,
			TLSConfig:         cfg.HTTPServerTLS,
		}
		ln := cfg.HTTPListener
		if cfg.HTTPServerTLS != nil {
			ln = tls.NewListener(ln, cfg.HTTPServerTLS)
		}
		r.wg.Go(func() {
			if err := r.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.logger.Error("http server stopped", "error", err)
			}
		})
	}
	return r, nil
}

// Limits of the router's HTTP server: how long a request may take to
// arrive and what it may hold, so that slow or greedy clients (a slowloris,
// a body trickled byte by byte) cannot hold the router. The gRPC server
// takes cell.GRPCServerLimits.
const (
	httpHeaderReadMaxDuration = 5 * time.Second
	httpReadMaxDuration       = 10 * time.Second // headers and body
	httpWriteSlackDuration    = 5 * time.Second  // beyond the request timeout
	httpIdleMaxDuration       = 2 * time.Minute
	httpHeaderBytesMax        = 64 << 10
)

// ClusterStatus is what RouterAdmin.Status answers, computed in process;
// it returns by ctx's deadline (each replica and meta voter is asked with a
// shorter timeout of its own).
func (r *Router) ClusterStatus(ctx context.Context) (*pb.ClusterStatus, error) {
	return (&admin{r: r}).Status(ctx, &pb.StatusRequest{})
}

// Addr is the gRPC address of the router.
func (r *Router) Addr() string { return r.cfg.Listener.Addr().String() }

// ServiceInfo lists the services of the router's gRPC server.
func (r *Router) ServiceInfo() map[string]grpc.ServiceInfo { return r.server.GetServiceInfo() }

// GossipAddr is the router's memberlist address (a seed for others).
func (r *Router) GossipAddr() string { return r.agent.Addr() }

// followGossip keeps the route table in step with what nodes advertise.
func (r *Router) followGossip(ctx context.Context) {
	tick := time.NewTicker(time.Second) // also re-read now and then, in case a signal was coalesced away
	defer tick.Stop()
	for {
		r.refreshRoutes()
		select {
		case <-ctx.Done():
			return
		case <-r.agent.Changes():
		case <-tick.C:
		}
	}
}

// refreshRoutes feeds the route table what gossip says, believing only
// topology nodes about the cells they host (gossip.LeaderClaims): a member
// the topology does not know, or a claim of a cell with no replica on the
// claiming node, changes no route. Routes of members no longer alive are
// forgotten first, so that the real leader's claim of a lower term takes a
// route a gone member's higher (lying or stale) term had set.
func (r *Router) refreshRoutes() {
	claims, gone, _ := gossip.LeaderClaims(r.cfg.Topology, r.agent.Members())
	for _, g := range gone {
		r.table.Forget(g.CellID, g.Node)
	}
	for _, c := range claims {
		r.table.Observe(c.CellID, c.Node, c.Term)
	}
}

// Close stops serving (in-flight requests get up to drain), leaves the
// gossip pool and closes every connection.
func (r *Router) Close(drain time.Duration) error {
	done := make(chan struct{})
	go func() { r.server.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		r.server.Stop()
		<-done
	}
	var errs []error
	if r.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		if err := r.http.Shutdown(ctx); err != nil {
			_ = r.http.Close()
		}
		cancel()
	}
	r.cancel()
	errs = append(errs, r.agent.Close())
	r.wg.Wait()
	errs = append(errs, r.conns.Close())
	if r.ingress != nil {
		errs = append(errs, r.ingress.conns.Close())
	}
	return errors.Join(errs...)
}
