package fabric

import (
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// chunk is the bytes of one write (or one read of the real conn), deliverable
// from deliverAt on.
type chunk struct {
	data      []byte
	deliverAt time.Time
}

// direction is one direction of a conn: a bounded queue of chunks that become
// deliverable when the faults of the link (from, to) say so, and only while
// none of them holds the direction (a cut). A producer pushes, a consumer
// pops; both may block, never spin.
type direction struct {
	fabric   *Fabric
	from, to string
	draw     float64 // the conn's selection draw in [0, 1): see fault_probability.go

	mu            sync.Mutex
	state         faultState // the faults' memory: seeded generator, bandwidth pacing
	chunks        []chunk    // in delivery order; deliverAt never decreases
	heldBytes     int        // bytes in chunks, at most HeldBytesMax
	lastDeliverAt time.Time
	endErr        error // after the last chunk: the real conn's read error, or errWriteClosed
	endAt         time.Time
	shutErr       error         // set once (close, reset, failed real write): everything fails at once
	changed       chan struct{} // nil unless someone waits; closed on every state change
}

// errWriteClosed ends the out direction after CloseWrite: the pump half-closes
// the real conn once every byte before it is delivered, and later Writes fail.
var errWriteClosed = errors.New("fabric: write after CloseWrite")

func newDirection(f *Fabric, from, to string, rng *rand.Rand, draw float64) *direction {
	return &direction{fabric: f, from: from, to: to, draw: draw, state: faultState{rng: rng}}
}

// faults returns the faults of the link (from, to) that apply to this conn
// now, none if its Probability leaves the conn out, and a channel closed at
// the next link change.
func (d *direction) faults() ([]fault, <-chan struct{}) {
	link, faults, changed := d.fabric.linkState(d.from, d.to)
	if !applies(link.Probability, d.draw) {
		return nil, changed
	}
	return faults, changed
}

// push queues the bytes of p, blocking while the queue is full. It returns how
// many bytes it queued and, if not all, why: the direction was shut or the
// deadline whose channel expired returns passed (expired may be nil: no deadline).
func (d *direction) push(p []byte, expired func() <-chan struct{}) (int, error) {
	// The faults are the link's when the bytes are written (see doc.go).
	faults, _ := d.faults()
	chunkMax := chunkBytesMax(faults)
	written := 0
	for {
		expiredNow := currentDeadline(expired)
		d.mu.Lock()
		if d.shutErr != nil {
			d.mu.Unlock()
			return written, d.shutErr
		}
		if written == len(p) && written > 0 {
			d.mu.Unlock()
			return written, nil
		}
		if d.endErr != nil {
			d.mu.Unlock()
			return written, d.endErr // Only after CloseWrite: pumpIn ends its direction after its last push.
		}
		if isClosed(expiredNow) {
			d.mu.Unlock()
			return written, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			d.mu.Unlock()
			return 0, nil
		}
		if space := HeldBytesMax - d.heldBytes; space > 0 {
			n := min(space, len(p)-written)
			if chunkMax > 0 {
				n = min(n, chunkMax)
			}
			data := make([]byte, n)
			copy(data, p[written:written+n])
			deliverAt := schedule(faults, time.Now(), n, &d.state)
			if deliverAt.Before(d.lastDeliverAt) {
				deliverAt = d.lastDeliverAt // Neither jitter nor loss reorders bytes.
			}
			d.lastDeliverAt = deliverAt
			d.chunks = append(d.chunks, chunk{data: data, deliverAt: deliverAt})
			d.heldBytes += n
			written += n
			d.notifyLocked()
			d.mu.Unlock()
			continue
		}
		changed := d.waitChannelLocked()
		d.mu.Unlock()
		select {
		case <-changed:
		case <-expiredNow:
		}
	}
}

// pop copies deliverable bytes into p, blocking until there are some, the end
// of the stream is deliverable (its error is returned), the direction is shut,
// or the deadline passes. A cut link delivers nothing until it heals.
func (d *direction) pop(p []byte, expired func() <-chan struct{}) (int, error) {
	for {
		expiredNow := currentDeadline(expired)
		faults, linkChanged := d.faults()
		d.mu.Lock()
		if d.shutErr != nil {
			d.mu.Unlock()
			return 0, d.shutErr
		}
		if isClosed(expiredNow) {
			d.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			d.mu.Unlock()
			return 0, nil
		}
		// While cut, only a change (the heal) is worth waking for: held bytes
		// stay held. Otherwise only the state of this direction or a timer is.
		var wakeAt time.Time // zero: nothing to wait for but a change
		if !holding(faults) {
			linkChanged = nil
			now := time.Now()
			if n := d.takeLocked(p, now); n > 0 {
				d.notifyLocked()
				d.mu.Unlock()
				return n, nil
			}
			switch {
			case len(d.chunks) > 0:
				wakeAt = d.chunks[0].deliverAt
			case d.endErr != nil && !now.Before(d.endAt):
				err := d.endErr
				d.mu.Unlock()
				return 0, err
			case d.endErr != nil:
				wakeAt = d.endAt
			}
		}
		changed := d.waitChannelLocked()
		d.mu.Unlock()
		var timer *time.Timer
		var timerFired <-chan time.Time
		if !wakeAt.IsZero() {
			timer = time.NewTimer(time.Until(wakeAt))
			timerFired = timer.C
		}
		select {
		case <-changed:
		case <-linkChanged:
		case <-timerFired:
		case <-expiredNow:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// takeLocked copies the bytes deliverable at now into p, in order.
func (d *direction) takeLocked(p []byte, now time.Time) int {
	n := 0
	for n < len(p) && len(d.chunks) > 0 && !d.chunks[0].deliverAt.After(now) {
		head := &d.chunks[0]
		copied := copy(p[n:], head.data)
		n += copied
		head.data = head.data[copied:]
		if len(head.data) == 0 {
			d.chunks[0] = chunk{} // Lets the collector free the data.
			d.chunks = d.chunks[1:]
		}
	}
	d.heldBytes -= n
	return n
}

// end records the end of the stream, delivered like a last, empty chunk:
// after the faults, after every queued byte, not while cut. err is the real
// conn's read error (io.EOF or a failure) on the in direction, errWriteClosed
// on the out direction. It returns the error of a shut direction.
func (d *direction) end(err error) error {
	faults, _ := d.faults()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutErr != nil {
		return d.shutErr
	}
	if d.endErr != nil {
		return nil
	}
	d.endErr = err
	d.endAt = schedule(faults, time.Now(), 0, &d.state)
	if d.endAt.Before(d.lastDeliverAt) {
		d.endAt = d.lastDeliverAt
	}
	d.notifyLocked()
	return nil
}

// shut makes every blocked and later push and pop fail with err at once and
// drops the queued bytes. The first reason wins.
func (d *direction) shut(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shutErr != nil {
		return
	}
	d.shutErr = err
	d.chunks = nil
	d.heldBytes = 0
	d.notifyLocked()
}

func (d *direction) waitChannelLocked() <-chan struct{} {
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return d.changed
}

// notifyLocked wakes every waiter; they re-check the state themselves.
func (d *direction) notifyLocked() {
	if d.changed != nil {
		close(d.changed)
		d.changed = nil
	}
}

func currentDeadline(expired func() <-chan struct{}) <-chan struct{} {
	if expired == nil {
		return nil
	}
	return expired()
}

// isClosed reports whether ch is closed; false for nil.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
