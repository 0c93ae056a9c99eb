package demo

import (
	"strings"

	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/history"
)

// tally counts a history's operations the way a newcomer asks about them:
// payments made, and the errors clients saw.
type tally struct {
	completed int // every completed operation, any outcome
	// Acknowledged operations of the workload (not its setup).
	transfers, crossCell, deposits, reads int
	// setup: acknowledged account creations and initial deposits, and
	// the accounts created.
	setup, accounts int
	// rejected: definite business answers (e.g. insufficient funds); the
	// clients were told, nothing failed.
	rejected int
	// Errors clients saw: no definite answer (unknown), no answer at all
	// (pending, once the run is over), no router reachable (unavailable),
	// a balance read that failed.
	unknown, pending, unavailable, readsFailed int
}

// clientErrors counts the errors clients saw so far; an operation still
// pending is in flight, not (yet) an error.
func (t tally) clientErrors() int { return t.unknown + t.unavailable + t.readsFailed }

func (t tally) plus(o tally) tally {
	return tally{
		completed: t.completed + o.completed,
		transfers: t.transfers + o.transfers, crossCell: t.crossCell + o.crossCell, deposits: t.deposits + o.deposits, reads: t.reads + o.reads,
		setup: t.setup + o.setup, accounts: t.accounts + o.accounts, rejected: t.rejected + o.rejected,
		unknown: t.unknown + o.unknown, pending: t.pending + o.pending, unavailable: t.unavailable + o.unavailable, readsFailed: t.readsFailed + o.readsFailed,
	}
}

// unavailablePrefix marks the chaos workload's record of a call that
// reached no server (client.ErrUnavailable).
const unavailablePrefix = "UNAVAILABLE:"

// tallyOps counts ops. With topo, transfers whose payee lives in another
// cell are counted as cross-cell too.
func tallyOps(ops []history.Op, topo *topology.Topology) tally {
	var t tally
	for _, op := range ops {
		if op.Outcome != history.OutcomePending {
			t.completed++
		}
		switch op.Outcome {
		case history.OutcomePending:
			t.pending++
		case history.OutcomeUnknown:
			t.unknown++
		case history.OutcomeFail:
			switch {
			case op.Kind == history.KindRead:
				t.readsFailed++
			case strings.HasPrefix(op.Reason, unavailablePrefix):
				t.unavailable++
			default:
				t.rejected++
			}
		case history.OutcomeOK:
			if op.Kind == history.KindCreate {
				t.accounts++
			}
			if op.Process < 0 {
				t.setup++
				continue
			}
			switch op.Kind {
			case history.KindTransfer:
				t.transfers++
				if topo != nil && crossCell(topo, op) {
					t.crossCell++
				}
			case history.KindDeposit:
				t.deposits++
			case history.KindRead:
				t.reads++
			}
		}
	}
	return t
}

func crossCell(topo *topology.Topology, op history.Op) bool {
	from, ok1 := topo.CellOfAccount(op.Account)
	to, ok2 := topo.CellOfAccount(op.To)
	return ok1 && ok2 && from.ID != to.ID
}
