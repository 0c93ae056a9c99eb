package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/api/auth"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/cell/channel"
	"github.com/cellpay/cellpay/router/control"
	"github.com/cellpay/cellpay/router/gossip"
)

// newNodeCmd: cellpay node --config FILE --node ID --data DIR --env NAME
func newNodeCmd() *cobra.Command {
	var (
		configPath, nodeID, dataDir, env, logLevel string
		gossipAddr, operatorsPath, viaProxy        string
		providerTokenFile                          string
		seeds, providerSpecs, providerWindowSpecs  []string
		drain                                      time.Duration
		metricsOpts                                metricsFlags
		secOpts                                    securityFlags
	)
	cmd := &cobra.Command{
		Use:   "node --config FILE --node ID --data DIR --env NAME",
		Short: "Run a node: the replicas of its cells and the Cell service",
		Long: `Run one cellpay node. It opens its Pebble store in --data, starts a replica of
every cell the topology places on it (bootstrapping cells that are new), and
serves the Cell gRPC service on its client_addr and Raft on its raft_addr.

The node refuses a topology meant for another environment than --env. On
SIGTERM or SIGINT it stops accepting requests, lets in-flight ones finish
for up to --drain, and stops its replicas. A kill -9 loses nothing
acknowledged: every acknowledged command is in the fsynced Raft log of a
majority of the cell's replicas.

With --via-proxy FILE (the chaos proxy's config), every dial to a node or
router in another site (Raft, control plane probes and observations) goes to
the proxy route from this node's site to that address instead, so 'cellpay
chaos' faults apply; same-site dials and gossip stay direct. Every node
address of the other sites must have a route (exit 3 otherwise).

With --metrics-addr ADDR the node serves Prometheus metrics at
http://ADDR/metrics on a listener of its own (docs/METRICS.md); --pprof adds
Go's profiler at /debug/pprof/ on that listener.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, topo, err := startProcess(cmd, []flagValue{{"--config", configPath}, {"--node", nodeID}, {"--data", dataDir}, {"--env", env}}, logLevel, configPath, env)
			if err != nil {
				return err
			}
			self, _ := topo.Node(nodeID)
			if err := metricsOpts.validate(cmd, map[string]string{"--gossip-addr": gossipAddr,
				"the node's raft_addr in the topology": self.RaftAddr, "the node's client_addr in the topology": self.ClientAddr}); err != nil {
				return err
			}
			reg := metricsRegistry(metricsOpts)
			metrics := registerer(reg)
			sec, err := secOpts.load(cmd, topo, env, auth.RoleNode, nodeID, logger, metrics)
			if err != nil {
				return err
			}
			metricsSrv, err := startMetrics(metricsOpts, reg, sec, logger)
			if err != nil {
				return err
			}
			defer metricsSrv.close() // last: scrapes work while the node drains
			providers, err := parseProvidersWithWindows(cmd, providerSpecs, providerTokenFile, providerWindowSpecs)
			if err != nil {
				return err
			}
			var dial dialFunc // nil: plain TCP
			self, known := topo.Node(nodeID)
			if known && viaProxy != "" { // an unknown node fails in StartNode
				d, err := loadProxyDialers(viaProxy, topo, self.Site)
				if err != nil {
					return err
				}
				dial = d.site
				logger.Info("dialing other sites through the chaos proxy", "config", viaProxy, "site", self.Site, "redirected_addrs", d.redirected)
			}
			ccfg := control.DefaultControlConfig()
			ccfg.Topology, ccfg.Logger, ccfg.Dialer, ccfg.Metrics = topo, logger, dial, metrics
			ccfg.Reconcile.Statements = map[string]channel.StatementReader{}
			for _, p := range providers {
				if sr, ok := p.(channel.StatementReader); ok {
					ccfg.Reconcile.Statements[p.Name()] = sr
				}
			}
			if operatorsPath != "" {
				if ccfg.Operators, err = loadOperators(operatorsPath); err != nil {
					return &exitError{code: exitInvalidConfig, err: err}
				}
			}
			sec.WatchSIGHUP(cmd.Context())
			ncfg := control.NodeConfig{
				Security: sec,
				Cell: cell.NodeConfig{
					Topology: topo, NodeID: nodeID, DataDir: dataDir, Logger: logger, RaftLogOutput: cmd.ErrOrStderr(),
					Dialer: dial, Payouts: cell.PayoutConfig{Providers: providers}, Metrics: metrics,
				},
				Control: ccfg,
			}
			if gossipAddr != "" {
				gcfg := gossip.DefaultConfig()
				if gcfg.SecretKeys, err = secOpts.gossipKeys(); err != nil {
					return err
				}
				gcfg.BindAddr, gcfg.Seeds, gcfg.Logger = gossipAddr, seeds, logger
				ncfg.Gossip = &gcfg
			}
			node, err := control.StartNode(ncfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s serving cells on %s\n", node.Cell.ID(), node.Cell.ClientAddr())
			<-cmd.Context().Done()
			logger.Info("shutting down", "drain", drain)
			return node.Close(drain)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "topology file (YAML)")
	f.StringVar(&nodeID, "node", "", "this node's id in the topology")
	f.StringVar(&dataDir, "data", "", "data directory (created if missing)")
	f.StringVar(&env, "env", "", "the environment this process runs in; the topology must be meant for it")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&drain, "drain", 5*time.Second, "how long in-flight requests may take at shutdown")
	f.StringVar(&gossipAddr, "gossip-addr", "", "host:port for the membership gossip (empty: do not gossip; routers then find leaders by hints only)")
	f.StringSliceVar(&seeds, "join", nil, "gossip addresses of other members to join (comma-separated)")
	addViaProxyFlag(cmd, &viaProxy)
	addProviderFlags(cmd, &providerSpecs, &providerTokenFile, &providerWindowSpecs)
	addMetricsFlags(cmd, &metricsOpts)
	addSecurityFlags(cmd, &secOpts, false, true)
	f.StringVar(&operatorsPath, "operators", "", "file of operators allowed to run drills, one 'name sha256-hex-of-token' per line (without it, drills are refused)")
	return cmd
}
