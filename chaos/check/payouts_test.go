package check

import (
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func TestPayoutsPass(t *testing.T) {
	ops, final := bankWithPayouts()
	r := Payouts(ops, final)
	expectPass(t, r)
	expectEvidence(t, r, "2 payouts: 1 paid once, 1 failed", "2 payouts stored (2 acknowledged", "1 payments in 2 statements", "1 queried at their provider (2 queries), 0 submitted again")
}

func TestPayoutsNone(t *testing.T) {
	ops, final := bank()
	expectPass(t, Payouts(ops, final))
	ops, final = bankWithPayouts()
	final.Providers = nil
	expectInconclusive(t, Payouts(ops, final), "no provider statement")
}

// The incident: a provider timed out after paying and the payout went out
// again (the same id resubmitted after the provider forgot it, or through
// the other provider).
func TestPayoutsPaidTwice(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	paid := history.Paid{PayoutID: po1, Account: "a", Amount: 20}
	twice := withStatement(final, "bank-a", history.ProviderStatement{Paid: []history.Paid{paid, paid}, SubmitCalls: map[string]int{po1: 1}})
	expectFail(t, Payouts(ops, twice), "paid twice: payout "+po1+" was paid 2 times (by bank-a, bank-a)")
	other := withStatement(final, "bank-b", history.ProviderStatement{Paid: []history.Paid{paid}, SubmitCalls: map[string]int{po1: 1}})
	expectFail(t, Payouts(ops, other), "paid twice", "by bank-a, bank-b", "stored at provider bank-a", "which its ledger holds at bank-a")
}

func TestPayoutsLost(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	lost := withStatement(final, "bank-a", history.ProviderStatement{SubmitCalls: map[string]int{po1: 1}})
	expectFail(t, Payouts(ops, lost), "lost: payout "+po1+" (a 20) is SUCCEEDED in its ledger but bank-a never paid it")
}

func TestPayoutsPaidFromNowhere(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	ghost := history.Paid{PayoutID: providerID("a", "po9"), Account: "a", Amount: 7}
	f := withStatement(final, "bank-a", history.ProviderStatement{Paid: []history.Paid{{PayoutID: po1, Account: "a", Amount: 20}, ghost}, SubmitCalls: map[string]int{po1: 1}})
	expectFail(t, Payouts(ops, f), "paid from nowhere: bank-a paid "+ghost.PayoutID+" (a 7)")
	wrongAmount := withStatement(final, "bank-a", history.ProviderStatement{Paid: []history.Paid{{PayoutID: po1, Account: "a", Amount: 21}}, SubmitCalls: map[string]int{po1: 1}})
	expectFail(t, Payouts(ops, wrongAmount), "is stored as a 20 but bank-a paid a 21")
}

// A payout its provider paid but its ledger released (recorded FAILED):
// the money exists twice.
func TestPayoutsFailedButPaid(t *testing.T) {
	ops, final := bankWithPayouts()
	po2 := providerID("b", "po2")
	f := withStatement(final, "bank-b", history.ProviderStatement{Paid: []history.Paid{{PayoutID: po2, Account: "b", Amount: 5}}, SubmitCalls: map[string]int{po2: 1}})
	expectFail(t, Payouts(ops, f), "money created: payout "+po2+" (b 5) is FAILED")
}

// Every UNKNOWN must be resolved by the end of the quiet phase; one that
// is not is listed with what its provider knows.
func TestPayoutsUnresolved(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	p := final.Payouts[po1]
	p.State = history.PayoutUnknown
	f := withPayout(final, po1, &p)
	f.Held, f.PaidOut = 20, 0
	expectFail(t, Payouts(ops, f), "unresolved after quiet: payout "+po1+" (a 20) is still UNKNOWN at bank-a (paid there: true, 1 submits, 2 queries)")
}

// A Submit without a committed PayoutAttempt: what a deposed leader whose
// fence failed would do.
func TestPayoutsUnfencedSubmit(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	f := withStatement(final, "bank-a", history.ProviderStatement{Paid: []history.Paid{{PayoutID: po1, Account: "a", Amount: 20}}, SubmitCalls: map[string]int{po1: 2}})
	expectFail(t, Payouts(ops, f), "unfenced call: bank-a got 2 submits of payout "+po1+" but its ledger committed 1 attempts")
}

func TestPayoutsHistoryAgainstLedger(t *testing.T) {
	ops, final := bankWithPayouts()
	po1 := providerID("a", "po1")
	// Acknowledged but not stored (and so not paid): a lost write.
	f := withPayout(final, po1, nil)
	f = withStatement(f, "bank-a", history.ProviderStatement{})
	f.PaidOut = 0
	expectFail(t, Payouts(ops, f), `lost write: payout "po1" (op 5, a 20) was acknowledged ok but is not stored`)
	// Stored but never invoked.
	ghost := history.Payout{Cell: 1, Account: "a", ID: "po7", Amount: 3, State: history.PayoutFailed, Provider: "bank-a"}
	expectFail(t, Payouts(ops, withPayout(final, providerID("a", "po7"), &ghost)), `payout "po7" (a 3) is stored but was never invoked`)
	// Invoked, refused, stored all the same.
	refused := build(append(ops[:len(ops):len(ops)], payout("po7", "a", 3, "bank-a", 50, 60, history.OutcomeFail))...)
	expectFail(t, Payouts(refused, withPayout(final, providerID("a", "po7"), &ghost)), `failed payout applied anyway: payout "po7"`)
	// A payout of unknown outcome, retried with the same id until
	// acknowledged, counts once.
	retried := build(append(ops[:len(ops):len(ops)],
		payout("po3", "a", 4, "bank-a", 50, 60, history.OutcomeUnknown),
		payout("po3", "a", 4, "bank-a", 61, 70, history.OutcomeOK))...)
	po3 := history.Payout{Cell: 1, Account: "a", ID: "po3", Amount: 4, State: history.PayoutFailed, Provider: "bank-a", SubmitAttempts: 1}
	expectPass(t, Payouts(retried, withPayout(final, providerID("a", "po3"), &po3)))
}

func TestPayoutsTotals(t *testing.T) {
	ops, final := bankWithPayouts()
	final.PaidOut = 25
	expectFail(t, Payouts(ops, final), "the ledgers' paid-out total 25 is not the sum 20 of their SUCCEEDED payouts")
	final.PaidOut, final.Held = 20, 3
	expectFail(t, Payouts(ops, final), "the ledgers' held total 3 is not the sum 0 of their unsettled payouts")
}

// Payouts count in the other checkers too: held and paid out money is
// conserved, a payout is a debit of its account's balance and register.
func TestPayoutsInTheOtherCheckers(t *testing.T) {
	ops, final := bankWithPayouts()
	expectPass(t, Conservation(ops, final))
	expectPass(t, NoLostWrites(ops, final))
	expectPass(t, Linearizable(ops, final, linTimeout))

	// Paid out but not counted: money vanished.
	f := final
	f.PaidOut = 0
	expectFail(t, Conservation(ops, f), "balances sum to 130 but 150 was deposited")
	// Debited twice: the balance is 20 short and the evidence names it.
	f = withState(final, map[string]int64{"a": 30, "b": 80}, nil)
	expectFail(t, NoLostWrites(ops, f), `account a: balance 30, expected 50`, `payout "po1" (a 20) debited twice`)
	// A read that misses a completed payout is stale.
	stale := build(append(ops[:len(ops):len(ops)], read("a", 70, 50, 60))...)
	expectFail(t, Linearizable(stale, final, linTimeout), "account a: read op 9", "returned 70")
}
