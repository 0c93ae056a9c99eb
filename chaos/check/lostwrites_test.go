package check

import (
	"fmt"
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func TestNoLostWritesPasses(t *testing.T) {
	ops, final := bank()
	expectPass(t, NoLostWrites(ops, final))
}

func TestNoLostWritesLostWrite(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 100, "b": 50}, map[string]*history.Transfer{"t1": nil})
	r := NoLostWrites(ops, final)
	expectFail(t, r, `lost write: transfer "t1" (op 4, a→b 30) was acknowledged ok but is not stored`)
}

func TestNoLostWritesDoubleApply(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 40, "b": 110}, nil)
	expectFail(t, NoLostWrites(ops, final),
		"account a: balance 40, expected 70", "off by -30", `transfer "t1" (a→b 30) applied twice`,
		"account b: balance 110, expected 80", "off by +30")
}

func TestNoLostWritesDoubleDeposit(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 170, "b": 80}, nil)
	expectFail(t, NoLostWrites(ops, final), "account a", "off by +100", `deposit "d1" (op 2, a +100) applied twice`)
}

func TestNoLostWritesNeverInvoked(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 65, "b": 85}, map[string]*history.Transfer{"t9": ptr(history.Transfer{From: "a", To: "b", Amount: 5})})
	expectFail(t, NoLostWrites(ops, final), `transfer "t9" (a→b 5) is stored but was never invoked`)
}

func TestNoLostWritesStoredWithOtherParameters(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 69, "b": 81}, map[string]*history.Transfer{"t1": ptr(history.Transfer{From: "a", To: "b", Amount: 31})})
	expectFail(t, NoLostWrites(ops, final), `transfer "t1" (op 4) was acknowledged as a→b 30 but is stored as a→b 31`)
}

func TestNoLostWritesFailedTransferApplied(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops, transfer("t2", "a", "b", 10, 50, 60, history.OutcomeFail))...)
	final = withState(final, map[string]int64{"a": 60, "b": 90}, map[string]*history.Transfer{"t2": ptr(history.Transfer{From: "a", To: "b", Amount: 10})})
	expectFail(t, NoLostWrites(ops, final), `failed transfer applied anyway: transfer "t2" (op 7, a→b 10) failed (INSUFFICIENT_FUNDS)`)
}

// A transfer of unknown (or pending) outcome passes whether or not it took
// effect, as long as the final state is consistent about it.
func TestNoLostWritesUnknownTransferBothWays(t *testing.T) {
	for _, outcome := range []history.Outcome{history.OutcomeUnknown, history.OutcomePending} {
		ops, final := bank()
		ops = build(append(ops, transfer("t3", "a", "b", 5, 50, 60, outcome))...)
		t.Run(fmt.Sprintf("%s/stored", outcome), func(t *testing.T) {
			f := withState(final, map[string]int64{"a": 65, "b": 85}, map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5})})
			expectPass(t, NoLostWrites(ops, f))
		})
		t.Run(fmt.Sprintf("%s/not-stored", outcome), func(t *testing.T) {
			expectPass(t, NoLostWrites(ops, final))
		})
		t.Run(fmt.Sprintf("%s/applied-without-record", outcome), func(t *testing.T) {
			f := withState(final, map[string]int64{"a": 65, "b": 85}, nil)
			expectFail(t, NoLostWrites(ops, f), "account a", "off by -5", `transfer "t3" (op 7, a→b 5), of unknown outcome and not stored, applied anyway`)
		})
	}
}

// Unknown deposits make an account's expectation a set.
func TestNoLostWritesUnknownDepositsSubset(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops,
		deposit("d3", "a", 10, 50, 60, history.OutcomeUnknown),
		deposit("d4", "a", 20, 50, 60, history.OutcomeUnknown),
	)...)
	for _, extra := range []int64{0, 10, 20, 30} {
		f := withState(final, map[string]int64{"a": 70 + extra, "b": 80}, nil)
		expectPass(t, NoLostWrites(ops, f))
	}
	f := withState(final, map[string]int64{"a": 85, "b": 80}, nil)
	expectFail(t, NoLostWrites(ops, f), "account a: balance 85", "some of 2 unknown deposits [10 20]", "off by +15")
}

func TestNoLostWritesTooManyUnknownDeposits(t *testing.T) {
	ops, final := bank()
	for i := range 13 { // distinct powers of two: 2^13 distinct sums
		ops = append(ops, deposit(fmt.Sprintf("u%d", i), "a", 1<<i, 50, 60, history.OutcomeUnknown))
	}
	ops = build(ops...)
	expectInconclusive(t, NoLostWrites(ops, final), "account a", "too many deposits of unknown outcome")
}

func TestNoLostWritesAccountMissing(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 70}, nil)
	expectFail(t, NoLostWrites(ops, final), "account b (created by op 1, expected balance 80) is missing")
}

// A retry with the same transfer id after an unknown outcome counts once.
func TestNoLostWritesRetriedTransfer(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops,
		transfer("t3", "a", "b", 5, 50, 60, history.OutcomeUnknown),
		transfer("t3", "a", "b", 5, 61, 70, history.OutcomeOK),
	)...)
	final = withState(final, map[string]int64{"a": 65, "b": 85}, map[string]*history.Transfer{"t3": ptr(history.Transfer{From: "a", To: "b", Amount: 5})})
	expectPass(t, NoLostWrites(ops, final))
}

func TestNoLostWritesEvidenceIsBounded(t *testing.T) {
	var ops []history.Op
	for i := range 30 {
		ops = append(ops, transfer(fmt.Sprintf("t%d", i), "a", "b", 1, 0, 1, history.OutcomeOK))
	}
	ops = build(ops...)
	final := history.Final{Balances: map[string]int64{"a": -30, "b": 30}}
	r := NoLostWrites(ops, final)
	expectFail(t, r, `transfer "t0"`)
	if len(r.Evidence) != history.EvidenceMax || r.Evidence[history.EvidenceMax-1] != "... and 13 more" {
		t.Fatalf("evidence: %d lines, last %q", len(r.Evidence), r.Evidence[len(r.Evidence)-1])
	}
}
