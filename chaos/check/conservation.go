package check

import (
	"fmt"

	"github.com/cellpay/cellpay/chaos/history"
)

// Conservation checks that no money was created or destroyed: the final
// balances plus the money in flight between cells, held by unsettled
// payouts and paid out by settled ones add up to the deposits the cells
// recorded, and the cells
// recorded every acknowledged deposit and nothing beyond the deposits that
// were sent (ok, unknown or pending). When the uncertain deposits are few
// enough to enumerate, the recorded total must moreover be the acknowledged
// total plus the sum of some subset of them.
func Conservation(ops []history.Op, final history.Final) history.CheckResult {
	// Money in flight between cells (debited, not yet credited) is still
	// the clients' money; money held by a payout, or paid out, left the
	// balances but not the books.
	balances := final.InFlightMinor + final.Held + final.PaidOut
	for _, b := range final.Balances {
		balances += b
	}
	var acked, uncertain int64
	var uncertainAmounts []int64
	for _, d := range effects(ops, history.KindDeposit) {
		if d.Acked {
			acked += d.Amount
			continue
		}
		uncertain += d.Amount
		uncertainAmounts = append(uncertainAmounts, d.Amount)
	}
	var ev evidence
	ev.addf("sum of %d final balances, %d in flight between cells (%d transfers), %d held by unsettled payouts and %d paid out: %d; deposited %d, difference %+d",
		len(final.Balances), final.InFlightMinor, final.InFlight, final.Held, final.PaidOut, balances, final.Deposited, balances-final.Deposited)
	ev.addf("acknowledged deposits %d, unknown or pending deposits %d in %d (deposited must lie in [%d, %d])",
		acked, uncertain, len(uncertainAmounts), acked, acked+uncertain)

	// The first evidence line already shows the sums and their difference.
	var violations []string
	if balances != final.Deposited {
		violations = append(violations, fmt.Sprintf("balances sum to %d but %d was deposited (difference %+d)", balances, final.Deposited, balances-final.Deposited))
	}
	shown := len(violations)
	switch {
	case final.Deposited < acked:
		violations = append(violations, fmt.Sprintf("deposited %d is %d below the acknowledged deposits %d: an acknowledged deposit was lost", final.Deposited, acked-final.Deposited, acked))
	case final.Deposited > acked+uncertain:
		violations = append(violations, fmt.Sprintf("deposited %d is %d above every deposit that may have taken effect (%d): money from nowhere", final.Deposited, final.Deposited-acked-uncertain, acked+uncertain))
	default:
		if sums, ok := subsetSums(uncertainAmounts); ok && !sums[final.Deposited-acked] {
			violations = append(violations, fmt.Sprintf("deposited %d minus acknowledged %d = %d is no sum of the unknown deposits' amounts", final.Deposited, acked, final.Deposited-acked))
		}
	}
	for _, v := range violations[shown:] {
		ev.addf("%s", v)
	}
	if len(violations) > 0 {
		return history.CheckResult{Name: NameConservation, Summary: violations[0], Evidence: ev.list()}
	}
	return history.CheckResult{
		Name: NameConservation, Pass: true, Evidence: ev.list(),
		Summary: fmt.Sprintf("balances sum to the %d deposited (%d acknowledged + %d of %d uncertain)", final.Deposited, acked, final.Deposited-acked, uncertain),
	}
}
