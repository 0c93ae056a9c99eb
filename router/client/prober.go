package client

import (
	"context"
	"sync"
	"time"
)

// probeLoop re-checks unhealthy routers every ProbeInterval until Close.
func (c *Client) probeLoop() {
	defer close(c.proberDone)
	ticker := time.NewTicker(c.cfg.ProbeInterval)
	defer ticker.Stop()
	for {
		select {
		case <-c.life.Done():
			return
		case <-ticker.C:
		}
		c.probeUnhealthy()
	}
}

// probeUnhealthy probes every unhealthy router in parallel, each bounded by
// min(ProbeInterval, AttemptTimeout) and by Close, and marks the ones that
// answer healthy.
func (c *Client) probeUnhealthy() {
	ctx, cancel := context.WithTimeout(c.life, min(c.cfg.ProbeInterval, c.cfg.AttemptTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range c.routers.all {
		if r.healthy.Load() {
			continue
		}
		wg.Go(func() {
			if c.routers.probe(ctx, r) {
				c.routers.markHealthy(r, "probe")
			}
		})
	}
	wg.Wait()
}
