package check

import (
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

// All runs every checker, in a fixed order: conservation, no-lost-writes,
// cross-cell, payouts, replicas-agree, linearizable-reads, availability. The availability series
// and failovers are dropped; call Availability for them.
func All(ops []history.Op, events []history.Event, final history.Final, startNs int64, errorsMax int, linTimeout time.Duration) []history.CheckResult {
	availability, _, _ := Availability(ops, events, startNs, errorsMax)
	return []history.CheckResult{
		Conservation(ops, final),
		NoLostWrites(ops, final),
		CrossCell(final),
		Payouts(ops, final),
		ReplicasAgree(final),
		Linearizable(ops, final, linTimeout),
		availability,
	}
}
