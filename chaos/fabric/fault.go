package fabric

import (
	"math/rand/v2"
	"time"
)

// fault is one kind of impairment of a link direction, like a toxiproxy toxic:
// one small type per fault, one file each, configured by the fields of Link
// that name it. A Link is compiled into its faults once, when it is set
// (faultsOf), so writes only run the faults that are on.
//
// The faults of a direction see each chunk once, in write order, when it is
// queued (deliverAt), and are asked at every delivery whether the direction
// holds its chunks now (holds), so a fault set later still stops bytes that
// are already queued.
type fault interface {
	// deliverAt returns when a chunk of size bytes becomes deliverable, given
	// when it would be without this fault (at). It runs under the direction's
	// lock and may update the direction's faultState.
	deliverAt(at time.Time, size int, state *faultState) time.Time
	// holds reports whether the direction delivers nothing now.
	holds() bool
}

// chunkSplitter is implemented by faults that want writes cut into smaller
// chunks (bandwidth pacing delivers a chunk only once all of it is "sent").
type chunkSplitter interface {
	chunkBytesMax() int
}

// faultState is what the faults of one direction of one conn remember between
// chunks. Each direction has its own seeded generator, so the pattern of one
// direction does not depend on how the other direction's writes interleave.
type faultState struct {
	rng        *rand.Rand
	wireFreeAt time.Time // bandwidth: when the emulated wire has sent every earlier chunk
}

// faultsOf compiles l into its faults, in the order they act on a chunk:
// first it is put on the wire (bandwidth), then it travels (delay and
// jitter), then it may be lost and retransmitted (loss). A cut holds
// everything whatever the order. Faults that are off are left out.
func faultsOf(l Link) []fault {
	var faults []fault
	if l.BandwidthBytesPerSecond > 0 {
		faults = append(faults, bandwidthFault{bytesPerSecond: l.BandwidthBytesPerSecond})
	}
	if l.Delay > 0 || l.Jitter > 0 {
		faults = append(faults, delayFault{delay: l.Delay, jitter: l.Jitter})
	}
	if l.Loss > 0 {
		faults = append(faults, lossFault{probability: l.Loss})
	}
	if l.Cut {
		faults = append(faults, cutFault{})
	}
	return faults
}

// schedule returns when a chunk of size bytes, queued at now, is deliverable
// under faults.
func schedule(faults []fault, now time.Time, size int, state *faultState) time.Time {
	at := now
	for _, f := range faults {
		at = f.deliverAt(at, size, state)
	}
	return at
}

// holding reports whether any of faults holds the direction now.
func holding(faults []fault) bool {
	for _, f := range faults {
		if f.holds() {
			return true
		}
	}
	return false
}

// chunkBytesMax is the largest chunk faults want; 0 means no limit.
func chunkBytesMax(faults []fault) int {
	limit := 0
	for _, f := range faults {
		if s, ok := f.(chunkSplitter); ok {
			if n := s.chunkBytesMax(); limit == 0 || n < limit {
				limit = n
			}
		}
	}
	return limit
}
