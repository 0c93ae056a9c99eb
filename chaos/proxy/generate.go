package proxy

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/fabric"
)

// ClientSite is the pseudo-site of the clients of region, e.g.
// "clients-hangzhou": the from_site of the routes that are a site's ingress.
func ClientSite(region string) string { return fabric.ClientSitePrefix + "-" + region }

// GenerateOptions shapes the config Generate writes for a topology.
type GenerateOptions struct {
	// ListenHost is the host every route listens on (and processes dial).
	// Default 127.0.0.1. It must be concrete: processes dial it.
	ListenHost string
	// BasePort is the port of the first route; route i listens on
	// BasePort+i. Required, and every port must fit in 1-65535.
	BasePort int
	// Routers maps a site to its routers' gRPC addresses (the topology does
	// not list routers). Each gets a route from every other site (nodes
	// observe routers) and from every region's clients (the ingress).
	Routers map[string][]string
	// ControlAddr of the control API; default DefaultControlAddr.
	ControlAddr string
	Seed        int64
	// EmulateRTT sets every inter-site link's delay to half the topology's
	// round-trip time, with a jitter of a tenth of the delay, so the
	// timeouts the topology's RTTs tune meet the latency they expect.
	EmulateRTT bool
}

// Generate writes the proxy config of a cluster: for every site S, a route
// from S to the raft_addr and client_addr of every node in another site and
// to every router in another site; for every region R, a route from
// ClientSite(R) to every router. Routes are named "FROM>NODE.raft",
// "FROM>NODE.client" and "FROM>router-SITE-K", in topology order, so the same
// inputs give the same file. The result is validated.
func Generate(topo *topology.Topology, opts GenerateOptions) (Config, error) {
	if opts.ListenHost == "" {
		opts.ListenHost = "127.0.0.1"
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if err := dialable(net.JoinHostPort(opts.ListenHost, "1")); err != nil {
		bad("ListenHost", "%q: want a host other processes can dial", opts.ListenHost)
	}
	sites := topo.Sites()
	knownSite := map[string]bool{}
	for _, s := range sites {
		knownSite[s.ID] = true
	}
	routerSites := make([]string, 0, len(opts.Routers))
	for site := range opts.Routers {
		routerSites = append(routerSites, site)
	}
	slices.Sort(routerSites)
	for _, site := range routerSites {
		if !knownSite[site] {
			bad("Routers", "site %q is not in the topology", site)
		}
		for _, addr := range opts.Routers[site] {
			if err := dialable(addr); err != nil {
				bad("Routers["+site+"]", "%v", err)
			}
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%w:\n%w", ErrInvalidConfig, errors.Join(errs...))
	}

	var routes []Route
	add := func(name, from, target, targetSite string) {
		routes = append(routes, Route{Name: name, FromSite: from, TargetAddr: target, TargetSite: targetSite})
	}
	for _, from := range sites {
		for _, n := range topo.Nodes() {
			if n.Site == from.ID {
				continue
			}
			add(from.ID+">"+n.ID+".raft", from.ID, n.RaftAddr, n.Site)
			add(from.ID+">"+n.ID+".client", from.ID, n.ClientAddr, n.Site)
		}
		for _, site := range routerSites {
			if site == from.ID {
				continue
			}
			for k, addr := range opts.Routers[site] {
				add(fmt.Sprintf("%s>router-%s-%d", from.ID, site, k+1), from.ID, addr, site)
			}
		}
	}
	var regions []string
	for _, s := range sites {
		if !slices.Contains(regions, s.Region) {
			regions = append(regions, s.Region)
		}
	}
	slices.Sort(regions)
	for _, region := range regions {
		for _, site := range routerSites {
			for k, addr := range opts.Routers[site] {
				add(fmt.Sprintf("%s>router-%s-%d", ClientSite(region), site, k+1), ClientSite(region), addr, site)
			}
		}
	}
	if last := opts.BasePort + len(routes) - 1; opts.BasePort < 1 || last > 65535 {
		return Config{}, fmt.Errorf("%w: BasePort: %d routes from port %d end at %d, outside 1-65535", ErrInvalidConfig, len(routes), opts.BasePort, last)
	}
	for i := range routes {
		routes[i].ListenAddr = net.JoinHostPort(opts.ListenHost, strconv.Itoa(opts.BasePort+i))
	}
	cfg := Config{Routes: routes, ControlAddr: opts.ControlAddr, Seed: opts.Seed}
	if cfg.ControlAddr == "" {
		cfg.ControlAddr = DefaultControlAddr
	}
	if opts.EmulateRTT {
		for i, a := range sites {
			for _, b := range sites[i+1:] {
				oneWay := topo.RTT(a.ID, b.ID) / 2
				link := fabric.Link{Delay: oneWay, Jitter: oneWay / 10}
				cfg.Links = append(cfg.Links, SiteLink{From: a.ID, To: b.ID, Link: link}, SiteLink{From: b.ID, To: a.ID, Link: link})
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
