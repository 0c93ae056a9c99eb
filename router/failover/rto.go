package failover

import (
	"sort"
	"time"
)

// FirstWriteWaitMax is the default bound of an RTOTracker's watch: a cell
// that sees no first write this long after its fault or move is no longer
// watched (its wait is reported as expired, with no measurement).
const FirstWriteWaitMax = time.Minute

// RTOCause says what started a recovery-time measurement.
type RTOCause string

// RTO causes.
const (
	// CauseFault: a site turned suspect; the first write must come from a
	// leader outside it.
	CauseFault RTOCause = "fault"
	// CauseMove: a leadership move; the first write must come from the node
	// it moved to.
	CauseMove RTOCause = "move"
)

// Write is the first successful write a router saw for a cell through a
// leader (routers report one per cell and leader).
type Write struct {
	Cell       uint64
	LeaderNode string
	// LeaderSite is LeaderNode's site ("" if the caller does not know it).
	LeaderSite string
	At         time.Time
}

// RTO is one cell's recovery time: from Since (the site suspected, or the
// move's start) to At, the first write through a new leader (By).
type RTO struct {
	Cell     uint64
	Cause    RTOCause
	Since    time.Time
	At       time.Time
	Duration time.Duration
	By       string
	// Reason says what was waited for ("site hz-a suspected", "leader
	// moved to hz-b-1").
	Reason string
}

// RTOExpired is a watch that saw no first write within the tracker's
// bound.
type RTOExpired struct {
	Cell   uint64
	Cause  RTOCause
	Since  time.Time
	Reason string
}

// rtoWait watches for the first successful write of a cell after a fault
// or a move: a write answered by a node outside excludeSite (after a
// fault) or by toNode (after a move), at or after since.
type rtoWait struct {
	since       time.Time
	excludeSite string
	toNode      string
	reason      string
}

func (w rtoWait) cause() RTOCause {
	if w.excludeSite != "" {
		return CauseFault
	}
	return CauseMove
}

// RTOTracker measures recovery times (the first_write events): it is fed
// faults, completed moves and the routers' first writes, with the time,
// and returns the measurements to report. It holds at most one watch per
// cell, each bounded by its wait maximum. It does no I/O and reads no
// clock; it is not safe for concurrent use (the controller's goroutine
// owns it). The zero value watches for FirstWriteWaitMax.
type RTOTracker struct {
	waitMax time.Duration
	waits   map[uint64]rtoWait
}

// NewRTOTracker returns a tracker whose watches last at most waitMax
// (FirstWriteWaitMax if not positive).
func NewRTOTracker(waitMax time.Duration) *RTOTracker {
	if waitMax <= 0 {
		waitMax = FirstWriteWaitMax
	}
	return &RTOTracker{waitMax: waitMax, waits: map[uint64]rtoWait{}}
}

// WatchFault starts watching, from now, every cell led in site or homed
// there (Raft may have elected a leader elsewhere already, before the
// observers agreed), for a first write through a leader outside site. It
// replaces the cells' earlier watches and returns the cells watched, by id.
func (t *RTOTracker) WatchFault(site string, cells []CellView, now time.Time) []uint64 {
	t.init()
	var out []uint64
	for _, c := range cells {
		watch := c.Home == site
		for _, r := range c.Replicas {
			watch = watch || (r.Leader && r.Site == site)
		}
		if watch {
			t.waits[c.ID] = rtoWait{since: now, excludeSite: site, reason: "site " + site + " suspected"}
			out = append(out, c.ID)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WatchMove starts watching cell, from its move's start, for a first write
// through toNode, unless a fault's watch already covers the cell (the
// fault's recovery time is the one that counts). It reports whether it
// watches.
func (t *RTOTracker) WatchMove(cell uint64, start time.Time, toNode string) bool {
	t.init()
	if w, ok := t.waits[cell]; ok && w.excludeSite != "" {
		return false
	}
	t.waits[cell] = rtoWait{since: start, toNode: toNode, reason: "leader moved to " + toNode}
	return true
}

// Observe ends the watches that writes (the routers' newest first writes)
// answer, and those older than the wait maximum at now; it returns the
// measurements and the expired watches, by cell.
func (t *RTOTracker) Observe(now time.Time, writes []Write) ([]RTO, []RTOExpired) {
	var measured []RTO
	var expired []RTOExpired
	waitMax := t.waitMax
	if waitMax <= 0 {
		waitMax = FirstWriteWaitMax
	}
	for id, w := range t.waits {
		if now.Sub(w.since) > waitMax {
			delete(t.waits, id)
			expired = append(expired, RTOExpired{Cell: id, Cause: w.cause(), Since: w.since, Reason: w.reason})
			continue
		}
		var first time.Time
		var by string
		for _, cw := range writes {
			if cw.Cell != id {
				continue
			}
			match := (w.toNode != "" && cw.LeaderNode == w.toNode) || (w.excludeSite != "" && cw.LeaderSite != "" && cw.LeaderSite != w.excludeSite)
			if match && !cw.At.Before(w.since) && (first.IsZero() || cw.At.Before(first)) {
				first, by = cw.At, cw.LeaderNode
			}
		}
		if first.IsZero() {
			continue
		}
		delete(t.waits, id)
		measured = append(measured, RTO{Cell: id, Cause: w.cause(), Since: w.since, At: first, Duration: first.Sub(w.since), By: by, Reason: w.reason})
	}
	sort.Slice(measured, func(i, j int) bool { return measured[i].Cell < measured[j].Cell })
	sort.Slice(expired, func(i, j int) bool { return expired[i].Cell < expired[j].Cell })
	return measured, expired
}

func (t *RTOTracker) init() {
	if t.waits == nil {
		t.waits = map[uint64]rtoWait{}
	}
}

// Watching returns how many cells are watched.
func (t *RTOTracker) Watching() int { return len(t.waits) }
