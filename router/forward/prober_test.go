package forward

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// stepClock is a clock that moves step forward at every reading.
type stepClock struct {
	mu   sync.Mutex
	at   time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(c.step)
	return c.at
}

// The prober times probes and stamps results with its clock; a node that
// does not answer is unreachable, and a site is reachable when one of its
// nodes is.
func TestProberUsesItsClock(t *testing.T) {
	var addrs [3]string
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		if i == 2 {
			_ = ln.Close() // sh-a-1 is down
			continue
		}
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, health.NewServer()) // serves SERVING by default
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
	}
	topo := scriptedTopology(t, addrs)
	conns := NewPool(nil, nil)
	t.Cleanup(func() { _ = conns.Close() })
	clock := &stepClock{at: time.Unix(1_700_000_000, 0), step: 7 * time.Millisecond}
	p := NewProber(topo, conns, time.Hour, clock.now)
	for _, n := range topo.Nodes() {
		p.probe(context.Background(), n)
	}
	for _, tc := range []struct {
		node string
		ok   bool
	}{{"hz-a-1", true}, {"hz-b-1", true}, {"sh-a-1", false}} {
		ok, rtt, at := p.Node(tc.node)
		if ok != tc.ok || at.Before(time.Unix(1_700_000_000, 0)) || at.After(clock.now()) {
			t.Errorf("%s: reachable %v at %v, want %v at a time of the prober's clock", tc.node, ok, at, tc.ok)
		}
		if tc.ok && rtt != 7*time.Millisecond {
			t.Errorf("%s: rtt %s, want one clock step (7ms)", tc.node, rtt)
		}
	}
	if ok, _, _ := p.Site("sh-a"); ok {
		t.Error("site sh-a reachable with its only node down")
	}
	if ok, rtt, _ := p.Site("hz-a"); !ok || rtt != 7*time.Millisecond {
		t.Errorf("site hz-a: reachable %v rtt %s", ok, rtt)
	}
}
