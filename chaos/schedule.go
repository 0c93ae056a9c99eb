package chaos

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Default fault window, as fractions of Options.Duration: faults start at
// 20% of the traffic and are healed at 60%, leaving 40% for recovery and
// failback under traffic.
const (
	DefaultFaultStartPercent = 20
	DefaultFaultEndPercent   = 60
)

// Offset is a point in a run's traffic: a percentage of Options.Duration or
// a fixed time after the traffic starts. The zero Offset is unset (the
// default applies); build one with Percent, After or ParseOffset.
type Offset struct {
	percent float64
	after   time.Duration
	fixed   bool // after, not percent
	set     bool
}

// Percent is the point p% of the way through the traffic.
func Percent(p float64) Offset { return Offset{percent: p, set: true} }

// After is the point d after the traffic starts.
func After(d time.Duration) Offset { return Offset{after: d, fixed: true, set: true} }

// ParseOffset reads "20%" (a percentage of the duration, decimals allowed)
// or a Go duration such as "4s" or "1m30s".
func ParseOffset(s string) (Offset, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return Offset{}, fmt.Errorf("chaos: %q is not a percentage such as 20%%", s)
		}
		return Percent(v), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Offset{}, fmt.Errorf("chaos: %q is neither a percentage (20%%) nor a duration (4s)", s)
	}
	return After(d), nil
}

// IsSet reports whether o was given (the zero Offset is not).
func (o Offset) IsSet() bool { return o.set }

// String is the form ParseOffset reads ("20%", "4s"); "" when unset.
func (o Offset) String() string {
	switch {
	case !o.set:
		return ""
	case o.fixed:
		return o.after.String()
	}
	return strconv.FormatFloat(o.percent, 'f', -1, 64) + "%"
}

// At resolves o against the traffic's duration.
func (o Offset) At(duration time.Duration) time.Duration {
	if o.fixed {
		return o.after
	}
	return time.Duration(o.percent / 100 * float64(duration))
}

// describe is o with its resolved time when it is a percentage: "20% = 4s".
func (o Offset) describe(duration time.Duration) string {
	if o.fixed {
		return o.String()
	}
	return fmt.Sprintf("%s = %s", o, o.At(duration))
}

// check reports what is wrong with o on its own (name is the option's name).
func (o Offset) check(name string) error {
	switch {
	case o.fixed && o.after < 0:
		return fmt.Errorf("chaos: Options.%s (%s) is negative", name, o)
	case !o.fixed && (o.percent < 0 || o.percent > 100):
		return fmt.Errorf("chaos: Options.%s (%s) is not a percentage in [0%%, 100%%]", name, o)
	}
	return nil
}

// window is a run's fault window, resolved.
type window struct{ start, end time.Duration }

func (w window) String() string { return fmt.Sprintf("faults from %s to %s", w.start, w.end) }
