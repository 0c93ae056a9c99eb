package fabric

import "time"

// delayFault adds the one-way latency Link.Delay and a uniform jitter in
// [0, Link.Jitter) drawn from the direction's seeded generator. It never
// reorders bytes: the direction delivers chunks in order (see direction.push).
type delayFault struct {
	delay, jitter time.Duration
}

func (f delayFault) deliverAt(at time.Time, _ int, state *faultState) time.Time {
	extra := f.delay
	if f.jitter > 0 {
		extra += time.Duration(state.rng.Int64N(int64(f.jitter)))
	}
	return at.Add(extra)
}

func (delayFault) holds() bool { return false }
