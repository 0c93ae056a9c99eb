package control

import (
	"context"
	"sync"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/router/forward"
	"github.com/cellpay/cellpay/router/gossip"
)

// Observer kinds (pb.Observation.Kind, wire values): a node answers
// Control.Observe, a router RouterAdmin.Observe.
const (
	observerKindNode   = gossip.KindNode
	observerKindRouter = gossip.KindRouter
)

// observerTarget is one observer to ask: a node (Control.Observe) or a
// router (RouterAdmin.Observe).
type observerTarget struct {
	id, kind, addr string
}

// observed is an observer's newest answer and when it arrived.
type observed struct {
	obs *pb.Observation
	at  time.Time
}

// observerCache keeps the newest observation of every observer. One poller
// per observer asks every interval, at most one ask in flight each, so a
// black-holed observer costs one hanging call, never a queue.
type observerCache struct {
	conns             *forward.Pool
	interval, timeout time.Duration
	now               func() time.Time

	mu      sync.Mutex
	latest  map[string]observed // by target id
	pollers map[string]func()   // target id -> stop
	wg      sync.WaitGroup
}

func newObserverCache(conns *forward.Pool, interval, timeout time.Duration, now func() time.Time) *observerCache {
	return &observerCache{conns: conns, interval: interval, timeout: timeout, now: now, latest: map[string]observed{}, pollers: map[string]func(){}}
}

// reconcile starts pollers for new targets and stops those of vanished ones.
func (o *observerCache) reconcile(ctx context.Context, targets []observerTarget) {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := map[string]bool{}
	for _, t := range targets {
		key := t.kind + "/" + t.id + "/" + t.addr
		want[key] = true
		if _, ok := o.pollers[key]; ok {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		o.pollers[key] = cancel
		o.wg.Go(func() { o.poll(pctx, key, t) })
	}
	for key, stop := range o.pollers {
		if !want[key] {
			stop()
			delete(o.pollers, key)
			delete(o.latest, key)
		}
	}
}

func (o *observerCache) poll(ctx context.Context, key string, t observerTarget) {
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		if conn, err := o.conns.Get(t.addr); err == nil {
			actx, cancel := context.WithTimeout(ctx, o.timeout)
			var obs *pb.Observation
			if t.kind == observerKindRouter {
				obs, err = pb.NewRouterAdminClient(conn).Observe(actx, &pb.ObserveRequest{})
			} else {
				obs, err = pb.NewControlClient(conn).Observe(actx, &pb.ObserveRequest{})
			}
			cancel()
			if err == nil {
				o.mu.Lock()
				if _, live := o.pollers[key]; live {
					o.latest[key] = observed{obs: obs, at: o.now()}
				}
				o.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// snapshot returns the newest observation of every observer.
func (o *observerCache) snapshot() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]observed, 0, len(o.latest))
	for _, v := range o.latest {
		out = append(out, v)
	}
	return out
}

// stop ends every poller and waits for them.
func (o *observerCache) stop() {
	o.mu.Lock()
	for key, stop := range o.pollers {
		stop()
		delete(o.pollers, key)
	}
	o.mu.Unlock()
	o.wg.Wait()
}
