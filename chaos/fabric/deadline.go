package fabric

import (
	"sync"
	"time"
)

// deadline is a read or write deadline as a channel closed when it passes, so
// a blocked Read or Write can select on it. Like net.Pipe's, the channel is
// kept while it is open, so moving the deadline of a blocked call works.
type deadline struct {
	mu         sync.Mutex
	timer      *time.Timer
	generation uint64 // bumped by set, so a stale timer cannot close the channel
	expired    chan struct{}
}

func newDeadline() *deadline {
	return &deadline{expired: make(chan struct{})}
}

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	d.generation++
	if isClosed(d.expired) {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	generation := d.generation
	d.timer = time.AfterFunc(wait, func() { d.fire(generation) })
}

func (d *deadline) fire(generation uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.generation == generation && !isClosed(d.expired) {
		close(d.expired)
	}
}

// channel returns the channel closed when the current deadline passes.
func (d *deadline) channel() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop cancels the pending timer, if any.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *deadline) stopLocked() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
