package check

import (
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func TestConservationPasses(t *testing.T) {
	ops, final := bank()
	expectPass(t, Conservation(ops, final))
}

func TestConservationBrokenSum(t *testing.T) {
	ops, final := bank()
	final.Balances = map[string]int64{"a": 70, "b": 90} // 10 from nowhere
	expectFail(t, Conservation(ops, final), "balances sum to 160 but 150 was deposited", "+10")
}

// Money debited by a cross-cell transfer and not yet credited counts; a
// sum that ignores it, or an in-flight amount nobody debited, fails.
func TestConservationCountsMoneyInFlight(t *testing.T) {
	ops, final := bank()
	final.Balances = map[string]int64{"a": 60, "b": 80} // a sent 10 to another cell, not yet credited
	final.InFlight, final.InFlightMinor = 1, 10
	expectPass(t, Conservation(ops, final))
	final.InFlightMinor = 0
	expectFail(t, Conservation(ops, final), "balances sum to 140 but 150 was deposited")
	final.Balances["a"], final.InFlightMinor = 70, 10
	expectFail(t, Conservation(ops, final), "balances sum to 160 but 150 was deposited")
}

func TestConservationLostDeposit(t *testing.T) {
	ops, final := bank()
	final.Balances = map[string]int64{"a": 0, "b": 80}
	final.Deposited = 80 // d1 (100) lost, though acknowledged
	expectFail(t, Conservation(ops, final), "deposited 80 is 70 below the acknowledged deposits 150")
}

func TestConservationDepositNeverSent(t *testing.T) {
	ops, final := bank()
	final.Balances = map[string]int64{"a": 75, "b": 80}
	final.Deposited = 155
	expectFail(t, Conservation(ops, final), "deposited 155 is 5 above", "money from nowhere")
}

// An unknown deposit may or may not have taken effect; a pending one too.
func TestConservationUnknownDepositsBothWays(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops,
		deposit("d3", "a", 25, 50, 60, history.OutcomeUnknown),
		deposit("d4", "b", 5, 50, 0, history.OutcomePending),
	)...)
	for _, c := range []struct {
		name      string
		a, b, sum int64
	}{{"neither", 70, 80, 150}, {"unknown", 95, 80, 175}, {"pending", 70, 85, 155}, {"both", 95, 85, 180}} {
		t.Run(c.name, func(t *testing.T) {
			f := final
			f.Balances, f.Deposited = map[string]int64{"a": c.a, "b": c.b}, c.sum
			expectPass(t, Conservation(ops, f))
		})
	}
	// Within the bounds but no subset of {25, 5} sums to 10.
	f := final
	f.Balances, f.Deposited = map[string]int64{"a": 80, "b": 80}, 160
	expectFail(t, Conservation(ops, f), "is no sum of the unknown deposits")
}

// A retried deposit (same key) counts once.
func TestConservationRetriedDepositCountsOnce(t *testing.T) {
	ops, final := bank()
	ops = build(append(ops,
		deposit("d3", "a", 25, 50, 60, history.OutcomeUnknown),
		deposit("d3", "a", 25, 61, 70, history.OutcomeOK),
	)...)
	final.Balances["a"] += 25
	final.Deposited += 25
	expectPass(t, Conservation(ops, final))
}
