package fabric

import "time"

// LossStall is how late a lost chunk arrives: TCP's minimum retransmission
// timeout (200 ms on Linux). TCP never loses bytes, it stalls: the segment is
// sent again after the RTO and every byte behind it waits (head-of-line
// blocking), which is what a lossy link looks like to an application.
const LossStall = 200 * time.Millisecond

// lossFault loses a chunk with probability Link.Loss, drawn from the
// direction's seeded generator: the chunk, and so every chunk behind it, is
// delivered LossStall late. The retransmission itself always succeeds; this
// keeps the emulated stall bounded and easy to reason about.
type lossFault struct {
	probability float64 // in (0, 1]
}

func (f lossFault) deliverAt(at time.Time, _ int, state *faultState) time.Time {
	if state.rng.Float64() < f.probability {
		return at.Add(LossStall)
	}
	return at
}

func (lossFault) holds() bool { return false }
