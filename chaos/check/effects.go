package check

import (
	"fmt"
	"math"
	"sort"

	"github.com/cellpay/cellpay/chaos/history"
)

// An effect is one mutation as the cluster may have applied it. The ops
// that share an idempotency key and parameters (a client's retries) collapse
// into one effect: the ledger executes a key once and replays its result.
type effect struct {
	Kind    history.Kind // KindDeposit, KindTransfer or KindPayout
	Key     string       // the idempotency key (a transfer's id); "op#N" when the op had none
	Account string       // deposit, payout: the account; transfer: the payer
	To      string       // transfer: the payee
	Amount  int64
	// Acked: some op of the effect was acknowledged ok, so it took effect
	// exactly once. Otherwise its ops were unknown or pending.
	Acked    bool
	CallNs   int64 // earliest invocation of its ops
	ReturnNs int64 // earliest acknowledgement; math.MaxInt64 when none
	FirstOp  int64 // the id of its first op, for evidence
}

func (e effect) String() string {
	switch e.Kind {
	case history.KindTransfer:
		return fmt.Sprintf("transfer %q (op %d, %s→%s %d)", e.Key, e.FirstOp, e.Account, e.To, e.Amount)
	case history.KindPayout:
		return fmt.Sprintf("payout %q (op %d, %s -%d)", e.Key, e.FirstOp, e.Account, e.Amount)
	}
	return fmt.Sprintf("deposit %q (op %d, %s +%d)", e.Key, e.FirstOp, e.Account, e.Amount)
}

// effects groups the ops of kind into effects, in order of first op.
// Failed ops are left out: a failed op took no effect, and a retry of a key
// whose first execution failed replays the failure.
func effects(ops []history.Op, kind history.Kind) []effect {
	type groupKey struct {
		key, account, to string
		amount           int64
	}
	index := make(map[groupKey]int)
	var out []effect
	for _, op := range ops {
		if op.Kind != kind || op.Outcome == history.OutcomeFail {
			continue
		}
		key := op.Key
		if key == "" {
			key = fmt.Sprintf("op#%d", op.ID)
		}
		gk := groupKey{key, op.Account, op.To, op.Amount}
		i, seen := index[gk]
		if !seen {
			i = len(out)
			index[gk] = i
			out = append(out, effect{
				Kind: kind, Key: key, Account: op.Account, To: op.To, Amount: op.Amount,
				CallNs: op.Invoke, ReturnNs: math.MaxInt64, FirstOp: op.ID,
			})
		}
		e := &out[i]
		e.CallNs = min(e.CallNs, op.Invoke)
		e.FirstOp = min(e.FirstOp, op.ID)
		if op.Outcome == history.OutcomeOK {
			e.Acked = true
			e.ReturnNs = min(e.ReturnNs, op.Done)
		}
	}
	return out
}

// subsetSumsMax bounds the distinct subset sums enumerated for one set of
// uncertain deposits (2^12: twelve deposits of distinct amounts, or more
// when amounts repeat). Beyond it a checker says "inconclusive".
const subsetSumsMax = 1 << 12

// subsetSums returns every sum of a subset of amounts (0 included), or
// false when there would be more than subsetSumsMax distinct sums.
func subsetSums(amounts []int64) (map[int64]bool, bool) {
	sums := map[int64]bool{0: true}
	for _, a := range amounts {
		next := make([]int64, 0, len(sums))
		for s := range sums {
			if !sums[s+a] {
				next = append(next, s+a)
			}
		}
		for _, s := range next {
			sums[s] = true
		}
		if len(sums) > subsetSumsMax {
			return nil, false
		}
	}
	return sums, true
}

// sortedSums lists sums in order, for evidence.
func sortedSums(sums map[int64]bool) []int64 {
	out := make([]int64, 0, len(sums))
	for s := range sums {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
