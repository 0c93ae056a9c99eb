package fabric

import "time"

// bandwidthChunkDuration is how much sending time one chunk of a paced
// direction takes at most: writes are cut into chunks this long, so the reader
// sees a steady trickle instead of one burst per write.
const bandwidthChunkDuration = 10 * time.Millisecond

// bandwidthChunkBytesMin keeps paced chunks from getting absurdly small on a
// very slow link (one allocation per chunk).
const bandwidthChunkBytesMin = 512

// bandwidthFault paces a direction to Link.BandwidthBytesPerSecond: a chunk is
// deliverable once the emulated wire has sent it, after every earlier chunk.
// Each conn has the whole bandwidth to itself in each direction (like
// toxiproxy's bandwidth toxic): it models a slow path, not a shared pipe.
type bandwidthFault struct {
	bytesPerSecond int64 // > 0
}

func (f bandwidthFault) deliverAt(at time.Time, size int, state *faultState) time.Time {
	start := at
	if state.wireFreeAt.After(start) {
		start = state.wireFreeAt // The wire is still busy with earlier chunks.
	}
	// size <= HeldBytesMax and bytesPerSecond >= 1, so this cannot overflow.
	sending := time.Duration(int64(size) * int64(time.Second) / f.bytesPerSecond)
	state.wireFreeAt = start.Add(sending)
	return state.wireFreeAt
}

func (bandwidthFault) holds() bool { return false }

func (f bandwidthFault) chunkBytesMax() int {
	n := f.bytesPerSecond / int64(time.Second/bandwidthChunkDuration) // Divides first: no overflow.
	return int(min(max(n, bandwidthChunkBytesMin), pumpBufferBytes))
}
