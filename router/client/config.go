package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultDeadline       = 10 * time.Second
	DefaultAttemptTimeout = 2 * time.Second
	DefaultBackoffMin     = 20 * time.Millisecond
	DefaultBackoffMax     = 500 * time.Millisecond
	DefaultProbeInterval  = time.Second
)

// Config configures a Client. Zero durations take their defaults.
type Config struct {
	// Region is the caller's own region, whose routers are preferred.
	// Required.
	Region string
	// Routers maps each region to its routers' addresses (host:port).
	// Required; must include Region. An address may appear only once.
	Routers map[string][]string
	// Dialer opens connections to routers (tests and chaos wrap it).
	// Default: a plain TCP dial.
	Dialer func(ctx context.Context, addr string) (net.Conn, error)
	// TLS secures connections to routers. Default: no TLS (plaintext), for
	// tests and local clusters only.
	TLS *tls.Config
	// Deadline bounds one logical operation, all retries included.
	// Default 10 s. A context deadline that comes sooner wins.
	Deadline time.Duration
	// AttemptTimeout bounds one RPC attempt. Default 2 s. It cannot exceed
	// Deadline, else no retry could ever run.
	AttemptTimeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between attempts. Defaults 20 ms and 500 ms.
	BackoffMin, BackoffMax time.Duration
	// ProbeInterval is how often an unhealthy router is re-checked.
	// Default 1 s. One probe is bounded by min(ProbeInterval,
	// AttemptTimeout).
	ProbeInterval time.Duration
	// Logger receives health changes and retries. Default: discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Deadline == 0 {
		c.Deadline = DefaultDeadline
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every violation of c at once (zero durations count as
// their defaults).
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("client: "+format, args...))
	}
	if d.Region == "" {
		add("Region is required")
	}
	if len(d.Routers) == 0 {
		add("Routers is required (region -> router addresses)")
	} else if d.Region != "" {
		if _, ok := d.Routers[d.Region]; !ok {
			add("Routers has no entry for the own Region %q", d.Region)
		}
	}
	seen := make(map[string]string) // address -> region
	regions := make([]string, 0, len(d.Routers))
	for region := range d.Routers {
		regions = append(regions, region)
	}
	slices.Sort(regions) // deterministic order of the messages
	for _, region := range regions {
		addrs := d.Routers[region]
		if region == "" {
			add("Routers has an empty region name")
		}
		if len(addrs) == 0 {
			add("Routers[%q] has no addresses", region)
		}
		for i, addr := range addrs {
			if _, _, err := net.SplitHostPort(addr); err != nil || addr == "" {
				add("Routers[%q][%d] (%q) is not host:port", region, i, addr)
				continue
			}
			if other, dup := seen[addr]; dup {
				add("Routers[%q][%d] (%q) is already listed for region %q", region, i, addr, other)
				continue
			}
			seen[addr] = region
		}
	}
	positive := func(name string, v time.Duration) {
		if v < 0 {
			add("%s (%s) cannot be negative", name, v)
		}
	}
	positive("Deadline", c.Deadline)
	positive("AttemptTimeout", c.AttemptTimeout)
	positive("BackoffMin", c.BackoffMin)
	positive("BackoffMax", c.BackoffMax)
	positive("ProbeInterval", c.ProbeInterval)
	if d.AttemptTimeout > 0 && d.Deadline > 0 && d.AttemptTimeout > d.Deadline {
		add("AttemptTimeout (%s) cannot be longer than Deadline (%s): no retry could run", d.AttemptTimeout, d.Deadline)
	}
	if d.BackoffMin > 0 && d.BackoffMax > 0 && d.BackoffMin > d.BackoffMax {
		add("BackoffMin (%s) cannot be larger than BackoffMax (%s)", d.BackoffMin, d.BackoffMax)
	}
	return errors.Join(errs...)
}
