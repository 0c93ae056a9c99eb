package check

import (
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func TestAllRunsEveryChecker(t *testing.T) {
	ops, final := bank()
	results := All(ops, nil, final, at(0), 0, linTimeout)
	names := []string{NameConservation, NameNoLostWrites, NameCrossCell, NamePayouts, NameReplicas, NameLinearizable, NameAvailability}
	if len(results) != len(names) {
		t.Fatalf("%d results, want %d", len(results), len(names))
	}
	for i, r := range results {
		if r.Name != names[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, names[i])
		}
		expectPass(t, r)
	}
}

// The same violation seen by several checkers: a transfer applied twice
// keeps the sum (conservation passes) but breaks the balances and any read
// made after it.
func TestAllDoubleApply(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 40, "b": 110}, nil)
	ops = build(append(ops, read("a", 40, 50, 60))...)
	results := All(ops, nil, final, at(0), 0, linTimeout)
	expectPass(t, results[0])
	expectFail(t, results[1], `transfer "t1" (a→b 30) applied twice`)
	expectPass(t, results[2])
	expectPass(t, results[3])
	expectPass(t, results[4])
	expectFail(t, results[5], "account a: read op 7", "returned 40")
	expectPass(t, results[6])
}

// A run with payouts passes every checker; a payout paid twice by its
// provider fails the payouts checker alone (the ledgers never saw it).
func TestAllWithPayouts(t *testing.T) {
	ops, final := bankWithPayouts()
	for _, r := range All(ops, nil, final, at(0), 0, linTimeout) {
		expectPass(t, r)
	}
	po1 := providerID("a", "po1")
	paid := history.Paid{PayoutID: po1, Account: "a", Amount: 20}
	final = withStatement(final, "bank-a", history.ProviderStatement{Paid: []history.Paid{paid, paid}, SubmitCalls: map[string]int{po1: 1}})
	for _, r := range All(ops, nil, final, at(0), 0, linTimeout) {
		if r.Name == NamePayouts {
			expectFail(t, r, "paid twice")
		} else {
			expectPass(t, r)
		}
	}
}
