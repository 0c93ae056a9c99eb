package fabric

import (
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
// deliverable after the delay of the link (from, to), and only while that link
// is not cut. A producer pushes, a consumer pops; both may block, never spin.
type direction struct {
	fabric   *Fabric
	from, to string

	mu            sync.Mutex
	chunks        []chunk // in delivery order; deliverAt never decreases
	heldBytes     int     // bytes in chunks, at most HeldBytesMax
	lastDeliverAt time.Time
	endErr        error // the real conn's read error, delivered after every chunk
	endAt         time.Time
	shutErr       error         // set once (close, reset, failed real write): everything fails at once
	changed       chan struct{} // nil unless someone waits; closed on every state change
}

func newDirection(f *Fabric, from, to string) *direction {
	return &direction{fabric: f, from: from, to: to}
}

// push queues the bytes of p, blocking while the queue is full. It returns how
// many bytes it queued and, if not all, why: the direction was shut or the
// deadline whose channel expired returns passed (expired may be nil: no deadline).
func (d *direction) push(p []byte, expired func() <-chan struct{}) (int, error) {
	// The delay is the link's when the bytes are written (see doc.go).
	link, _ := d.fabric.linkState(d.from, d.to)
	extra := link.Delay + d.fabric.jitter(link.Jitter)
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
			data := make([]byte, n)
			copy(data, p[written:written+n])
			deliverAt := time.Now().Add(extra)
			if deliverAt.Before(d.lastDeliverAt) {
				deliverAt = d.lastDeliverAt // Jitter never reorders bytes.
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
		link, linkChanged := d.fabric.linkState(d.from, d.to)
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
		if !link.Cut {
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

// end records the real conn's read error (io.EOF or a failure), delivered like
// a last chunk: after the delay, after every queued byte, not while cut.
func (d *direction) end(err error) {
	link, _ := d.fabric.linkState(d.from, d.to)
	extra := link.Delay + d.fabric.jitter(link.Jitter)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.endErr != nil || d.shutErr != nil {
		return
	}
	d.endErr = err
	d.endAt = time.Now().Add(extra)
	if d.endAt.Before(d.lastDeliverAt) {
		d.endAt = d.lastDeliverAt
	}
	d.notifyLocked()
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
