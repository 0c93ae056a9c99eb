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
	// KindPayout: money paid out of Account through Provider (Key is the
	// payout id, scoped to Account). Ok means the ledger recorded it (funds
	// held); how it settled is in the final state (Final.Payouts).
	KindPayout Kind = "payout"
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
	Key     string  `json:"key"`              // idempotency key; a transfer's or payout's id
	Account string  `json:"account"`          // create/deposit/read/payout: the account; transfer: the payer
	To      string  `json:"to,omitempty"`     // transfer: the payee
	Amount  int64   `json:"amount"`           // minor units
	Invoke  int64   `json:"invoke_ns"`        // when it was sent
	Done    int64   `json:"complete_ns"`      // when the outcome was known (0 while pending)
	Outcome Outcome `json:"outcome"`          //
	Reason  string  `json:"reason,omitempty"` // business error reason, or the error text of an unknown outcome
	// Balance: for an ok read, the balance read.
	Balance int64 `json:"balance,omitempty"`
	// Provider: for a payout, the provider it was asked to pay through.
	Provider string `json:"provider,omitempty"`
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
	// Held is the money of payouts not yet settled (PENDING or UNKNOWN) and
	// PaidOut that of payouts SUCCEEDED, summed over the cells' totals: it
	// left the balances but is still counted (cell.Totals).
	Held    int64 `json:"held"`
	PaidOut int64 `json:"paid_out"`
	// Payouts are the payouts the ledgers store, by the id their provider
	// knows them by (cell.ProviderPayoutID: globally unique); nil when the
	// target reads none.
	Payouts map[string]Payout `json:"payouts,omitempty"`
	// Providers is what each payout provider says it did, by name; nil
	// when the target reads no provider.
	Providers map[string]ProviderStatement `json:"providers,omitempty"`
	// CrossCell holds every cross-cell transfer as its two cells store it,
	// by "<payer account>/<transfer id>"; nil when the target reads none.
	CrossCell map[string]CrossCellTransfer `json:"cross_cell,omitempty"`
}

// UnsettledPayouts counts the stored payouts still PENDING or UNKNOWN.
func (f *Final) UnsettledPayouts() int {
	n := 0
	for _, p := range f.Payouts {
		if !p.State.Settled() {
			n++
		}
	}
	return n
}

// PayoutState is the state of a stored payout, as the ledger names it.
type PayoutState string

const (
	PayoutPending   PayoutState = "PENDING"   // recorded, funds held; not yet answered
	PayoutUnknown   PayoutState = "UNKNOWN"   // the provider's answer was not definite; funds held
	PayoutSucceeded PayoutState = "SUCCEEDED" // paid out
	PayoutFailed    PayoutState = "FAILED"    // definitely not paid; funds released
)

// Settled: SUCCEEDED or FAILED, never to change again.
func (s PayoutState) Settled() bool { return s == PayoutSucceeded || s == PayoutFailed }

// Payout is a payout stored in its cell's ledger.
type Payout struct {
	Cell    uint64      `json:"cell"`
	Account string      `json:"account"`
	ID      string      `json:"id"` // the payout id, scoped to Account
	Amount  int64       `json:"amount"`
	State   PayoutState `json:"state"`
	// Provider is where it is (or was last) submitted; FailedProviders
	// definitely failed it before (it was rerouted from them).
	Provider        string   `json:"provider"`
	FailedProviders []string `json:"failed_providers,omitempty"`
	// SubmitAttempts counts the PayoutAttempts committed at Provider: the
	// executor commits one before every Submit, so a provider that saw
	// more Submits of it was called without one (by a deposed leader).
	SubmitAttempts int `json:"submit_attempts"`
}

// ProviderStatement is what one payout provider says it did.
type ProviderStatement struct {
	// Paid is its statement: every payment it really made, in order. An id
	// listed twice was paid twice.
	Paid []Paid `json:"paid"`
	// SubmitCalls and QueryCalls count the calls it got, by payout id (its
	// id: Payout's key in Final.Payouts). QueryCalls holds the ids of
	// Final.Payouts only.
	SubmitCalls map[string]int `json:"submit_calls"`
	QueryCalls  map[string]int `json:"query_calls"`
}

// Paid is one payment of a provider's statement.
type Paid struct {
	PayoutID string `json:"payout_id"` // the provider's id (cell.ProviderPayoutID)
	Account  string `json:"account"`
	Amount   int64  `json:"amount"`
}

// TransferState is the payer cell's state of a cross-cell transfer.
type TransferState string

const (
	TransferInFlight  TransferState = "IN_FLIGHT" // debited, the credit not yet settled
	TransferCompleted TransferState = "COMPLETED" // credited to the payee
	TransferReversed  TransferState = "REVERSED"  // refunded to the payer
)

// CrossCellTransfer is one cross-cell transfer (a saga) as its two cells
// store it.
type CrossCellTransfer struct {
	ID       string `json:"id"`
	From     string `json:"from"`
	To       string `json:"to"`
	Amount   int64  `json:"amount"`
	FromCell uint64 `json:"from_cell"`
	ToCell   uint64 `json:"to_cell"`
	// PayerState is the payer cell's record ("" when it holds none).
	PayerState TransferState `json:"payer_state"`
	// SettledAtMs is when the payer's cell recorded the settlement (its
	// leader's clock, Unix ms; 0 while in flight). The payer records a
	// credit as delivered only after the payee's cell answered it, so the
	// credit was applied before this.
	SettledAtMs int64 `json:"settled_at_ms,omitempty"`
	// CreditedAtMs is the time the payee's cell stamped on its credit
	// record (its leader's clock when it proposed the credit, Unix ms; 0
	// when not credited): the credit took effect after it.
	CreditedAtMs int64 `json:"credited_at_ms,omitempty"`
	// AppliedByNs, when the target observed it (a fault that saw the credit
	// applied before hiding the answer), is a time by which the credit had
	// taken effect (Unix ns, the workload's clock; 0: not observed).
	AppliedByNs int64 `json:"applied_by_ns,omitempty"`
	// Credited: the payee's cell stores the credit (at most once: it is
	// keyed by the payer's cell, account and transfer id).
	Credited bool `json:"credited"`
	// RefusalStored: the payee's cell stored a refusal of the credit under
	// its key, the only answer on which a reversal is right. RefusalKnown:
	// the target could read that (in process, for reversed transfers).
	RefusalStored bool `json:"refusal_stored,omitempty"`
	RefusalKnown  bool `json:"refusal_known,omitempty"`
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
