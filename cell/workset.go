package cell

import (
	"sync"
	"time"
)

// workSet is the in-memory schedule of a leader's background work: the
// outbox deliveries of the relay, the payouts of the executor. The work
// itself is in the replicated state (outbox records, payout work items), so
// a new leader finds it; the set only remembers, per item, whether it is in
// flight, whether it is fresh (recorded by this node, never attempted) and
// until when it backs off. It stays bounded by the replicated work: items
// that left the state are forgotten at the next full pass.
type workSet struct {
	backoffMin, backoffMax time.Duration

	mu    sync.Mutex
	items map[string]*workItem // by transfer or payout id
}

type workItem struct {
	cellID   uint64
	inFlight bool
	fresh    bool
	retryAt  time.Time
	backoff  time.Duration
}

func newWorkSet(backoffMin, backoffMax time.Duration) *workSet {
	return &workSet{backoffMin: backoffMin, backoffMax: backoffMax, items: make(map[string]*workItem)}
}

// markFresh records that this node just created the item (it was never
// attempted anywhere).
func (w *workSet) markFresh(cellID uint64, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.items[id]; !ok {
		w.items[id] = &workItem{cellID: cellID, fresh: true}
	}
}

// claim marks an item of a pass in flight if it is due, and reports whether
// it was, and whether it was fresh.
func (w *workSet) claim(cellID uint64, id string, now time.Time) (due, fresh bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	it := w.items[id]
	if it == nil {
		it = &workItem{cellID: cellID}
		w.items[id] = it
	}
	if it.inFlight || now.Before(it.retryAt) {
		return false, false
	}
	fresh = it.fresh
	it.inFlight, it.fresh = true, false
	return true, fresh
}

// finish ends an attempt: done (the item left the work), again (due at
// once, as fresh: e.g. rerouted to a provider that never saw it), or else
// backing off, doubling from backoffMin to backoffMax.
func (w *workSet) finish(id string, done, again bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	it := w.items[id]
	if done || it == nil {
		delete(w.items, id)
		return
	}
	it.inFlight = false
	if again {
		it.fresh, it.retryAt, it.backoff = true, time.Time{}, 0
		return
	}
	it.backoff = min(max(2*it.backoff, w.backoffMin), w.backoffMax)
	it.retryAt = time.Now().Add(it.backoff)
}

// forget drops the items of a cell that are not in current (the whole work
// of the cell as just read), unless they are in flight or fresh.
func (w *workSet) forget(cellID uint64, current map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, it := range w.items {
		if it.cellID == cellID && !it.inFlight && !it.fresh && !current[id] {
			delete(w.items, id)
		}
	}
}

// size is the number of items remembered.
func (w *workSet) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.items)
}
