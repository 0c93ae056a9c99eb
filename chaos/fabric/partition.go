package fabric

import (
	"slices"
	"strings"
)

// ClientSitePrefix starts the name of every client pseudo-site, e.g.
// "clients-hangzhou". Clients are just another site to the fabric: they dial
// through Dialer("clients-hangzhou"), and the links from that pseudo-site to
// a site are the site's ingress. CutIngress and HealIngress act on them all.
const ClientSitePrefix = "clients"

// Sites returns every site the fabric knows, sorted: the sites of registered
// addresses, of Dialers, and of links that were set.
func (f *Fabric) Sites() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.sitesLocked()
}

func (f *Fabric) sitesLocked() []string {
	known := make(map[string]struct{}, len(f.dialerSites)+len(f.sites))
	for _, site := range f.sites {
		known[site] = struct{}{}
	}
	for site := range f.dialerSites {
		known[site] = struct{}{}
	}
	for k := range f.links {
		known[k.from] = struct{}{}
		known[k.to] = struct{}{}
	}
	sites := make([]string, 0, len(known))
	for site := range known {
		sites = append(sites, site)
	}
	slices.Sort(sites)
	return sites
}

// Split partitions the network: every site of a is cut from every site of b,
// both directions, in one change. Links within a and within b keep their
// state. A site in both lists is cut from the others, not from itself.
func (f *Fabric) Split(a, b []string) {
	var keys []linkKey
	for _, x := range a {
		for _, y := range b {
			if x != y {
				keys = append(keys, bothWays(x, y)...)
			}
		}
	}
	f.setCut(keys, true)
}

// Bridge makes the partial partition where a and c cannot reach each other
// but both reach bridge: it cuts a from c and heals a and c with bridge, both
// directions, in one change. Other links keep their state.
func (f *Fabric) Bridge(bridge, a, c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change := func(keys []linkKey, cut bool) {
		for _, k := range keys {
			l := f.links[k].link
			l.Cut = cut
			f.setLinkLocked(k, l)
		}
	}
	change(bothWays(bridge, a), false)
	change(bothWays(bridge, c), false)
	if a != c {
		change(bothWays(a, c), true)
	}
	f.signalLinksLocked()
}

// CutIngress cuts site from its clients: every link between a client
// pseudo-site (a known site whose name starts with ClientSitePrefix) and site,
// both directions. Its Raft and other inter-site links keep their state. A
// client pseudo-site that becomes known later (its first Dialer) is cut from
// site at once too, until HealIngress(site) or HealAll.
func (f *Fabric) CutIngress(site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ingressCut[site] = struct{}{}
	f.setIngressLocked(site, true)
	f.signalLinksLocked()
}

// HealIngress undoes CutIngress: it uncuts every link between a client
// pseudo-site and site, both directions, keeping their other faults.
func (f *Fabric) HealIngress(site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ingressCut, site)
	f.setIngressLocked(site, false)
	f.signalLinksLocked()
}

func (f *Fabric) setIngressLocked(site string, cut bool) {
	for _, client := range f.sitesLocked() {
		if !isClientSite(client) || client == site {
			continue
		}
		for _, k := range bothWays(client, site) {
			l := f.links[k].link
			l.Cut = cut
			f.setLinkLocked(k, l)
		}
	}
}

// noteDialerSite makes site known; a new client pseudo-site is cut from every
// site whose ingress is cut.
func (f *Fabric) noteDialerSite(site string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.dialerSites[site]; known {
		return
	}
	f.dialerSites[site] = struct{}{}
	if !isClientSite(site) || len(f.ingressCut) == 0 {
		return
	}
	for cutSite := range f.ingressCut {
		if cutSite == site {
			continue
		}
		for _, k := range bothWays(site, cutSite) {
			l := f.links[k].link
			l.Cut = true
			f.setLinkLocked(k, l)
		}
	}
	f.signalLinksLocked()
}

func isClientSite(site string) bool { return strings.HasPrefix(site, ClientSitePrefix) }
