package router

import (
	"context"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/gossip"
)

// ingressProber checks, every interval, whether the routers of the other
// sites answer when dialled the way a client outside reaches them
// (Config.IngressDialer): a site whose clients are cut off while its
// backbone links work shows up here and nowhere else.
type ingressProber struct {
	agent    *gossip.Agent
	self     string
	conns    *forward.Pool
	interval time.Duration
	timeout  time.Duration

	mu    sync.Mutex
	sites map[string]ingressResult
}

type ingressResult struct {
	reachable bool
	at        time.Time
}

func newIngressProber(agent *gossip.Agent, selfSite string, conns *forward.Pool, interval time.Duration) *ingressProber {
	return &ingressProber{agent: agent, self: selfSite, conns: conns, interval: interval, timeout: max(interval, 500*time.Millisecond), sites: map[string]ingressResult{}}
}

func (p *ingressProber) run(ctx context.Context) {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		type target struct{ site, addr string }
		var targets []target
		for _, m := range p.agent.Members() {
			if m.Meta.GetKind() == gossip.KindRouter && m.Meta.GetSite() != p.self && m.Live() {
				targets = append(targets, target{m.Meta.GetSite(), m.Meta.GetClientAddr()})
			}
		}
		results := make([]bool, len(targets))
		var wg sync.WaitGroup
		for i, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = p.probe(ctx, t.addr)
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		bySite := map[string]bool{}
		for i, t := range targets {
			bySite[t.site] = bySite[t.site] || results[i]
		}
		p.mu.Lock()
		for site, ok := range bySite {
			p.sites[site] = ingressResult{reachable: ok, at: now}
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *ingressProber) probe(ctx context.Context, addr string) bool {
	conn, err := p.conns.Get(addr)
	if err != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(pctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// reach reports the newest ingress result of site (Unknown if none).
func (p *ingressProber) reach(site string) pb.Reach {
	if p == nil {
		return pb.Reach_REACH_UNKNOWN
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.sites[site]
	switch {
	case !ok || time.Since(r.at) > 3*(p.interval+p.timeout): // no recent round reached a router there
		return pb.Reach_REACH_UNKNOWN
	case r.reachable:
		return pb.Reach_REACH_OK
	}
	return pb.Reach_REACH_FAILED
}
