package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/proxy"
)

// newChaosProxyConfigCmd: cellpay chaos proxy-config --config FILE --base-port N [--router SITE=ADDR]...
func newChaosProxyConfigCmd() *cobra.Command {
	var (
		configPath, env, listenHost, control, outPath string
		basePort                                      int
		routers                                       []string
		seed                                          int64
		emulateRTT                                    bool
	)
	cmd := &cobra.Command{
		Use:   "proxy-config --config TOPOLOGY --base-port N [--router SITE=ADDR]...",
		Short: "Write the chaos proxy config of a topology (routes between every pair of sites)",
		Long: `Print the JSON config of 'cellpay chaos proxy' for a topology: for every site S,
a route from S to the raft_addr and client_addr of every node in another site
and to every router (--router) in another site; for every region R, a route
from the clients of R ("clients-R") to every router, which is the ingress.
Route i listens on --listen-host:(--base-port + i). With --emulate-rtt (the
default) every inter-site link gets half the topology's round-trip time as
its one-way delay.

Give the same file to 'cellpay node --via-proxy' and 'cellpay router
--via-proxy' (they dial the routes of their site), to the proxy, and to
'cellpay chaos run --target'. Exit 3 when the topology or the options make
no valid config.`,
		Example: `  cellpay chaos proxy-config --config deploy/topologies/local.yaml --base-port 17000 \
    --router hz-a=127.0.1.100:7300 --router hz-b=127.0.2.100:7300 --router sh-a=127.0.3.100:7300 > proxy.json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var problems []error
			if configPath == "" {
				problems = append(problems, errors.New("--config is required"))
			}
			if !cmd.Flags().Changed("base-port") {
				problems = append(problems, errors.New("--base-port is required"))
			}
			byRouter := map[string][]string{}
			for _, r := range routers {
				site, addr, ok := strings.Cut(r, "=")
				if !ok || site == "" || addr == "" {
					problems = append(problems, fmt.Errorf("--router %q: want SITE=HOST:PORT", r))
					continue
				}
				byRouter[site] = append(byRouter[site], addr)
			}
			if len(problems) > 0 {
				return usageError(cmd, errors.Join(problems...))
			}
			topo, err := topology.Load(configPath)
			if err != nil {
				return configError(err)
			}
			if env != "" {
				if err := topo.CheckEnvironment(env); err != nil {
					return &exitError{code: exitInvalidConfig, err: err}
				}
			}
			cfg, err := proxy.Generate(topo, proxy.GenerateOptions{
				ListenHost: listenHost, BasePort: basePort, Routers: byRouter, ControlAddr: control, Seed: seed, EmulateRTT: emulateRTT,
			})
			if err != nil {
				return &exitError{code: exitInvalidConfig, err: err}
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // route names hold '>'
			enc.SetIndent("", "  ")
			if err := enc.Encode(cfg); err != nil {
				return err
			}
			if outPath == "" || outPath == "-" {
				_, err = cmd.OutOrStdout().Write(b.Bytes())
				return err
			}
			return os.WriteFile(outPath, b.Bytes(), 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "topology file (YAML)")
	f.StringVar(&env, "env", "", "also require the topology to be for this environment")
	f.IntVar(&basePort, "base-port", 0, "port of the first route; route i listens on base-port+i")
	f.StringVar(&listenHost, "listen-host", "127.0.0.1", "host the routes listen on and processes dial")
	f.StringArrayVar(&routers, "router", nil, "a router's gRPC address, SITE=HOST:PORT (repeat for every router)")
	f.StringVar(&control, "control", proxy.DefaultControlAddr, "host:port of the proxy's control API")
	f.Int64Var(&seed, "seed", 1, "seed of the proxy's jitter and loss")
	f.BoolVar(&emulateRTT, "emulate-rtt", true, "delay each inter-site link by half the topology's round-trip time")
	f.StringVar(&outPath, "out", "", "write the config to this file (default: standard output)")
	return cmd
}
