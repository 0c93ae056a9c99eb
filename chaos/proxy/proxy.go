package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellpay/cellpay/chaos/fabric"
)

// acceptRetryMax bounds the pause after a failed Accept (e.g. out of file
// descriptors) before the next try.
const acceptRetryMax = time.Second

// Proxy forwards the conns of every route through one Fabric and serves the
// control API. All methods are safe for concurrent use.
type Proxy struct {
	cfg     Config
	fab     *fabric.Fabric
	routes  []*route
	control net.Listener
	server  *http.Server
	handler http.Handler

	ctx    context.Context // done at Close: ends pending dials
	cancel context.CancelFunc

	linkMu sync.Mutex // serializes the API's read-modify-write of links

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // client and upstream conns, closed by Close
	closed bool
	wg     sync.WaitGroup // accept loops, forwarders and the control server
}

// route is a Route with its listener and counters.
type route struct {
	Route
	listener net.Listener
	dial     func(ctx context.Context, addr string) (net.Conn, error)
	live     atomic.Int64 // conns being forwarded now
	total    atomic.Int64 // conns accepted since Start
}

// RouteStatus is a route, its actual listening address and its conns.
type RouteStatus struct {
	Route
	LiveConns  int64 `json:"live_conns"`
	TotalConns int64 `json:"total_conns"`
}

// Start validates cfg, listens on every route's ListenAddr and on the
// control address, and forwards until Close. Each accepted conn is dialed to
// its TargetAddr through fabric.Dialer(FromSite) of the proxy's Fabric, in
// which every TargetAddr is registered to its TargetSite, so every fabric
// fault applies, on the proxy's side of the conn.
func Start(cfg Config) (_ *Proxy, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ControlAddr == "" {
		cfg.ControlAddr = DefaultControlAddr
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{cfg: cfg, fab: fabric.New(cfg.Seed), ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	for _, r := range cfg.Routes {
		p.fab.Register(r.TargetAddr, r.TargetSite)
	}
	for _, l := range cfg.Links {
		p.fab.SetLink(l.From, l.To, l.Link)
	}
	for i, r := range cfg.Routes {
		r.Name = r.routeName()
		ln, err := net.Listen("tcp", r.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("proxy: route %s (routes[%d].listen_addr): %w", r.Name, i, err)
		}
		p.routes = append(p.routes, &route{Route: r, listener: ln, dial: p.fab.Dialer(r.FromSite)})
	}
	if p.control, err = net.Listen("tcp", cfg.ControlAddr); err != nil {
		return nil, fmt.Errorf("proxy: control API (control_addr): %w", err)
	}
	p.handler = p.newHandler()
	p.server = &http.Server{
		Handler:           p.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	p.wg.Go(func() { _ = p.server.Serve(p.control) }) // Returns http.ErrServerClosed at Close.
	for _, r := range p.routes {
		p.wg.Go(func() { p.accept(r) })
	}
	return p, nil
}

// Fabric is the proxy's fabric, for faults set in process (tests).
func (p *Proxy) Fabric() *fabric.Fabric { return p.fab }

// ControlAddr is the actual host:port of the control API.
func (p *Proxy) ControlAddr() string { return p.control.Addr().String() }

// Routes returns every route with its actual listening address (port 0
// resolved) and its conn counts, in config order.
func (p *Proxy) Routes() []RouteStatus {
	out := make([]RouteStatus, 0, len(p.routes))
	for _, r := range p.routes {
		s := RouteStatus{Route: r.Route, LiveConns: r.live.Load(), TotalConns: r.total.Load()}
		s.ListenAddr = r.listener.Addr().String()
		out = append(out, s)
	}
	return out
}

// Close stops listening, closes every forwarded conn (both ends), ends pending
// dials, closes the fabric and the control API, and waits for every
// goroutine. Idempotent; it returns the first error of closing a listener.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	victims := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		victims = append(victims, c)
	}
	p.mu.Unlock()

	var errs []error
	for _, r := range p.routes {
		errs = append(errs, r.listener.Close())
	}
	p.cancel()
	if p.server != nil {
		errs = append(errs, p.server.Close()) // Closes the control listener too.
	} else if p.control != nil {
		errs = append(errs, p.control.Close())
	}
	for _, c := range victims {
		_ = c.Close() // The peer sees the end; nothing to report.
	}
	errs = append(errs, p.fab.Close())
	p.wg.Wait()
	return errors.Join(errs...)
}

// track adds c to the conns Close closes; false (and c closed) if closing.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// accept serves one route until its listener closes.
func (p *Proxy) accept(r *route) {
	var pause time.Duration
	for {
		c, err := r.listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: wait, growing, then retry.
			pause = min(max(2*pause, 5*time.Millisecond), acceptRetryMax)
			select {
			case <-time.After(pause):
				continue
			case <-p.ctx.Done():
				return
			}
		}
		pause = 0
		if !p.track(c) {
			return
		}
		// This loop is counted in wg, so the count is not zero: Go may race Wait.
		p.wg.Go(func() { p.forward(r, c) })
	}
}
