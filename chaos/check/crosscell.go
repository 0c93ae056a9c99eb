package check

import (
	"fmt"

	"github.com/cellpay/cellpay/chaos/history"
)

// CrossCell checks that every cross-cell transfer (a saga: debit in the
// payer's cell, credit delivered by its relay to the payee's cell) settled
// exactly one way, from how both cells store it (final.CrossCell):
//
//   - COMPLETED in the payer's cell and credited in the payee's;
//   - or REVERSED (the payer refunded) and not credited, and only when the
//     payee's cell stored a refusal of the credit under its key (where the
//     target can read that): any other answer (WRONG_CELL from one node's
//     view of the topology, a timeout) may follow an attempt that applied
//     the credit, and reversing then creates money;
//   - never still IN_FLIGHT after quiet, and never a credit without the
//     payer's record.
//
// A credit is keyed by the payer's cell, account and transfer id, so the
// payee's cell holds it at most once; a credit applied twice shows in the
// payee's balance (NoLostWrites). Without any cross-cell record read
// (final.CrossCell nil) it passes, saying so.
func CrossCell(final history.Final) history.CheckResult {
	if final.CrossCell == nil {
		return history.CheckResult{Name: NameCrossCell, Pass: true, Summary: "no cross-cell transfers read"}
	}
	var failures evidence
	var completed, reversed, refusalsUnread int
	for _, ref := range sortedKeys(final.CrossCell) {
		t := final.CrossCell[ref]
		what := fmt.Sprintf("transfer %q (%s→%s %d, cell %d→%d)", t.ID, t.From, t.To, t.Amount, t.FromCell, t.ToCell)
		switch t.PayerState {
		case "":
			failures.addf("credit from nowhere: %s is credited in the payee's cell but the payer's cell holds no record of it", what)
		case history.TransferInFlight:
			failures.addf("unsettled after quiet: %s is still IN_FLIGHT (credited: %v)", what, t.Credited)
		case history.TransferCompleted:
			completed++
			if !t.Credited {
				failures.addf("money lost: %s is COMPLETED in the payer's cell but the payee's cell never credited it", what)
			}
		case history.TransferReversed:
			reversed++
			switch {
			case t.Credited:
				failures.addf("money created: %s was REVERSED (the payer refunded) although the payee's cell credited it", what)
			case t.RefusalKnown && !t.RefusalStored:
				failures.addf("reversed without a refusal: %s was REVERSED but the payee's cell stored no refusal of the credit (a WRONG_CELL or timeout is no refusal)", what)
			case !t.RefusalKnown:
				refusalsUnread++
			}
		default:
			failures.addf("%s has payer state %q", what, t.PayerState)
		}
	}
	if failures.count() > 0 {
		lines := failures.list()
		return history.CheckResult{Name: NameCrossCell, Summary: fmt.Sprintf("%d violation(s); first: %s", failures.count(), lines[0]), Evidence: lines}
	}
	summary := fmt.Sprintf("%d cross-cell transfers settled once: %d completed and credited, %d reversed on a refusal the payee's ledger stored, none in flight",
		len(final.CrossCell), completed, reversed)
	if refusalsUnread > 0 {
		summary += fmt.Sprintf(" (%d reversals not credited, their refusal unread by this target)", refusalsUnread)
	}
	return history.CheckResult{Name: NameCrossCell, Pass: true, Summary: summary}
}
