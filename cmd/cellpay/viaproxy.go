package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/proxy"
)

// dialFunc is the dialer every cellpay package takes (Raft transport,
// router-to-node, control plane; gossip once it accepts one).
type dialFunc = func(ctx context.Context, addr string) (net.Conn, error)

// viaProxyUsage is the help of --via-proxy, shared by node and router.
const viaProxyUsage = "chaos proxy config (JSON, as for 'cellpay chaos proxy'): dial every address in another site through the proxy route from this process's site (empty: dial directly)"

// proxyDialers are the dialers of a process that runs behind the chaos
// proxy: site dials as a process of its site (to other sites' nodes and
// routers), ingress as a client of the site's region (to other sites'
// routers; nil when the config has no route from those clients).
type proxyDialers struct {
	site, ingress dialFunc
	redirected    int // addresses the site dialer redirects
}

// loadProxyDialers reads the proxy config at path and builds the dialers of
// a process of site. Every node address in another site must have a route
// from site, or the process would bypass the proxy unnoticed: that, and an
// invalid config, is an invalid configuration (exit 3), naming what is
// missing.
func loadProxyDialers(path string, topo *topology.Topology, site string) (proxyDialers, error) {
	cfg, err := proxy.LoadConfig(path)
	if errors.Is(err, proxy.ErrInvalidConfig) {
		return proxyDialers{}, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--via-proxy: %w", err)}
	}
	if err != nil {
		return proxyDialers{}, fmt.Errorf("--via-proxy: %w", err)
	}
	s, ok := topo.Site(site)
	if !ok {
		return proxyDialers{}, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--via-proxy: site %q is not in the topology", site)}
	}
	redirects, err := cfg.RedirectsFrom(site)
	if err != nil {
		return proxyDialers{}, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--via-proxy %s: %w", path, err)}
	}
	if missing := redirects.Missing(addrsOutside(topo, site)); len(missing) > 0 {
		return proxyDialers{}, &exitError{code: exitInvalidConfig, err: fmt.Errorf(
			"--via-proxy %s: no route from site %q to %v (nodes in other sites); add them, e.g. with 'cellpay chaos proxy-config'", path, site, missing)}
	}
	d := proxyDialers{site: redirects.Dialer(nil), redirected: redirects.Len()}
	ingress, err := cfg.RedirectsFrom(proxy.ClientSite(s.Region))
	if err != nil {
		return proxyDialers{}, &exitError{code: exitInvalidConfig, err: fmt.Errorf("--via-proxy %s: %w", path, err)}
	}
	if ingress.Len() > 0 {
		d.ingress = ingress.Dialer(nil)
	}
	return d, nil
}

// addrsOutside lists the Raft and client addresses of every node outside site.
func addrsOutside(topo *topology.Topology, site string) []string {
	var out []string
	for _, n := range topo.Nodes() {
		if n.Site != site {
			out = append(out, n.RaftAddr, n.ClientAddr)
		}
	}
	return out
}

// addViaProxyFlag adds --via-proxy to cmd.
func addViaProxyFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "via-proxy", "", viaProxyUsage)
}
