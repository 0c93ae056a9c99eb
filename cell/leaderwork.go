package cell

import (
	"log/slog"
	"sync"
	"time"

	"github.com/cellpay/cellpay/replication"
)

// leaderWork is the loop the relay and the payout executor share: every
// interval, or at once when kicked, it lists each cell's work items from
// the replicated state of the cells this node leads, and runs every due
// item (workSet: not in flight, not backing off) on a goroutine, at most
// slots at once. The items themselves stay in the state, so a new leader
// resumes them.
type leaderWork[T any] struct {
	host     *replication.Host
	cells    []uint64
	interval time.Duration
	batchMax int
	logger   *slog.Logger
	what     string // "the outbox", for logs

	// list reads up to batchMax items of a cell from its leader's state.
	list func(rd replication.Reader, batchMax int) ([]T, error)
	// ref names an item in the work set (unique on the node).
	ref func(T) string
	// do takes one step of an item: settled, or to be run again at once.
	do func(cellID uint64, item T) (settled, again bool)
	// observed, if set, sees each pass of each cell: whether it is led
	// here, and what it listed.
	observed func(cellID uint64, led bool, items []T, now time.Time)

	work  *workSet
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	slots chan struct{}
}

// init makes the channels and the work set; inFlightMax bounds the items
// run at once.
func (w *leaderWork[T]) init(inFlightMax int, backoffMin, backoffMax time.Duration) {
	w.work = newWorkSet(backoffMin, backoffMax)
	w.kick, w.stop, w.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	w.slots = make(chan struct{}, inFlightMax)
}

// notify asks for a pass now (never blocks).
func (w *leaderWork[T]) notify() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run passes until close; it waits for the items it started.
func (w *leaderWork[T]) run() {
	defer close(w.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-ticker.C:
		case <-w.kick:
		}
		for _, cellID := range w.cells {
			w.pass(cellID, &wg)
		}
	}
}

// close ends the loop and waits for it (cancel the items' context first
// to end items in flight at once).
func (w *leaderWork[T]) close() {
	close(w.stop)
	<-w.done
}

// pass starts every due item of a cell led here.
func (w *leaderWork[T]) pass(cellID uint64, wg *sync.WaitGroup) {
	g, err := w.host.Group(cellID)
	if err != nil || !g.IsLeader() {
		if w.observed != nil {
			w.observed(cellID, false, nil, time.Time{})
		}
		return
	}
	items, err := w.list(g.Reader(), w.batchMax)
	if err != nil {
		w.logger.Error("reading "+w.what, "cell", cellID, "error", err)
		return
	}
	if len(items) < w.batchMax { // A partial view cannot tell what left.
		current := make(map[string]bool, len(items))
		for _, it := range items {
			current[w.ref(it)] = true
		}
		w.work.forget(cellID, current)
	}
	now := time.Now()
	if w.observed != nil {
		w.observed(cellID, true, items, now)
	}
	for _, it := range items {
		id := w.ref(it)
		if due, _ := w.work.claim(cellID, id, now); !due {
			continue
		}
		select {
		case w.slots <- struct{}{}:
		case <-w.stop:
			w.work.finish(id, false, false)
			return
		}
		wg.Go(func() {
			defer func() { <-w.slots }()
			settled, again := w.do(cellID, it)
			w.work.finish(id, settled, again)
		})
	}
}
