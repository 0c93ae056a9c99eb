package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Redirects is the dial table of the processes of one site: the target
// address of every route from that site, mapped to the route's listen
// address. A process that dials through Redirects.Dialer reaches every
// redirected address through the proxy and every other address (its own
// site, gossip) directly. Build one with Config.RedirectsFrom; it is
// immutable and safe for concurrent use.
type Redirects struct {
	fromSite string
	to       map[string]string // normalized target address -> listen address
}

// RedirectsFrom returns the redirects of the processes of fromSite: one per
// route whose from_site is fromSite. Each such route's listen_addr must be an
// address other processes can dial: a concrete host (not empty, 0.0.0.0 or
// ::) and a port other than 0. Every problem is reported at once, naming the
// route's field, wrapped in ErrInvalidConfig. A site without routes has an
// empty table: every dial goes direct.
func (c Config) RedirectsFrom(fromSite string) (Redirects, error) {
	r := Redirects{fromSite: fromSite, to: map[string]string{}}
	var errs []error
	for i, route := range c.Routes {
		if route.FromSite != fromSite {
			continue
		}
		field := fmt.Sprintf("routes[%d]", i)
		if err := dialable(route.ListenAddr); err != nil {
			errs = append(errs, &FieldError{Field: field + ".listen_addr", Problem: err.Error()})
			continue
		}
		key, err := normalizeAddr(route.TargetAddr)
		if err != nil {
			errs = append(errs, &FieldError{Field: field + ".target_addr", Problem: err.Error()})
			continue
		}
		if prev, dup := r.to[key]; dup && prev != route.ListenAddr {
			errs = append(errs, &FieldError{Field: field + ".target_addr", Problem: fmt.Sprintf("%s already has a route from %s (to %s)", route.TargetAddr, fromSite, prev)})
			continue
		}
		r.to[key] = route.ListenAddr
	}
	if len(errs) > 0 {
		return Redirects{}, fmt.Errorf("%w: redirects from site %q:\n%w", ErrInvalidConfig, fromSite, errors.Join(errs...))
	}
	return r, nil
}

// FromSite is the site whose processes use these redirects.
func (r Redirects) FromSite() string { return r.fromSite }

// Len is the number of redirected addresses.
func (r Redirects) Len() int { return len(r.to) }

// Lookup returns the address to dial for addr: the proxy's listen address
// and true when addr is redirected, else addr itself and false. Addresses
// match after normalizing their spelling ("LOCALHOST:07101" is
// "localhost:7101"), as the topology compares them.
func (r Redirects) Lookup(addr string) (string, bool) {
	key, err := normalizeAddr(addr)
	if err != nil {
		return addr, false
	}
	if to, ok := r.to[key]; ok {
		return to, true
	}
	return addr, false
}

// Missing returns the addresses of want that are not redirected, in the
// order given, without repeats: the caller's check that every address in
// another site goes through the proxy.
func (r Redirects) Missing(want []string) []string {
	var out []string
	for _, addr := range want {
		if _, ok := r.Lookup(addr); !ok && !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out
}

// Dialer returns a dialer that dials Lookup(addr) through base (nil: plain
// TCP). It has the signature every cellpay dialer takes (Raft transport,
// router-to-node, control plane, and gossip once it accepts one).
func (r Redirects) Dialer(base func(ctx context.Context, addr string) (net.Conn, error)) func(ctx context.Context, addr string) (net.Conn, error) {
	if base == nil {
		var d net.Dialer
		base = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		to, _ := r.Lookup(addr)
		return base(ctx, to)
	}
}

// dialable checks that addr is an address a process can dial: host:port
// with a concrete host and a non-zero port.
func dialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("%q listens on every interface; processes need an address to dial: name the proxy's host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not in 1-65535 (port 0 is unknown to other processes)", addr, port)
	}
	return nil
}

// normalizeAddr spells addr canonically: lower-case host, canonical IP,
// decimal port without leading zeros.
func normalizeAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number in 0-65535", addr, port)
	}
	host = strings.ToLower(host)
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}
