package forward

import (
	"context"
	"slices"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
)

// probeSamplesMax is how many recent round-trip times are kept per node.
const probeSamplesMax = 8

// probeTimeoutMin floors one probe's timeout (it is the probe interval
// otherwise): a loaded node must not look unreachable at once.
const probeTimeoutMin = 500 * time.Millisecond

// nodeHealth is what the Prober knows of one node.
type nodeHealth struct {
	reachable bool
	rtts      []time.Duration // recent successful probes, oldest first
	probedAt  time.Time
}

// Prober measures, every interval, whether this router reaches each node
// (the standard gRPC health check on its Cell service) and how fast.
type Prober struct {
	topo     *topology.Topology
	conns    *Pool
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeHealth
}

// NewProber probes topo's nodes over conns every interval (Run), timing
// them and stamping results with now (nil: time.Now).
func NewProber(topo *topology.Topology, conns *Pool, interval time.Duration, now func() time.Time) *Prober {
	if now == nil {
		now = time.Now
	}
	return &Prober{topo: topo, conns: conns, interval: interval, timeout: max(interval, probeTimeoutMin), now: now, nodes: map[string]*nodeHealth{}}
}

// Run probes until ctx ends. Each round probes all nodes in parallel, each
// bounded by the probe timeout.
func (p *Prober) Run(ctx context.Context) {
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

func (p *Prober) probe(ctx context.Context, n topology.Node) {
	ok := false
	var rtt time.Duration
	if conn, err := p.conns.Get(n.ClientAddr); err == nil {
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		start := p.now()
		resp, err := healthpb.NewHealthClient(conn).Check(pctx, &healthpb.HealthCheckRequest{})
		rtt = p.now().Sub(start)
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
	h.reachable, h.probedAt = ok, p.now()
	if ok {
		h.rtts = append(h.rtts, rtt)
		if len(h.rtts) > probeSamplesMax {
			h.rtts = h.rtts[len(h.rtts)-probeSamplesMax:]
		}
	}
}

// Node reports a node's reachability and median recent RTT.
func (p *Prober) Node(id string) (reachable bool, rtt time.Duration, probedAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.nodes[id]
	if !ok {
		return false, 0, time.Time{}
	}
	return h.reachable, median(h.rtts), h.probedAt
}

// Site reports whether any node of site is reachable, and the median RTT
// of the reachable ones.
func (p *Prober) Site(site string) (reachable bool, rtt time.Duration, probedAt time.Time) {
	var rtts []time.Duration
	for _, n := range p.topo.NodesOfSite(site) {
		ok, r, at := p.Node(n.ID)
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

// BackboneView turns a prober's results into per-site reachability.
func BackboneView(topo *topology.Topology, p *Prober) []*pb.SiteReach {
	var out []*pb.SiteReach
	for _, s := range topo.Sites() {
		ok, rtt, at := p.Site(s.ID)
		r := &pb.SiteReach{Site: s.ID}
		switch {
		case at.IsZero():
			r.Backbone = pb.Reach_REACH_UNKNOWN
		case ok:
			r.Backbone, r.BackboneRttUs = pb.Reach_REACH_OK, rtt.Microseconds()
		default:
			r.Backbone = pb.Reach_REACH_FAILED
		}
		if !at.IsZero() {
			r.ProbedAtUnixMs = at.UnixMilli()
		}
		out = append(out, r)
	}
	return out
}
