package check

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

const linTimeout = 10 * time.Second

func TestLinearizablePasses(t *testing.T) {
	ops, final := bank()
	r := Linearizable(ops, final, linTimeout)
	expectPass(t, r)
	expectEvidence(t, r, "2 reads on 2 accounts")
}

// A read that begins after t1 was acknowledged must see it.
func TestLinearizableStaleRead(t *testing.T) {
	ops, final := bank()
	ops[5] = read("a", 100, 30, 40) // op 5, the old balance
	ops = build(ops...)
	expectFail(t, Linearizable(ops, final, linTimeout),
		"account a: read op 5 (process 1) at +30ms..+40ms returned 100",
		"ends at balance 70",
		`transfer "t1" (op 4, a→b 30) -30`)
}

func TestLinearizableValueNeverExisted(t *testing.T) {
	ops, final := bank()
	ops[6] = read("b", 55, 30, 40)
	ops = build(ops...)
	r := Linearizable(ops, final, linTimeout)
	expectFail(t, r, "account b: read op 6", "returned 55")
	if strings.Contains(strings.Join(r.Evidence, "\n"), "account a") {
		t.Errorf("account a is linearizable, yet named:\n%s", strings.Join(r.Evidence, "\n"))
	}
}

// A read concurrent with a transfer may see it or not.
func TestLinearizableConcurrentReadEitherWay(t *testing.T) {
	for _, balance := range []int64{100, 70} {
		ops, final := bank()
		ops[5] = read("a", balance, 12, 18)
		expectPass(t, Linearizable(build(ops...), final, linTimeout))
	}
	// But once a read saw it, a later read cannot miss it.
	ops, final := bank()
	ops[5] = read("a", 70, 12, 18)
	ops = build(append(ops, read("a", 100, 19, 19))...)
	expectFail(t, Linearizable(ops, final, linTimeout), "account a: read op 7", "returned 100")
}

// A transfer of unknown outcome is resolved by the final state: stored, it
// took effect at some time after its invocation; not stored, never.
func TestLinearizableUnknownTransferResolvedByFinal(t *testing.T) {
	stored := map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5})}
	for _, outcome := range []history.Outcome{history.OutcomeUnknown, history.OutcomePending} {
		t.Run(string(outcome)+"/stored", func(t *testing.T) {
			ops, final := bank()
			final = withState(final, map[string]int64{"a": 65, "b": 85}, stored)
			// Seen by a read, then (later) by another: fine.
			seen := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, outcome), read("a", 65, 70, 80), read("b", 85, 90, 95))...)
			expectPass(t, Linearizable(seen, final, linTimeout))
			// Not yet seen by a read after the client gave up: fine too, it
			// may have applied later.
			late := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, outcome), read("a", 70, 70, 80))...)
			expectPass(t, Linearizable(late, final, linTimeout))
		})
		t.Run(string(outcome)+"/not-stored", func(t *testing.T) {
			ops, final := bank()
			unseen := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, outcome), read("a", 70, 70, 80))...)
			expectPass(t, Linearizable(unseen, final, linTimeout))
			// Not stored, so it took no effect: a read that saw it is wrong.
			seen := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, outcome), read("a", 65, 70, 80))...)
			expectFail(t, Linearizable(seen, final, linTimeout), "account a: read op 8", "returned 65")
		})
	}
}

// The payee of a cross-cell transfer is credited by the payer cell's relay,
// possibly after the answer: a read of the payee that misses the credit
// after the transfer returned is legal; the payer's debit is not delayed.
func TestLinearizableCrossCellCreditMayLag(t *testing.T) {
	cross := map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5, CrossCell: true})}
	local := map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5})}
	ops, final := bank()
	lagging := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 80, 70, 75), read("b", 85, 90, 95))...)
	expectPass(t, Linearizable(lagging, withState(final, map[string]int64{"a": 65, "b": 85}, cross), linTimeout))
	expectFail(t, Linearizable(lagging, withState(final, map[string]int64{"a": 65, "b": 85}, local), linTimeout), "account b")
	// The payer's side is not relaxed: its debit is within the call.
	stale := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("a", 70, 70, 75))...)
	expectFail(t, Linearizable(stale, withState(final, map[string]int64{"a": 65, "b": 85}, cross), linTimeout), "account a")
	// Nor may the credit be unseen once seen.
	flap := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 85, 70, 75), read("b", 80, 90, 95))...)
	expectFail(t, Linearizable(flap, withState(final, map[string]int64{"a": 65, "b": 85}, cross), linTimeout), "account b")
}

// A settled cross-cell credit applied before its payer recorded the
// settlement: a read of the payee that misses it after the settlement time
// (plus CreditClockSkewMax) is a violation; one before it is not. Nor can
// it apply before the payee's cell proposed it, or after the target saw it
// applied.
func TestLinearizableSettledCreditBoundsItsLag(t *testing.T) {
	cross := map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5, CrossCell: true})}
	ops, final := bank()
	settled := withState(final, map[string]int64{"a": 65, "b": 85}, cross)
	settled.CrossCell = map[string]history.CrossCellTransfer{"a/t3": {ID: "t3", From: "a", To: "b", Amount: 5,
		FromCell: 1, ToCell: 2, PayerState: history.TransferCompleted, Credited: true, SettledAtMs: at(55) / ms}}
	bound := 56 + CreditClockSkewMax.Milliseconds() // ms after t0
	early := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 80, bound-10, bound-5))...)
	expectPass(t, Linearizable(early, settled, linTimeout))
	late := build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 80, bound+5, bound+10))...)
	expectFail(t, Linearizable(late, settled, linTimeout), "account b")
	// In flight (not settled): no bound.
	inFlight := settled
	inFlight.CrossCell = map[string]history.CrossCellTransfer{"a/t3": {ID: "t3", From: "a", To: "b", Amount: 5,
		FromCell: 1, ToCell: 2, PayerState: history.TransferInFlight}}
	expectPass(t, Linearizable(late, inFlight, linTimeout))
	// Seen applied by the target (a fault that hid the answer): bound there.
	seen := settled
	seen.CrossCell = map[string]history.CrossCellTransfer{"a/t3": {ID: "t3", From: "a", To: "b", Amount: 5,
		FromCell: 1, ToCell: 2, PayerState: history.TransferInFlight, Credited: true, AppliedByNs: at(70)}}
	expectFail(t, Linearizable(build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 80, 75, 78))...), seen, linTimeout), "account b")
	// Nor seen before the payee's cell proposed it (its record's time).
	proposed := settled
	proposed.CrossCell = map[string]history.CrossCellTransfer{"a/t3": {ID: "t3", From: "a", To: "b", Amount: 5,
		FromCell: 1, ToCell: 2, PayerState: history.TransferInFlight, Credited: true, CreditedAtMs: at(300) / ms}}
	beforeProposal := 300 - CreditClockSkewMax.Milliseconds() - 10
	expectFail(t, Linearizable(build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 85, beforeProposal-5, beforeProposal))...), proposed, linTimeout), "account b")
	expectPass(t, Linearizable(build(append(ops, transfer("t3", "a", "b", 5, 50, 60, history.OutcomeOK), read("b", 85, 400, 405))...), proposed, linTimeout))
}

// A deposit of unknown outcome may be seen or not, but not unseen again.
func TestLinearizableUnknownDeposit(t *testing.T) {
	ops, final := bank()
	base := append(ops, deposit("d3", "a", 25, 50, 60, history.OutcomeUnknown))
	expectPass(t, Linearizable(build(append(base, read("a", 70, 70, 80))...), final, linTimeout))
	expectPass(t, Linearizable(build(append(base, read("a", 95, 70, 80))...), final, linTimeout))
	expectPass(t, Linearizable(build(append(base, read("a", 70, 70, 80), read("a", 95, 90, 95))...), final, linTimeout))
	expectFail(t, Linearizable(build(append(base, read("a", 95, 70, 80), read("a", 70, 90, 95))...), final, linTimeout),
		"account a: read op 9", "returned 70")
}

// Failed transfers are left out; retries sharing a key count once.
func TestLinearizableFailedAndRetriedOps(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops,
		transfer("t2", "a", "b", 1000, 50, 60, history.OutcomeFail),
		deposit("d3", "a", 25, 61, 62, history.OutcomeUnknown),
		deposit("d3", "a", 25, 63, 64, history.OutcomeOK),
		read("a", 95, 70, 80),
	)...)
	expectPass(t, Linearizable(ops, final, linTimeout))
}

// The search is exponential in the worst case: thirty deposits of unknown
// outcome (distinct powers of two, so every subset is a distinct state)
// before a read no subset explains cannot be refuted within 100ms.
func TestLinearizableTimeoutIsInconclusive(t *testing.T) {
	ops, final := bank()
	for i := range 30 {
		ops = append(ops, deposit(fmt.Sprintf("u%d", i), "a", 1<<i, 50, 60, history.OutcomeUnknown))
	}
	ops = build(append(ops, read("a", -1, 70, 80))...)
	start := time.Now()
	r := Linearizable(ops, final, 100*time.Millisecond)
	expectInconclusive(t, r, "timed out after 100ms on 1 account(s): a")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("a 100ms timeout took %s", elapsed)
	}
}

func TestLinearizableTruncatesLongHistories(t *testing.T) {
	var ops []history.Op
	for i := range int64(LinearizableOpsMax/2 + 10) {
		ops = append(ops,
			deposit(fmt.Sprintf("d%d", i), "a", 1, 10*i, 10*i+1, history.OutcomeOK),
			read("a", i+1, 10*i+2, 10*i+3))
	}
	ops = build(ops...)
	r := Linearizable(ops, history.Final{}, linTimeout)
	expectPass(t, r)
	expectEvidence(t, r, "account a: only the first 5000 operations checked, 20 left out")
}
