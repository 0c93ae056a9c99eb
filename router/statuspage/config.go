package statuspage

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/topology"
)

// Defaults and limits of Config.
const (
	// DefaultStatusTimeout bounds one status computation: the router asks
	// every replica and meta voter with a 1 s timeout each, in parallel, so
	// a cut-off site costs about 1 s, not more.
	DefaultStatusTimeout = 3 * time.Second
	// DefaultInFlightMax bounds the status computations running at once:
	// each one is a call to every replica, and a page refreshes every 2 s.
	DefaultInFlightMax = 4

	// statusTimeoutLimit and inFlightMaxLimit fence the options: a bigger
	// value is a typo (ms for s) rather than a choice.
	statusTimeoutLimit = time.Minute
	inFlightMaxLimit   = 64
)

// StatusFunc computes the cluster status; it must return by ctx's deadline.
type StatusFunc func(ctx context.Context) (*pb.ClusterStatus, error)

// Site is one site of the topology, as the page groups it.
type Site struct {
	ID     string `json:"id"`
	Region string `json:"region"`
}

// SitesOf lists the topology's sites in its order.
func SitesOf(topo *topology.Topology) []Site {
	var out []Site
	for _, s := range topo.Sites() {
		out = append(out, Site{ID: s.ID, Region: s.Region})
	}
	return out
}

// Config configures the handler. Zero fields other than Status take their
// defaults.
type Config struct {
	// Status computes the status that /status.json serves. Required.
	Status StatusFunc
	// Sites are the topology's sites with their regions, in order. The page
	// groups the sites of the status by region; a site it does not list
	// goes into a group of its own. Optional.
	Sites []Site
	// StatusTimeout bounds one call to Status. Default
	// DefaultStatusTimeout (3 s), at most 1 minute.
	StatusTimeout time.Duration
	// InFlightMax bounds the calls to Status running at once; a request
	// beyond it is answered 503. Default DefaultInFlightMax (4), at most 64.
	InFlightMax int
}

// withDefaults fills the zero tunables of c.
func (c Config) withDefaults() Config {
	if c.StatusTimeout == 0 {
		c.StatusTimeout = DefaultStatusTimeout
	}
	if c.InFlightMax == 0 {
		c.InFlightMax = DefaultInFlightMax
	}
	return c
}

// Validate reports every invalid field of c (after defaults), or nil.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("statuspage: "+format, args...)) }
	if c.Status == nil {
		bad("Status is required")
	}
	if c.StatusTimeout < 0 || c.StatusTimeout > statusTimeoutLimit {
		bad("StatusTimeout (%s) must be between 1ns and %s", c.StatusTimeout, statusTimeoutLimit)
	}
	if c.InFlightMax < 0 || c.InFlightMax > inFlightMaxLimit {
		bad("InFlightMax (%d) must be between 1 and %d", c.InFlightMax, inFlightMaxLimit)
	}
	seen := make(map[string]bool, len(c.Sites))
	for i, s := range c.Sites {
		if s.ID == "" {
			bad("Sites[%d].ID is empty", i)
		} else if seen[s.ID] {
			bad("Sites[%d].ID %q appears twice", i, s.ID)
		}
		seen[s.ID] = true
	}
	return errors.Join(errs...)
}
