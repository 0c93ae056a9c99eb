package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/router"
)

// newRouterCmd: cellpay router --config FILE --site SITE --id ID --listen ADDR --gossip-addr ADDR --env NAME
func newRouterCmd() *cobra.Command {
	var (
		configPath, site, id, listen, httpAddr, gossipAddr, env, logLevel string
		viaProxy                                                          string
		seeds                                                             []string
		requestTimeout, drain                                             time.Duration
		metricsOpts                                                       metricsFlags
		secOpts                                                           securityFlags
	)
	cmd := &cobra.Command{
		Use:   "router --config FILE --site SITE --id ID --listen ADDR --gossip-addr ADDR --env NAME",
		Short: "Run a regional router: the front door clients call",
		Long: `Run a stateless regional router. It serves the Payments API over gRPC on
--listen (and over HTTP/JSON on --http), finds each request's cell and its
leader, and forwards the request, retrying with the same idempotency key
until --request-timeout. It joins the gossip pool at --gossip-addr, through
the members given with --join.

With --via-proxy FILE (the chaos proxy's config), dials to nodes in other
sites go to the proxy's routes from --site, and the router probes the other
sites' routers the way its region's clients reach them (the routes from
clients-REGION), reporting ingress reachability to the failover controller.
Same-site dials and gossip stay direct. Every node address of the other
sites must have a route (exit 3 otherwise).

With --metrics-addr ADDR the router serves Prometheus metrics at
http://ADDR/metrics on a listener of its own (docs/METRICS.md); --pprof adds
Go's profiler at /debug/pprof/ on that listener, never on --listen or --http.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := metricsOpts.validate(cmd, map[string]string{"--listen": listen, "--http": httpAddr, "--gossip-addr": gossipAddr}); err != nil {
				return err
			}
			logger, topo, err := startProcess(cmd, []flagValue{{"--config", configPath}, {"--site", site}, {"--id", id}, {"--listen", listen}, {"--gossip-addr", gossipAddr}, {"--env", env}}, logLevel, configPath, env)
			if err != nil {
				return err
			}
			cfg := router.DefaultConfig()
			cfg.Topology, cfg.ID, cfg.Site, cfg.GossipAddr, cfg.GossipSeeds, cfg.Logger = topo, id, site, gossipAddr, seeds, logger
			reg := metricsRegistry(metricsOpts)
			metrics := registerer(reg)
			sec, err := secOpts.load(cmd, topo, env, auth.RoleRouter, id, logger, metrics)
			if err != nil {
				return err
			}
			metricsSrv, err := startMetrics(metricsOpts, reg, sec, logger)
			if err != nil {
				return err
			}
			defer metricsSrv.close() // last: scrapes work while the router drains
			cfg.Metrics = metrics
			if viaProxy != "" {
				d, err := loadProxyDialers(viaProxy, topo, site)
				if err != nil {
					return err
				}
				cfg.NodeDialer, cfg.IngressDialer = d.site, d.ingress
				if d.ingress == nil {
					logger.Warn("the chaos proxy config has no route from this region's clients: ingress to other sites' routers is not probed", "config", viaProxy)
				}
				logger.Info("dialing other sites through the chaos proxy", "config", viaProxy, "site", site, "redirected_addrs", d.redirected)
			}
			sec.WatchSIGHUP(cmd.Context())
			cfg.ServerTLS, cfg.HTTPServerTLS, cfg.NodeTLS = sec.ServerTLS(), sec.HTTPServerTLS(), sec.ClientTLS()
			cfg.ServerOptions = sec.Authorizer("router-grpc").ServerOptions()
			if cfg.GossipKeys, err = secOpts.gossipKeys(); err != nil {
				return err
			}
			if requestTimeout > 0 {
				cfg.RequestTimeout = requestTimeout
			}
			if cfg.Listener, err = net.Listen("tcp", listen); err != nil {
				return err
			}
			if httpAddr != "" {
				if cfg.HTTPListener, err = net.Listen("tcp", httpAddr); err != nil {
					_ = cfg.Listener.Close()
					return err
				}
			}
			r, err := router.Start(cfg)
			if err != nil {
				return &exitError{code: exitInvalidConfig, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "router %s (site %s) serving on %s\n", id, site, r.Addr())
			<-cmd.Context().Done()
			return r.Close(drain)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "topology file (YAML)")
	f.StringVar(&site, "site", "", "the site this router runs in")
	f.StringVar(&id, "id", "", "this router's unique id, e.g. router-hz-a-1")
	f.StringVar(&listen, "listen", "", "gRPC address of the Payments API, e.g. 127.0.0.1:7301")
	f.StringVar(&httpAddr, "http", "", "HTTP/JSON address of the Payments API (empty: none)")
	f.StringVar(&gossipAddr, "gossip-addr", "", "host:port for the membership gossip")
	f.StringSliceVar(&seeds, "join", nil, "gossip addresses of other members to join (comma-separated)")
	f.StringVar(&env, "env", "", "the environment this process runs in; the topology must be meant for it")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&requestTimeout, "request-timeout", 5*time.Second, "deadline of one client request, retries included")
	f.DurationVar(&drain, "drain", 5*time.Second, "how long in-flight requests may take at shutdown")
	addViaProxyFlag(cmd, &viaProxy)
	addMetricsFlags(cmd, &metricsOpts)
	addSecurityFlags(cmd, &secOpts, false, true)
	return cmd
}
