package check

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cellpay/cellpay/chaos/history"
)

// LinearizableOpsMax bounds the operations of one account given to the
// linearizability search, whose cost grows exponentially with concurrency.
// Beyond it only the account's first LinearizableOpsMax operations (by
// invocation) are checked, and the result says so.
const LinearizableOpsMax = 5000

// linOp is one operation on one account's balance, as the model sees it.
type linOp struct {
	read    bool
	delta   int64  // deposit: +amount; transfer: -amount for the payer, +amount for the payee; payout: -amount (+amount when released)
	label   string // for evidence: "read op 7 (process 2)", "transfer "t1" (op 3, a→b 30)"
	process int
}

// balanceModel is a register of one account's balance, starting at 0 (its
// create). Deposits and transfers add their delta unconditionally (the
// ledger's overdraft rule is not the subject here); a read is legal iff it
// returns the balance.
var balanceModel = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		balance, op := state.(int64), input.(linOp)
		if op.read {
			return output.(int64) == balance, balance
		}
		return true, balance + op.delta
	},
	Hash: func(state any) uint64 { return uint64(state.(int64)) },
	DescribeOperation: func(input, output any) string {
		if op := input.(linOp); op.read {
			return fmt.Sprintf("%s -> %d", op.label, output)
		}
		return input.(linOp).label
	},
}

// accountHistory is the porcupine history of one account.
type accountHistory struct {
	account   string
	ops       []porcupine.Operation // Metadata: the index in ops
	reads     int
	truncated int // operations left out beyond LinearizableOpsMax
}

// accountVerdict is the outcome of checking one account.
type accountVerdict struct {
	result   porcupine.CheckResult
	evidence []string // for an illegal history
}

// Linearizable checks, per account, that the balance reads are
// linearizable with respect to the deposits and transfers touching the
// account. Failed ops and reads without an answer are left out; a transfer
// of unknown or pending outcome counts as effective, completing "never"
// (math.MaxInt64, so it may be linearized anywhere after its invocation),
// iff the final state stores it, and is left out otherwise; the payee's
// side of a cross-cell transfer (credited by the payer cell's relay,
// possibly after the answer) takes effect within creditWindow (from the
// payee's credit record to the payer's settlement record, "never" while in
// flight); a deposit of
// unknown or pending outcome is kept with a "never" completion, which lets
// the search place it anywhere after its invocation, including after every
// read: "took effect" and "did not" both stay possible. A payout debits its
// account when it is recorded, so it is a write of -amount: acknowledged, or
// of unknown outcome and stored (then completing "never"); one stored FAILED
// also releases its amount at an unseen time after its invocation (the
// model may place that release before the debit, which can only hide a
// violation, never invent one). Retries sharing an idempotency key count
// once.
//
// timeout bounds the search of each account (0: no bound); an account whose
// search times out makes the result inconclusive. Accounts are checked in
// parallel, up to GOMAXPROCS at a time.
func Linearizable(ops []history.Op, final history.Final, timeout time.Duration) history.CheckResult {
	histories := accountHistories(ops, final)
	verdicts := make([]accountVerdict, len(histories))
	base := firstInvokeNs(ops)

	work := make(chan int)
	var workers sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(histories), 1)) {
		workers.Go(func() {
			for i := range work {
				verdicts[i] = checkAccount(histories[i], timeout, base)
			}
		})
	}
	for i := range histories {
		work <- i
	}
	close(work)
	workers.Wait()

	var failures, notes evidence
	var timedOut, illegal []string
	reads, checked := 0, 0
	for i, h := range histories {
		reads += h.reads
		checked += len(h.ops)
		if h.truncated > 0 {
			notes.addf("account %s: only the first %d operations checked, %d left out", h.account, len(h.ops), h.truncated)
		}
		switch verdicts[i].result {
		case porcupine.Illegal:
			illegal = append(illegal, h.account)
			for _, line := range verdicts[i].evidence {
				failures.addf("%s", line)
			}
		case porcupine.Unknown:
			timedOut = append(timedOut, h.account)
			notes.addf("account %s: search timed out after %s (%d operations, %d reads)", h.account, timeout, len(h.ops), h.reads)
		}
	}
	if len(illegal) > 0 {
		for _, line := range notes.list() {
			failures.addf("%s", line)
		}
		return history.CheckResult{
			Name:     NameLinearizable,
			Summary:  fmt.Sprintf("reads not linearizable on %d account(s): %s", len(illegal), strings.Join(illegal, ", ")),
			Evidence: failures.list(),
		}
	}
	if len(timedOut) > 0 {
		return history.CheckResult{
			Name: NameLinearizable, Inconclusive: true, Evidence: notes.list(),
			Summary: fmt.Sprintf("search timed out after %s on %d account(s): %s", timeout, len(timedOut), strings.Join(timedOut, ", ")),
		}
	}
	summary := fmt.Sprintf("%d reads on %d accounts linearizable (%d operations checked)", reads, len(histories), checked)
	if notes.count() > 0 {
		summary += fmt.Sprintf("; %d account(s) checked on their first %d operations only", notes.count(), LinearizableOpsMax)
	}
	return history.CheckResult{Name: NameLinearizable, Pass: true, Summary: summary, Evidence: notes.list()}
}

// CreditClockSkewMax is how far the clock of a payer cell's leader may be
// behind the workload's: a settled cross-cell credit is placed no later
// than its settlement time plus this (plus the millisecond the record
// rounds away). A larger skew could only make the checker report a
// violation that is not one, never hide one.
const CreditClockSkewMax = 100 * time.Millisecond

// creditWindow is when the payee's side of a cross-cell transfer invoked
// at callNs can have taken effect. It starts at the call, or later at the
// time the payee's cell stamped on its credit record (it proposed the
// credit then, and applied it after). It ends "never" (math.MaxInt64)
// while the payer holds it in flight; at the payer's settlement record
// once settled (recorded after the payee's answer); or earlier where the
// target saw the credit applied.
func creditWindow(t history.CrossCellTransfer, callNs int64) (fromNs, byNs int64) {
	skew := int64(CreditClockSkewMax)
	fromNs, byNs = callNs, int64(math.MaxInt64)
	if t.Credited && t.CreditedAtMs > 0 {
		fromNs = max(fromNs, t.CreditedAtMs*int64(time.Millisecond)-skew)
	}
	if t.SettledAtMs > 0 && t.PayerState == history.TransferCompleted {
		byNs = (t.SettledAtMs+1)*int64(time.Millisecond) + skew
	}
	if t.AppliedByNs > 0 {
		byNs = min(byNs, t.AppliedByNs)
	}
	if byNs < fromNs { // clocks further apart than the allowance
		return callNs, max(callNs, byNs)
	}
	return fromNs, byNs
}

// accountHistories builds each account's history, in account order.
func accountHistories(ops []history.Op, final history.Final) []accountHistory {
	byAccount := make(map[string][]porcupine.Operation)
	add := func(account string, op linOp, callNs, returnNs int64, output any) {
		byAccount[account] = append(byAccount[account], porcupine.Operation{
			ClientId: max(op.process, 0),
			Input:    op,
			Call:     callNs,
			Output:   output,
			Return:   max(returnNs, callNs), // wall clocks may step back
		})
	}
	processOf := make(map[int64]int, len(ops))
	for _, op := range ops {
		processOf[op.ID] = op.Process
	}
	for _, d := range effects(ops, history.KindDeposit) {
		add(d.Account, linOp{delta: d.Amount, label: d.String(), process: processOf[d.FirstOp]}, d.CallNs, d.ReturnNs, nil)
	}
	for _, t := range effects(ops, history.KindTransfer) {
		if !t.Acked {
			stored, found := final.Transfers[t.Key]
			if !found || stored.From != t.Account || stored.To != t.To || stored.Amount != t.Amount {
				continue // it took no effect
			}
		}
		process := processOf[t.FirstOp]
		if t.Account == t.To {
			add(t.Account, linOp{label: t.String(), process: process}, t.CallNs, t.ReturnNs, nil)
			continue
		}
		add(t.Account, linOp{delta: -t.Amount, label: t.String(), process: process}, t.CallNs, t.ReturnNs, nil)
		creditCall, creditReturn := t.CallNs, t.ReturnNs
		if final.Transfers[t.Key].CrossCell {
			creditCall, creditReturn = creditWindow(final.CrossCell[t.Account+"/"+t.Key], t.CallNs)
		}
		add(t.To, linOp{delta: t.Amount, label: t.String(), process: process}, creditCall, creditReturn, nil)
	}
	stored := make(map[string]history.Payout, len(final.Payouts))
	for _, p := range final.Payouts {
		stored[p.Account+"/"+p.ID] = p
	}
	for _, p := range effects(ops, history.KindPayout) {
		s, found := stored[p.Account+"/"+p.Key]
		found = found && s.Amount == p.Amount
		if !p.Acked && !found {
			continue // it took no effect
		}
		process := processOf[p.FirstOp]
		add(p.Account, linOp{delta: -p.Amount, label: p.String(), process: process}, p.CallNs, p.ReturnNs, nil)
		if found && s.State == history.PayoutFailed {
			add(p.Account, linOp{delta: p.Amount, label: "release of " + p.String(), process: process}, p.CallNs, math.MaxInt64, nil)
		}
	}
	for _, op := range ops {
		if op.Kind == history.KindRead && op.Outcome == history.OutcomeOK {
			label := fmt.Sprintf("read op %d (process %d)", op.ID, op.Process)
			add(op.Account, linOp{read: true, label: label, process: op.Process}, op.Invoke, op.Done, op.Balance)
		}
	}

	out := make([]accountHistory, 0, len(byAccount))
	for _, account := range sortedKeys(byAccount) {
		h := accountHistory{account: account, ops: byAccount[account]}
		sort.SliceStable(h.ops, func(i, j int) bool { return h.ops[i].Call < h.ops[j].Call })
		if len(h.ops) > LinearizableOpsMax {
			h.ops, h.truncated = truncate(h.ops)
		}
		for i := range h.ops {
			h.ops[i].Metadata = i
			if h.ops[i].Input.(linOp).read {
				h.reads++
			}
		}
		out = append(out, h)
	}
	return out
}

// truncate keeps the first LinearizableOpsMax operations of a history
// sorted by invocation, minus the reads that returned at or after the first
// invocation left out: such a read may have observed an operation left out,
// and every other kept read returned before any of them began, so the
// prefix is linearizable if the whole history is.
func truncate(sorted []porcupine.Operation) ([]porcupine.Operation, int) {
	cutoff := sorted[LinearizableOpsMax].Call
	kept := make([]porcupine.Operation, 0, LinearizableOpsMax)
	for _, op := range sorted[:LinearizableOpsMax] {
		if op.Input.(linOp).read && op.Return >= cutoff {
			continue
		}
		kept = append(kept, op)
	}
	return kept, len(sorted) - len(kept)
}

// checkAccount runs the search on one account. Accounts without reads are
// trivially linearizable: the model accepts every write.
func checkAccount(h accountHistory, timeout time.Duration, base int64) accountVerdict {
	if h.reads == 0 {
		return accountVerdict{result: porcupine.Ok}
	}
	result, info := porcupine.CheckOperationsVerbose(balanceModel, h.ops, timeout)
	if result != porcupine.Illegal {
		return accountVerdict{result: result}
	}
	return accountVerdict{result: result, evidence: explainIllegal(h, info, base)}
}

// explainIllegal names the read that cannot be explained: among the
// operations outside the longest linearizable prefix, the read that
// returned first (the search got stuck there), with the balance the prefix
// ends at.
func explainIllegal(h accountHistory, info porcupine.LinearizationInfo, base int64) []string {
	var longest []porcupine.Operation
	if partials := info.PartialLinearizationsOperations(); len(partials) > 0 {
		for _, p := range partials[0] {
			if len(p) > len(longest) || (len(p) == len(longest) && lessByMetadata(p, longest)) {
				longest = p
			}
		}
	}
	linearized := make(map[int]bool, len(longest))
	var balance int64
	for _, op := range longest {
		linearized[op.Metadata.(int)] = true
		if in := op.Input.(linOp); !in.read {
			balance += in.delta
		}
	}
	culprit := -1
	for i, op := range h.ops {
		if linearized[i] || !op.Input.(linOp).read {
			continue
		}
		if culprit < 0 || op.Return < h.ops[culprit].Return {
			culprit = i
		}
	}
	if culprit < 0 {
		return []string{fmt.Sprintf("account %s: not linearizable (longest linearizable prefix: %d of %d operations)", h.account, len(longest), len(h.ops))}
	}
	read := h.ops[culprit]
	lines := []string{fmt.Sprintf("account %s: %s at %s..%s returned %d, which no order of the account's operations explains; the longest linearizable prefix (%d of %d operations) ends at balance %d",
		h.account, read.Input.(linOp).label, offset(read.Call, base), offset(read.Return, base), read.Output.(int64), len(longest), len(h.ops), balance)}
	// The writes that had completed before the read began must precede it:
	// they are what a stale read missed.
	var before []string
	var sum int64
	for _, op := range h.ops {
		if in := op.Input.(linOp); !in.read && op.Return < read.Call {
			before = append(before, fmt.Sprintf("%s %+d", in.label, in.delta))
			sum += in.delta
		}
	}
	if len(before) > 0 {
		const shownMax = 4
		shown := before[max(0, len(before)-shownMax):]
		lines = append(lines, fmt.Sprintf("account %s: %d write(s) completed before that read began, summing to %d; the last: %s",
			h.account, len(before), sum, strings.Join(shown, "; ")))
	}
	return lines
}

// lessByMetadata orders two equally long linearizations by their
// operations' indexes, so the evidence does not depend on map order.
func lessByMetadata(a, b []porcupine.Operation) bool {
	for i := range a {
		if x, y := a[i].Metadata.(int), b[i].Metadata.(int); x != y {
			return x < y
		}
	}
	return false
}
