package failover

import "time"

// Flap damping: a site that goes down again and again would otherwise fail
// over and back on every cycle, each move costing every client of its
// cells a leader change. Each failure (suspect -> down) counts; the
// hold-down before failback doubles with every failure counted, up to
// HoldDownMax; a site healthy for FlapResetAfter is forgiven.
//
// The count lives in SiteStatus.Failures, which the caller records with
// the site's state in the meta group, so a new controller (after a change
// of meta leader) goes on counting instead of starting afresh.

// FailuresMax bounds SiteStatus.Failures: further failures are not
// counted. The hold-down reaches HoldDownMax long before (2^(FailuresMax-1)
// times HoldDown); the bound keeps the count, and HoldDownFor's loop,
// finite.
const FailuresMax = 100

// HoldDownFor returns how long a site with failures counted failures must
// be healthy before its cells fail back:
//
//	min(HoldDown · 2^(failures-1), HoldDownMax)
//
// HoldDown for none or one failure. cfg must be valid (Validate): with a
// HoldDownMax below HoldDown, HoldDownMax wins.
func HoldDownFor(cfg Config, failures int) time.Duration {
	d := cfg.HoldDown
	for i := 1; i < min(failures, FailuresMax) && d < cfg.HoldDownMax; i++ {
		if d > cfg.HoldDownMax/2 {
			return cfg.HoldDownMax // doubling would pass the bound (or overflow)
		}
		d *= 2
	}
	return min(d, cfg.HoldDownMax)
}

// FailuresAt returns the failures of s that count at now: none once the
// site has been healthy for FlapResetAfter (a healthy site with a zero
// Since has been healthy since before anyone watched), else s.Failures.
func FailuresAt(cfg Config, s SiteStatus, now time.Time) int {
	if s.State == Healthy && (s.Since.IsZero() || now.Sub(s.Since) >= cfg.FlapResetAfter) {
		return 0
	}
	return min(max(s.Failures, 0), FailuresMax)
}

// failuresAfter returns the failures a site in state cur has once it
// enters state to at now: one more on entering Down, none when a site
// healthy for FlapResetAfter turns suspect (forgiven), else unchanged.
func failuresAfter(cfg Config, cur SiteStatus, to SiteState, now time.Time) int {
	n := FailuresAt(cfg, cur, now)
	if to == Down && cur.State != Down {
		n = min(n+1, FailuresMax)
	}
	return n
}
