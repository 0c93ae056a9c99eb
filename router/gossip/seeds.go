package gossip

import (
	"context"
	"net"
	"time"
)

// runMaintenance reaps long-dead members and joins missing seeds every
// RejoinInterval until stop.
func (a *Agent) runMaintenance(seedsFailing map[string]bool) {
	ticker := time.NewTicker(a.cfg.RejoinInterval)
	defer ticker.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-ticker.C:
		}
		a.view.reap()
		a.joinMissingSeeds(seedsFailing)
	}
}

// joinMissingSeeds joins, one by one, each seed that is not the address of
// an alive or suspect member (this member included). It covers a member
// started before its seeds, and two parts of the pool that reaped each
// other after a long partition. seedsFailing (owned by the caller's
// goroutine) keeps the log to one line per seed outage.
func (a *Agent) joinMissingSeeds(seedsFailing map[string]bool) {
	if len(a.cfg.Seeds) == 0 {
		return
	}
	known := a.view.reachableAddrs()
	for _, seed := range a.cfg.Seeds {
		select {
		case <-a.stop:
			return
		default:
		}
		if a.seedKnown(seed, known) {
			continue
		}
		// One seed per Join: memberlist tries the addresses of one call in
		// turn, each bounded by TCPTimeout, and we check stop in between.
		_, err := a.ml.Join([]string{seed})
		switch {
		case err == nil:
			if seedsFailing[seed] {
				delete(seedsFailing, seed)
			}
			a.logger.Info("gossip: joined seed", "seed", seed)
		case !seedsFailing[seed]:
			seedsFailing[seed] = true
			a.logger.Warn("gossip: seed unreachable; retrying", "seed", seed,
				"every", a.cfg.RejoinInterval, "error", err)
		default:
			a.logger.Debug("gossip: seed still unreachable", "seed", seed, "error", err)
		}
	}
}

// seedKnown reports whether seed resolves to an address in known. A seed
// that does not resolve is not known (the join will report why).
func (a *Agent) seedKnown(seed string, known map[string]bool) bool {
	host, port, err := net.SplitHostPort(seed)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return known[net.JoinHostPort(ip.String(), port)]
	}
	ctx, cancel := context.WithTimeout(a.stopCtx, a.cfg.TCPTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if known[net.JoinHostPort(ip.IP.String(), port)] {
			return true
		}
	}
	return false
}
