package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/router"
	"github.com/cellpay/cellpay/router/gossip"
)

// newNodeCmd: cellpay node --config FILE --node ID --data DIR --env NAME
func newNodeCmd() *cobra.Command {
	var (
		configPath, nodeID, dataDir, env, logLevel string
		gossipAddr                                 string
		seeds                                      []string
		drain                                      time.Duration
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
majority of the cell's replicas.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, topo, err := startProcess(cmd, []flagValue{{"--config", configPath}, {"--node", nodeID}, {"--data", dataDir}, {"--env", env}}, logLevel, configPath, env)
			if err != nil {
				return err
			}
			node, err := cell.StartNode(cell.NodeConfig{
				Topology: topo, NodeID: nodeID, DataDir: dataDir, Logger: logger, RaftLogOutput: cmd.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			var agent *router.NodeAgent
			if gossipAddr != "" {
				self, _ := topo.Node(nodeID)
				gcfg := gossip.DefaultConfig()
				gcfg.BindAddr, gcfg.Seeds, gcfg.Logger = gossipAddr, seeds, logger
				if agent, err = router.JoinNode(node, self.Site, gcfg); err != nil {
					_ = node.Close(drain)
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s serving cells on %s\n", node.ID(), node.ClientAddr())
			<-cmd.Context().Done()
			logger.Info("shutting down", "drain", drain)
			var errs []error
			if agent != nil {
				errs = append(errs, agent.Close())
			}
			return errors.Join(append(errs, node.Close(drain))...)
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
	return cmd
}
