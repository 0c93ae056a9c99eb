package fabric

import "time"

// cutFault is Link.Cut, a black hole: the direction delivers nothing, not even
// chunks queued before the cut, until it heals; then everything held arrives
// in order. Nothing fails and nothing is dropped, as TCP would keep
// retransmitting across a fiber cut.
type cutFault struct{}

func (cutFault) deliverAt(at time.Time, _ int, _ *faultState) time.Time { return at }

func (cutFault) holds() bool { return true }
