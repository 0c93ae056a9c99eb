package check

import (
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

// sagas is a passing set: two transfers completed and credited, one
// reversed because the payee's ledger refused the credit (and stored it).
func sagas() history.Final {
	return history.Final{CrossCell: map[string]history.CrossCellTransfer{
		"a/x1": {ID: "x1", From: "a", To: "c", Amount: 10, FromCell: 1, ToCell: 2, PayerState: history.TransferCompleted, Credited: true},
		"a/x2": {ID: "x2", From: "a", To: "c", Amount: 20, FromCell: 1, ToCell: 2, PayerState: history.TransferCompleted, Credited: true},
		"a/x3": {ID: "x3", From: "a", To: "gone", Amount: 30, FromCell: 1, ToCell: 2, PayerState: history.TransferReversed, RefusalKnown: true, RefusalStored: true},
	}}
}

func withSaga(final history.Final, ref string, change func(*history.CrossCellTransfer)) history.Final {
	out := final
	out.CrossCell = make(map[string]history.CrossCellTransfer)
	for k, v := range final.CrossCell {
		out.CrossCell[k] = v
	}
	t := out.CrossCell[ref]
	change(&t)
	out.CrossCell[ref] = t
	return out
}

func TestCrossCellPasses(t *testing.T) {
	r := CrossCell(sagas())
	expectPass(t, r)
	expectEvidence(t, r, "3 cross-cell transfers settled once: 2 completed and credited, 1 reversed")
	expectPass(t, CrossCell(history.Final{}))
}

// The topology flip: the payee's cell applied the credit, but the relay
// heard WRONG_CELL (from a node with another view) and reversed it.
func TestCrossCellReversedAfterTheCreditApplied(t *testing.T) {
	f := withSaga(sagas(), "a/x1", func(t *history.CrossCellTransfer) {
		t.PayerState, t.RefusalKnown = history.TransferReversed, true
	})
	expectFail(t, CrossCell(f), `money created: transfer "x1" (a→c 10, cell 1→2) was REVERSED`, "although the payee's cell credited it")
}

// Reversed on an answer the payee's ledger did not store (the credit
// happened not to apply): right by luck, wrong by rule.
func TestCrossCellReversedWithoutARefusal(t *testing.T) {
	f := withSaga(sagas(), "a/x3", func(t *history.CrossCellTransfer) { t.RefusalStored = false })
	expectFail(t, CrossCell(f), `reversed without a refusal: transfer "x3"`)
	// A target that cannot read refusals says so instead of guessing.
	f = withSaga(sagas(), "a/x3", func(t *history.CrossCellTransfer) { t.RefusalKnown, t.RefusalStored = false, false })
	expectEvidence(t, CrossCell(f), "1 reversals not credited, their refusal unread")
}

func TestCrossCellLostStuckAndOrphanCredits(t *testing.T) {
	expectFail(t, CrossCell(withSaga(sagas(), "a/x1", func(t *history.CrossCellTransfer) { t.Credited = false })),
		`money lost: transfer "x1"`)
	expectFail(t, CrossCell(withSaga(sagas(), "a/x2", func(t *history.CrossCellTransfer) { t.PayerState = history.TransferInFlight })),
		`unsettled after quiet: transfer "x2"`, "IN_FLIGHT (credited: true)")
	expectFail(t, CrossCell(withSaga(sagas(), "a/x4", func(t *history.CrossCellTransfer) {
		*t = history.CrossCellTransfer{ID: "x4", From: "a", To: "c", Amount: 5, FromCell: 1, ToCell: 2, Credited: true}
	})), `credit from nowhere: transfer "x4"`)
}
