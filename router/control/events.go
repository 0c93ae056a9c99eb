package control

// EventKind is the kind of a meta event (pb.MetaEvent.Kind) the control
// plane records; its values are the wire values, which the status page,
// the demo and the operators' tools read.
type EventKind string

// Meta event kinds.
const (
	// EventSiteState: a site changed state; the reason says why.
	EventSiteState EventKind = "site_state"
	// EventDecision: the controller chose to move a cell (recorded before
	// the move starts).
	EventDecision EventKind = "decision"
	// EventLeaderMoved: a move succeeded; its reason is the move kind.
	EventLeaderMoved EventKind = "leader_moved"
	// EventMoveFailed: a move failed; its reason is the kind and the error.
	EventMoveFailed EventKind = "move_failed"
	// EventFirstWrite: the first successful write a router saw through a
	// cell's new leader after a fault or a move; its duration is the
	// cell's recovery time (failover.RTOTracker).
	EventFirstWrite EventKind = "first_write"
	// EventDrillStarted and EventDrillFinished: a drill began and ended.
	EventDrillStarted  EventKind = "drill_started"
	EventDrillFinished EventKind = "drill_finished"
	// EventReconciled is the kind of a finished reconciliation; its reason
	// starts with why it ran and carries the result ("all clear: ..." or
	// "N problems: ...").
	EventReconciled EventKind = "reconciled"
)
