package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind names what a Finding found. Kinds are stable strings: they appear in
// JSON reports, metrics labels and alerts.
type Kind string

// Kinds of findings. Every kind is a problem (it makes a report not all
// clear) except Unresolved and CheckSkipped, which are listed for the
// operator and never counted against AllClear (see Kind.Problem).
const (
	// NotConserved: in one cell and currency, balances differ from
	// deposited + received - sent - in flight - held - paid out.
	NotConserved Kind = "NotConserved"
	// Inconsistent: records of one cell contradict each other: a stored
	// total (in flight, sent, received, held, paid out) differs from the
	// sum of the records it counts, an outbox record has no IN_FLIGHT
	// transfer (or the reverse), a work item has no open payout (or the
	// reverse).
	Inconsistent Kind = "Inconsistent"
	// BelowLimit: an account's balance is below zero and the account was
	// not created with allow_negative_balance.
	BelowLimit Kind = "BelowLimit"
	// StuckTransfer: a cross-cell transfer debited longer ago than the
	// stuck age whose credit is not settled (its outbox record remains).
	StuckTransfer Kind = "StuckTransfer"
	// StuckPayout: a payout PENDING or UNKNOWN for longer than the stuck
	// age.
	StuckPayout Kind = "StuckPayout"
	// MissingAtProvider: SUCCEEDED in the ledger, absent from the
	// provider's statement.
	MissingAtProvider Kind = "MissingAtProvider"
	// MissingInLedger: in the provider's statement (the provider paid),
	// but the ledger has no payout with that id, records it FAILED, or
	// records it at another provider. Money left without the ledger
	// knowing: the double payout of MISSION.md, incident 2.
	MissingInLedger Kind = "MissingInLedger"
	// AmountMismatch: the provider paid another amount, currency or
	// account than the ledger recorded.
	AmountMismatch Kind = "AmountMismatch"
	// DuplicateAtProvider: the same payout id appears more than once in
	// the provider's statement.
	DuplicateAtProvider Kind = "DuplicateAtProvider"
	// ReplicaMismatch: replicas of a cell disagree on the state digest at
	// the same applied index. Produced by the cluster driver, not here.
	ReplicaMismatch Kind = "ReplicaMismatch"
	// CrossCellImbalance: across cells, the credits received differ from
	// the debits sent (see CrossCell).
	CrossCellImbalance Kind = "CrossCellImbalance"

	// Unresolved (not a problem): a payout PENDING or UNKNOWN in the
	// ledger that the provider's statement shows paid. The executor's next
	// query of that provider settles it; while it is younger than the
	// stuck age this is normal work in progress. Older, CheckCell reports
	// it as StuckPayout too.
	Unresolved Kind = "Unresolved"
	// CheckSkipped (not a problem): a check that could not be made
	// exactly, and why (e.g. the cross-cell equality while money is in
	// flight).
	CheckSkipped Kind = "CheckSkipped"
	// Overdraft (not a problem): money sent from an account allowed to go
	// below zero (an operator's overdraft account) that left it below
	// zero: one finding per outgoing transfer and payout, and one
	// OverdraftExposure per currency with the sum of negative balances
	// now. Not a problem, since an operator opened the account so; listed
	// so that every unfunded movement and the total exposure are seen.
	Overdraft Kind = "Overdraft"
	// OverdraftExposure (not a problem): per currency, the sum of the
	// negative balances of the cell's accounts (AmountMinor, positive).
	OverdraftExposure Kind = "OverdraftExposure"
)

// Kinds lists every kind, problems first, in the order reports print them.
var Kinds = []Kind{
	NotConserved, Inconsistent, BelowLimit, ReplicaMismatch, CrossCellImbalance,
	MissingInLedger, DuplicateAtProvider, AmountMismatch, MissingAtProvider,
	StuckTransfer, StuckPayout,
	Unresolved, CheckSkipped, Overdraft, OverdraftExposure,
}

// Problem reports whether a finding of this kind means something is wrong
// (false only for Unresolved, CheckSkipped, Overdraft and
// OverdraftExposure: those are listed for the operator).
func (k Kind) Problem() bool {
	return k != Unresolved && k != CheckSkipped && k != Overdraft && k != OverdraftExposure
}

// rank orders kinds as Kinds does; unknown kinds sort last, by name.
func (k Kind) rank() int {
	if i := slices.Index(Kinds, k); i >= 0 {
		return i
	}
	return len(Kinds)
}

// Finding is one thing reconciliation found. Amounts are int64 minor units
// of Currency.
type Finding struct {
	Kind Kind `json:"kind"`
	// CellID is the cell the finding is about; 0 when it is about no
	// single cell (cross-cell sums, a provider's statement: the driver may
	// set it when it knows the payout's cell).
	CellID uint64 `json:"cell_id,omitempty"`
	// IDs names what is concerned: transfer, payout or account ids, or
	// replica node ids; sorted unless the Detail says otherwise.
	IDs []string `json:"ids,omitempty"`
	// AmountMinor is the money concerned: the record's amount (stuck
	// kinds, statement kinds, Unresolved), the balance (BelowLimit), or a
	// difference: balances - expected (NotConserved), stored total - sum
	// of its records (Inconsistent), paid - recorded (AmountMismatch),
	// paid beyond the first payment (DuplicateAtProvider), received - sent
	// (CrossCellImbalance); the money in flight (CheckSkipped).
	AmountMinor int64  `json:"amount_minor,omitempty"`
	Currency    string `json:"currency,omitempty"`
	// Age is how long the work has been waiting (stuck kinds).
	Age time.Duration `json:"age_ns,omitempty"`
	// Detail says what was found, for people.
	Detail string `json:"detail"`
}

// findingsPerKindMax bounds the findings of one kind that one check lists
// with their ids (a broken cell could otherwise yield a finding per
// record); the rest are counted in one more finding of that kind.
const findingsPerKindMax = 1000

// sortFindings orders findings deterministically: by kind (as Kinds), cell,
// first id, currency, then detail.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Kind.rank(), b.Kind.rank()),
			strings.Compare(string(a.Kind), string(b.Kind)),
			cmp.Compare(a.CellID, b.CellID),
			compareIDs(a.IDs, b.IDs),
			strings.Compare(a.Currency, b.Currency),
			cmp.Compare(a.AmountMinor, b.AmountMinor),
			strings.Compare(a.Detail, b.Detail),
		)
	})
}

// compareIDs orders by ids, findings without ids last (the "more
// findings" line of limitFindings stays at the end of its group).
func compareIDs(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return cmp.Compare(len(b), len(a))
	}
	return slices.Compare(a, b)
}

// limitFindings sorts fs and keeps at most findingsPerKindMax of each kind
// and cell, replacing the rest by one finding that counts them.
func limitFindings(fs []Finding) []Finding {
	sortFindings(fs)
	out := fs[:0:0]
	for i := 0; i < len(fs); {
		j := i
		for j < len(fs) && fs[j].Kind == fs[i].Kind && fs[j].CellID == fs[i].CellID {
			j++
		}
		if n := j - i; n > findingsPerKindMax {
			out = append(out, fs[i:i+findingsPerKindMax]...)
			out = append(out, Finding{Kind: fs[i].Kind, CellID: fs[i].CellID,
				Detail: fmt.Sprintf("%d more findings of this kind not listed (at most %d are)", n-findingsPerKindMax, findingsPerKindMax)})
		} else {
			out = append(out, fs[i:j]...)
		}
		i = j
	}
	return out
}
