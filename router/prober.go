package router

import (
	"context"
	"slices"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/cellpay/cellpay/cell/topology"
)

// probeSamplesMax is how many recent round-trip times are kept per node.
const probeSamplesMax = 8

// nodeHealth is what the prober knows of one node.
type nodeHealth struct {
	reachable bool
	rtts      []time.Duration // recent successful probes, oldest first
	probedAt  time.Time
}

// prober measures, every interval, whether this router reaches each node
// (the standard gRPC health check on its Cell service) and how fast.
type prober struct {
	topo     *topology.Topology
	conns    *connPool
	interval time.Duration
	timeout  time.Duration

	mu    sync.Mutex
	nodes map[string]*nodeHealth
}

func newProber(topo *topology.Topology, conns *connPool, interval time.Duration) *prober {
	return &prober{topo: topo, conns: conns, interval: interval, timeout: max(interval, 500*time.Millisecond), nodes: map[string]*nodeHealth{}}
}

// run probes until ctx ends. Each round probes all nodes in parallel, each
// bounded by the probe timeout.
func (p *prober) run(ctx context.Context) {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for _, n := range p.topo.Nodes() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.probe(ctx, n)
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *prober) probe(ctx context.Context, n topology.Node) {
	ok := false
	var rtt time.Duration
	if conn, err := p.conns.get(n.ClientAddr); err == nil {
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		start := time.Now()
		resp, err := healthpb.NewHealthClient(conn).Check(pctx, &healthpb.HealthCheckRequest{})
		rtt = time.Since(start)
		cancel()
		ok = err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
	if ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, found := p.nodes[n.ID]
	if !found {
		h = &nodeHealth{}
		p.nodes[n.ID] = h
	}
	h.reachable, h.probedAt = ok, time.Now()
	if ok {
		h.rtts = append(h.rtts, rtt)
		if len(h.rtts) > probeSamplesMax {
			h.rtts = h.rtts[len(h.rtts)-probeSamplesMax:]
		}
	}
}

// node reports a node's reachability and median recent RTT.
func (p *prober) node(id string) (reachable bool, rtt time.Duration, probedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.nodes[id]
	if !ok {
		return false, 0, time.Time{}
	}
	return h.reachable, median(h.rtts), h.probedAt
}

// site reports whether any node of site is reachable, and the median RTT
// of the reachable ones.
func (p *prober) site(site string) (reachable bool, rtt time.Duration, probedAt time.Time) {
	var rtts []time.Duration
	for _, n := range p.topo.NodesOfSite(site) {
		ok, r, at := p.node(n.ID)
		if at.After(probedAt) {
			probedAt = at
		}
		if ok {
			reachable = true
			rtts = append(rtts, r)
		}
	}
	return reachable, median(rtts), probedAt
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
