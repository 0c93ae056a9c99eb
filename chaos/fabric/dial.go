package fabric

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Dialer returns a dial function for nodes of fromSite, shaped for
// grpc.WithContextDialer. It dials addr over TCP and wraps the conn so the
// links between fromSite and addr's site apply to it.
//
// The dial fails at once if addr is not registered (ErrNotRegistered) or the
// fabric is closed (ErrClosed). While either direction between the two sites is
// cut it hangs, as a TCP handshake into a black hole does, until ctx is done
// (the error wraps ctx.Err()) or the path heals. Once the path is open it takes
// one round trip (the delays of both directions), like a TCP handshake.
//
// Dialer also makes fromSite known to the fabric (Sites), which is how client
// pseudo-sites, which never Register, become subject to CutIngress.
func (f *Fabric) Dialer(fromSite string) func(ctx context.Context, addr string) (net.Conn, error) {
	f.noteDialerSite(fromSite)
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return f.dial(ctx, fromSite, addr)
	}
}

func (f *Fabric) dial(ctx context.Context, fromSite, addr string) (net.Conn, error) {
	if ctx == nil {
		ctx = context.Background() // Never panic on a careless caller.
	}
	toSite, err := f.siteOf(addr)
	if err != nil {
		return nil, err
	}
	roundTrip, err := f.awaitPath(ctx, fromSite, toSite, addr)
	if err != nil {
		return nil, err
	}
	if err := f.sleep(ctx, roundTrip); err != nil {
		return nil, fmt.Errorf("fabric: dial %s from site %s: %w", addr, fromSite, err)
	}
	var dialer net.Dialer
	real, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := newConn(f, real, fromSite, toSite, f.nextDial(fromSite, toSite))
	c.start()
	if !f.track(c) {
		_ = c.abort(ErrClosed) // The fabric closed during the dial; the conn never served.
		return nil, ErrClosed
	}
	return c, nil
}

// awaitPath waits until neither direction between the sites is cut and returns
// the round trip of the path then.
func (f *Fabric) awaitPath(ctx context.Context, fromSite, toSite, addr string) (time.Duration, error) {
	for {
		forward, _, changed := f.linkState(fromSite, toSite)
		backward, _, _ := f.linkState(toSite, fromSite) // A change between the reads closes changed.
		if !forward.Cut && !backward.Cut {
			return forward.Delay + backward.Delay, nil
		}
		select {
		case <-changed:
		case <-f.done:
			return 0, ErrClosed
		case <-ctx.Done():
			return 0, fmt.Errorf("fabric: dial %s from site %s: path to site %s is cut: %w",
				addr, fromSite, toSite, ctx.Err())
		}
	}
}

// sleep waits for d, or fails when ctx is done or the fabric closes.
func (f *Fabric) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-f.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}
