package chaos

import (
	"fmt"
	"hash/fnv"

	"github.com/cellpay/cellpay/chaos/cluster"
)

// afterApply decides, per transfer id, how topology-flip answers a credit:
// half the transfers (by a hash of the id, the same on every retry) apply
// before the WRONG_CELL answer.
func afterApply(transferID string) bool {
	h := fnv.New32a()
	_, _ = h.Write([]byte(transferID)) // a hash.Hash never fails
	return h.Sum32()%2 == 0
}

// topologyFlip proves that a credit answered WRONG_CELL after it may have
// applied is never reversed (no money created): conservation holds across
// cells, and every cross-cell transfer ends COMPLETED (and credited once)
// or REVERSED, REVERSED only where the payee's ledger stored a refusal
// (the cross-cell checker). During the window, the credit path sees a
// second cell's ownership as one node with another topology file does:
// every credit into it is answered WRONG_CELL naming the third cell, half
// of them after the real leader applied them (cluster.CreditFault).
func topologyFlip(e *env) error {
	credits := e.t.(CreditFaulter)
	cells := e.t.Topology().Cells()
	payee, other := cells[1%len(cells)], cells[2%len(cells)]
	detail := fmt.Sprintf("topology flip: credits into cell %d answered WRONG_CELL (\"cell %d owns them\", one node's view)", payee.ID, other.ID)
	before := credits.CreditFaultCounts()
	e.faultStart(detail, "")
	credits.SetCreditFault(&cluster.CreditFault{ToCell: payee.ID, OtherCell: other.ID, AfterApply: afterApply})
	<-e.stop
	credits.SetCreditFault(nil)
	after := credits.CreditFaultCounts()
	e.notes.add("%d credits into cell %d answered WRONG_CELL after they applied, %d instead of being delivered",
		after.AfterApply-before.AfterApply, payee.ID, after.Instead-before.Instead)
	e.faultEnd(detail, "")
	return nil
}
