package failover

import (
	"sort"
	"time"
)

// CompletedMove is a leadership move that succeeded.
type CompletedMove struct {
	Cell   uint64
	ToNode string
	// Start is when the move began, At when it ended (Duration apart).
	Start, At time.Time
	Duration  time.Duration
}

// MoveTracker is the bookkeeping of one controller term's moves: the moves
// under way, when a cell may be moved again, and the completed moves. It
// tells the next Input which cells are moving (Moving), so that Decide
// does not start a second move of a cell before the first is over, nor
// retry a failed one at once, nor move again a cell whose new leader the
// observers have not reported yet.
//
// It holds at most one entry per cell in each of its maps (cells of the
// topology only, as Decide's moves name). It does no I/O and reads no
// clock; it is not safe for concurrent use (the caller locks it). The
// zero value holds no cell back after a move.
type MoveTracker struct {
	retryAfterFailure, settle time.Duration

	moving    map[uint64]MoveKind
	retryAt   map[uint64]time.Time     // a cell is not moved again before this
	completed map[uint64]CompletedMove // not yet taken (TakeCompleted)
	done      map[uint64]CompletedMove // the newest completed move of each cell
}

// NewMoveTracker returns a tracker that holds a cell back for
// retryAfterFailure after a failed move, and for settle after a
// successful one (observers see the new leader only after their next
// report: until then the cell would look unmoved).
func NewMoveTracker(retryAfterFailure, settle time.Duration) *MoveTracker {
	return &MoveTracker{retryAfterFailure: retryAfterFailure, settle: settle,
		moving: map[uint64]MoveKind{}, retryAt: map[uint64]time.Time{},
		completed: map[uint64]CompletedMove{}, done: map[uint64]CompletedMove{}}
}

// Started records that a move of cell, of kind, is under way.
func (t *MoveTracker) Started(cell uint64, kind MoveKind) {
	t.init()
	t.moving[cell] = kind
}

// Finished records the end, at now, of cell's move to toNode that took
// took; ok: it succeeded.
func (t *MoveTracker) Finished(cell uint64, toNode string, ok bool, now time.Time, took time.Duration) {
	t.init()
	delete(t.moving, cell)
	if !ok {
		t.retryAt[cell] = now.Add(t.retryAfterFailure)
		return
	}
	t.retryAt[cell] = now.Add(t.settle)
	rec := CompletedMove{Cell: cell, ToNode: toNode, Start: now.Add(-took), At: now, Duration: took}
	t.completed[cell], t.done[cell] = rec, rec
}

// Moving returns the cells to report as moving in the Input at now: the
// moves under way with their kind, and the cells held back (as Failover)
// until their retry time; it forgets the retry times that have passed.
func (t *MoveTracker) Moving(now time.Time) map[uint64]MoveKind {
	out := make(map[uint64]MoveKind, len(t.moving)+len(t.retryAt))
	for id, kind := range t.moving {
		out[id] = kind
	}
	for id, at := range t.retryAt {
		if !now.Before(at) {
			delete(t.retryAt, id)
			continue
		}
		if _, ok := out[id]; !ok {
			out[id] = Failover
		}
	}
	return out
}

// TakeCompleted returns the moves completed since the last call, by cell
// (the newest of each cell), and forgets them.
func (t *MoveTracker) TakeCompleted() []CompletedMove {
	out := make([]CompletedMove, 0, len(t.completed))
	for id, m := range t.completed {
		out = append(out, m)
		delete(t.completed, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cell < out[j].Cell })
	return out
}

// Done returns the newest completed move of every cell, by cell id (a
// copy).
func (t *MoveTracker) Done() map[uint64]CompletedMove {
	out := make(map[uint64]CompletedMove, len(t.done))
	for id, m := range t.done {
		out[id] = m
	}
	return out
}

func (t *MoveTracker) init() {
	if t.moving == nil {
		t.moving, t.retryAt = map[uint64]MoveKind{}, map[uint64]time.Time{}
		t.completed, t.done = map[uint64]CompletedMove{}, map[uint64]CompletedMove{}
	}
}

// Tracked returns how many cells are moving or held back.
func (t *MoveTracker) Tracked() int { return len(t.moving) + len(t.retryAt) }
