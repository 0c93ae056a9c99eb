package failover

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the controller's thresholds. DefaultConfig fills every
// field; Validate reports every violation at once.
type Config struct {
	// ObservationAgeMax: an observation older than this is ignored (its
	// observer is as good as absent). Default 2 s.
	ObservationAgeMax time.Duration
	// ObserverSitesMin is how many other sites must agree before a site is
	// judged unreachable (or reachable again). Default 2; at least 2, so
	// that one site's observers alone never fail a site over.
	ObserverSitesMin int
	// DownAfter: a suspect site that stays unreachable this long is down.
	// Default 1 s.
	DownAfter time.Duration
	// RecoverAfter: a down site judged reachable this long is healthy
	// again. Default 2 s.
	RecoverAfter time.Duration
	// HoldDown: cells fail back to a home site only after it has been
	// healthy this long. Default 10 s. It is the base of flap damping: a
	// site that keeps failing waits longer (HoldDownFor).
	HoldDown time.Duration
	// HoldDownMax bounds the hold-down of a site that keeps failing: each
	// failure without FlapResetAfter of healthy time since the one before
	// doubles it (HoldDown, 2·HoldDown, 4·HoldDown, ...) up to this.
	// Default 5 min; at least HoldDown.
	HoldDownMax time.Duration
	// FlapResetAfter: a site healthy this long has its failures forgiven,
	// so its next failure waits HoldDown again. Default 15 min; at least
	// HoldDownMax, so that a forgiven site has served any hold-down.
	FlapResetAfter time.Duration
	// FailbackWaveMax bounds failback moves under way at once. Default 2.
	FailbackWaveMax int
	// MovesInFlightMax bounds every other kind of move under way at once.
	// Default 16.
	MovesInFlightMax int
	// CatchUpLagMax: a replica whose applied index is at most this many
	// entries behind its leader's is caught up. Default 256.
	CatchUpLagMax uint64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		ObservationAgeMax: 2 * time.Second,
		ObserverSitesMin:  2,
		DownAfter:         time.Second,
		RecoverAfter:      2 * time.Second,
		HoldDown:          10 * time.Second,
		HoldDownMax:       5 * time.Minute,
		FlapResetAfter:    15 * time.Minute,
		FailbackWaveMax:   2,
		MovesInFlightMax:  16,
		CatchUpLagMax:     256,
	}
}

// Validate reports every violation, with its value.
func (c Config) Validate() error {
	var errs []error
	if c.ObservationAgeMax <= 0 {
		errs = append(errs, fmt.Errorf("failover: ObservationAgeMax (%s) must be positive", c.ObservationAgeMax))
	}
	if c.ObserverSitesMin < 2 {
		errs = append(errs, fmt.Errorf("failover: ObserverSitesMin (%d) must be at least 2: one site's observers alone must never fail a site over", c.ObserverSitesMin))
	}
	if c.DownAfter < 0 {
		errs = append(errs, fmt.Errorf("failover: DownAfter (%s) cannot be negative", c.DownAfter))
	}
	if c.RecoverAfter < 0 {
		errs = append(errs, fmt.Errorf("failover: RecoverAfter (%s) cannot be negative", c.RecoverAfter))
	}
	if c.HoldDown < 0 {
		errs = append(errs, fmt.Errorf("failover: HoldDown (%s) cannot be negative", c.HoldDown))
	}
	switch {
	case c.HoldDownMax < 0:
		errs = append(errs, fmt.Errorf("failover: HoldDownMax (%s) cannot be negative", c.HoldDownMax))
	case c.HoldDownMax < c.HoldDown:
		errs = append(errs, fmt.Errorf("failover: HoldDownMax (%s) must be at least HoldDown (%s)", c.HoldDownMax, c.HoldDown))
	}
	switch {
	case c.FlapResetAfter < 0:
		errs = append(errs, fmt.Errorf("failover: FlapResetAfter (%s) cannot be negative", c.FlapResetAfter))
	case c.FlapResetAfter < c.HoldDownMax:
		errs = append(errs, fmt.Errorf("failover: FlapResetAfter (%s) must be at least HoldDownMax (%s): a site is forgiven its failures only after it could have served the longest hold-down", c.FlapResetAfter, c.HoldDownMax))
	}
	if c.FailbackWaveMax < 1 {
		errs = append(errs, fmt.Errorf("failover: FailbackWaveMax (%d) must be at least 1", c.FailbackWaveMax))
	}
	if c.MovesInFlightMax < 1 {
		errs = append(errs, fmt.Errorf("failover: MovesInFlightMax (%d) must be at least 1", c.MovesInFlightMax))
	}
	return errors.Join(errs...)
}
