// Package proxy runs the chaos fabric's link model (package chaos/fabric)
// between separate processes: a TCP proxy with one listening port per
// inter-site (from-site, target) pair, and an HTTP control API to change the
// links while the cluster runs. `cellpay chaos proxy` runs it; the other
// `cellpay chaos` commands talk to its control API.
//
// Each Route says: processes of FromSite that want TargetAddr (in TargetSite)
// dial ListenAddr instead. The proxy forwards each accepted conn to TargetAddr
// through fabric.Dialer(FromSite) of its internal Fabric, where every
// TargetAddr is registered to its TargetSite, so delay, jitter, loss,
// bandwidth, cuts (black holes) and resets all apply, exactly as in process.
// Half-closes and resets pass through. Clients are a pseudo-site like any
// other (e.g. from_site "clients-hangzhou"), so their routes are the sites'
// ingress.
//
// Config file (JSON; ParseConfig, LoadConfig), for example:
//
//	{
//	  "control_addr": "127.0.0.1:7400",
//	  "seed": 1,
//	  "routes": [
//	    {"name": "hz-a>sh-a-1", "from_site": "hz-a", "listen_addr": "127.0.0.1:17101",
//	     "target_addr": "127.0.0.1:7101", "target_site": "sh-a"},
//	    {"from_site": "clients-hangzhou", "listen_addr": "127.0.0.1:18001",
//	     "target_addr": "127.0.0.1:8001", "target_site": "hz-a"}
//	  ],
//	  "links": [
//	    {"from": "hz-a", "to": "sh-a", "link": {"delay": "15ms", "jitter": "1ms"}}
//	  ]
//	}
//
// Unknown fields are errors; every problem is reported at once, naming its
// field (routes[1].listen_addr), wrapped in ErrInvalidConfig. name defaults to
// "from_site->target_addr"; control_addr to DefaultControlAddr; links to none.
//
// Control API (JSON in and out). A link is
// {"delay":"30ms","jitter":"5ms","cut":false,"loss":0.05,"bandwidth_bytes_per_second":0}.
//
//	GET  /links                 every ordered pair of known sites and its link
//	POST /links/{from}/{to}     body: a link, possibly partial; fields left out keep their values
//	POST /cut                   {"a":"hz-a","b":"sh-a"}: both directions
//	POST /isolate               {"site":"hz-a"}: from every target site
//	POST /heal                  empty or {}: every link; {"a":..,"b":..}: one pair
//	POST /reset                 {"a":..,"b":..}: abort live conns between them (RST)
//	POST /split                 {"a":["hz-a","hz-b"],"b":["sh-a"]}
//	POST /bridge                {"bridge":"hz-b","a":"hz-a","c":"sh-a"}
//	POST /ingress/cut           {"site":"hz-a"}: from every clients* site, both directions
//	POST /ingress/heal          {"site":"hz-a"}
//	GET  /status                links, and per route its live and total conns
//
// Every POST answers {"action": what was done, "links": the links it touched,
// as they are now}. Bad input answers 400 with {"error": ..., "field": the
// field to blame}; unknown paths 404.
//
// Processes find their routes in the same file: Config.RedirectsFrom(site)
// is the dial table of a site's processes (target address -> listen
// address), and Redirects.Dialer wraps a dialer so every redirected address
// is dialed through the proxy and every other one (same site, gossip)
// directly; `cellpay node --via-proxy FILE` and `cellpay router --via-proxy
// FILE` use it (a router also probes other sites' routers through the routes
// of its region's clients). Generate writes the whole config of a topology
// (`cellpay chaos proxy-config`): every site to every node and router of the
// other sites, every region's clients to every router, consecutive ports.
//
// Callers' duties: give each process of a site the proxy's ListenAddr in place
// of every address in another site (same-site traffic does not go through the
// proxy; --via-proxy does this); run one proxy for the whole cluster, since one Fabric holds every
// link; Close it (or SIGTERM the command) to stop every listener, conn and
// goroutine. The control API has no authentication: bind it to loopback or a
// test network only.
//
// The emulation runs in the proxy: a client's connect is answered by the
// proxy's kernel even when the link is cut, then nothing moves (the proxy's
// dial to the target hangs); everything else behaves as with fabric in process.
package proxy
