// Package history records what a chaos workload asked of the cluster and
// what it was told, for the checkers (chaos/check) and the reports
// (chaos/report). It is a leaf package: plain data, safe for concurrent
// recording, JSON-encodable.
//
// Callers' duties: call Invoke before sending an operation and Complete
// exactly once after its outcome is known (ok, fail or unknown); record
// faults and other events with Event; after the run, attach the final
// state gathered from the healed cluster.
package history

import (
	"sort"
	"sync"
	"time"
)

// Kind of an operation.
type Kind string

const (
	KindCreate   Kind = "create"
	KindDeposit  Kind = "deposit"
	KindTransfer Kind = "transfer"
	KindRead     Kind = "read" // a linearizable balance read
)

// Outcome of an operation as the client saw it.
type Outcome string

const (
	// OutcomePending: invoked, not yet completed.
	OutcomePending Outcome = ""
	// OutcomeOK: acknowledged; it took effect exactly once.
	OutcomeOK Outcome = "ok"
	// OutcomeFail: a definite business error; it took no effect.
	OutcomeFail Outcome = "fail"
	// OutcomeUnknown: no definite answer before the deadline; it may or may
	// not have taken effect (at most once).
	OutcomeUnknown Outcome = "unknown"
)

// Op is one operation: its invocation and, once known, its completion.
// Times are Unix nanoseconds.
type Op struct {
	ID      int64   `json:"id"`
	Process int     `json:"process"`
	Kind    Kind    `json:"kind"`
	Key     string  `json:"key"`              // idempotency key; a transfer's id
	Account string  `json:"account"`          // create/deposit/read: the account; transfer: the payer
	To      string  `json:"to,omitempty"`     // transfer: the payee
	Amount  int64   `json:"amount"`           // minor units
	Invoke  int64   `json:"invoke_ns"`        // when it was sent
	Done    int64   `json:"complete_ns"`      // when the outcome was known (0 while pending)
	Outcome Outcome `json:"outcome"`          //
	Reason  string  `json:"reason,omitempty"` // business error reason, or the error text of an unknown outcome
	// Balance: for an ok read, the balance read.
	Balance int64 `json:"balance,omitempty"`
}

// Event is something that happened to the cluster: a fault started or
// ended, a cell changed leader, the run entered a phase.
type Event struct {
	At     int64  `json:"at_ns"`
	Kind   string `json:"kind"` // "fault-start", "fault-end", "leader", "phase"
	Detail string `json:"detail"`
	Cell   uint64 `json:"cell,omitempty"`
	Site   string `json:"site,omitempty"`
}

// Event kinds.
const (
	EventFaultStart = "fault-start"
	EventFaultEnd   = "fault-end"
	EventLeader     = "leader"
	EventPhase      = "phase"
)

// Final is the state of the healed cluster after the run.
type Final struct {
	// Balances of every account, read from the cell leaders.
	Balances map[string]int64 `json:"balances"`
	// Deposited is the sum of the cells' deposit totals.
	Deposited int64 `json:"deposited"`
	// Transfers maps each stored transfer id to its record (a cross-cell
	// transfer is stored in both cells; one entry). Reversed cross-cell
	// transfers are left out: they moved no money.
	Transfers map[string]Transfer `json:"transfers"`
	// InFlight counts the cross-cell transfers debited from their payer and
	// not yet settled when the state was read (0 once the relays are done).
	InFlight int `json:"in_flight"`
	// InFlightMinor is the money they carry: debited, not yet credited.
	InFlightMinor int64 `json:"in_flight_minor"`
	// Replicas holds every replica's (applied index, digest) per cell.
	Replicas map[uint64][]Replica `json:"replicas"`
}

// Transfer is a stored transfer.
type Transfer struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	// CrossCell: payer and payee are in different cells; the payee is
	// credited by the payer cell's relay after the transfer is answered.
	CrossCell bool `json:"cross_cell,omitempty"`
}

// AddTransfer adds a stored transfer record to f: a cross-cell transfer
// still in flight is only counted (InFlight), a reversed one left out.
func (f *Final) AddTransfer(id, from, to string, amount int64, crossCell, inFlight, reversed bool) {
	switch {
	case inFlight:
		f.InFlight++
		f.InFlightMinor += amount
	case reversed:
	default:
		f.Transfers[id] = Transfer{From: from, To: to, Amount: amount, CrossCell: crossCell}
	}
}

// Replica is one replica's report.
type Replica struct {
	Node    string `json:"node"`
	Applied uint64 `json:"applied"`
	Digest  string `json:"digest"`
}

// History is the record of one run.
type History struct {
	mu     sync.Mutex
	ops    []Op
	events []Event
	start  time.Time
}

// New starts a history now.
func New() *History { return &History{start: time.Now()} }

// Start is when the history began.
func (h *History) Start() time.Time { return h.start }

// Invoke records the sending of op (its ID and Invoke are set) and
// returns its id.
func (h *History) Invoke(op Op) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = int64(len(h.ops))
	op.Invoke = time.Now().UnixNano()
	op.Outcome, op.Done = OutcomePending, 0
	h.ops = append(h.ops, op)
	return op.ID
}

// Complete records the outcome of operation id.
func (h *History) Complete(id int64, outcome Outcome, reason string, balance int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id < 0 || id >= int64(len(h.ops)) || h.ops[id].Outcome != OutcomePending {
		return
	}
	op := &h.ops[id]
	op.Outcome, op.Reason, op.Balance, op.Done = outcome, reason, balance, time.Now().UnixNano()
}

// Event records an event now.
func (h *History) Event(e Event) {
	if e.At == 0 {
		e.At = time.Now().UnixNano()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// Ops returns a copy of the operations, in invocation order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Events returns a copy of the events, in time order.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]Event(nil), h.events...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}
