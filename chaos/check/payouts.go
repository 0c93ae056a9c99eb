package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cellpay/cellpay/chaos/history"
)

// Payouts compares what the payout providers say they paid (their
// statements and call counts, final.Providers) with the payouts the ledgers
// store (final.Payouts, by the id their provider knows them by) and with
// the history:
//
//   - no payout paid twice: no id twice in one statement, nor in two;
//   - none lost: every SUCCEEDED payout is in its provider's statement,
//     with its account and amount;
//   - none from nowhere: every statement entry is a payout of some ledger,
//     at that provider, SUCCEEDED (a FAILED one was paid and released:
//     money created; a PENDING or UNKNOWN one is unresolved, below);
//   - every payout resolved: none still PENDING or UNKNOWN after quiet
//     (each is listed);
//   - every Submit after a committed attempt: a provider that got more
//     Submits of an id than the ledger committed PayoutAttempts for it was
//     called without one, which only a deposed leader could do; an id
//     submitted that no ledger holds likewise;
//   - every payout acknowledged ok is stored with its account and amount,
//     and every stored payout was invoked so, not only by ops that failed;
//   - the ledgers' totals agree with their records: Held is the sum of the
//     unsettled payouts, PaidOut that of the SUCCEEDED ones.
//
// A run without payouts and without providers passes, saying so; payouts
// without any provider statement are inconclusive. The summary counts the
// payouts their provider was queried about (ambiguous there: timed out,
// answered late) and the queries: the executor resolves by asking, never
// by paying again.
func Payouts(ops []history.Op, final history.Final) history.CheckResult {
	var failures, notes evidence
	invoked := effects(ops, history.KindPayout)
	if final.Providers == nil {
		if len(invoked) == 0 && len(final.Payouts) == 0 {
			return history.CheckResult{Name: NamePayouts, Pass: true, Summary: "no payouts in this run (the target exposes no provider statement)"}
		}
		return history.CheckResult{Name: NamePayouts, Inconclusive: true,
			Summary: fmt.Sprintf("%d payouts invoked and %d stored, but no provider statement was read", len(invoked), len(final.Payouts))}
	}
	providers := sortedKeys(final.Providers)

	// Paid twice, within one statement or across two.
	paidBy := make(map[string][]string) // provider id -> the provider of each payment
	for _, name := range providers {
		for _, e := range final.Providers[name].Paid {
			paidBy[e.PayoutID] = append(paidBy[e.PayoutID], name)
		}
	}
	paidTwice := 0
	for _, id := range sortedKeys(paidBy) {
		if by := paidBy[id]; len(by) > 1 {
			paidTwice++
			failures.addf("paid twice: payout %s was paid %d times (by %s)", id, len(by), strings.Join(by, ", "))
		}
	}

	// Every payment is a payout of some ledger, SUCCEEDED at that provider.
	payments := 0
	for _, name := range providers {
		for _, e := range final.Providers[name].Paid {
			payments++
			p, found := final.Payouts[e.PayoutID]
			switch {
			case !found:
				failures.addf("paid from nowhere: %s paid %s (%s %d) but no ledger holds that payout", name, e.PayoutID, e.Account, e.Amount)
			case p.Account != e.Account || p.Amount != e.Amount:
				failures.addf("payout %s is stored as %s %d but %s paid %s %d", e.PayoutID, p.Account, p.Amount, name, e.Account, e.Amount)
			case p.Provider != name:
				failures.addf("payout %s is stored at provider %s (failed by %v) but %s paid it", e.PayoutID, p.Provider, p.FailedProviders, name)
			case p.State == history.PayoutFailed:
				failures.addf("money created: payout %s (%s %d) is FAILED in its ledger, its funds released, but %s paid it", e.PayoutID, p.Account, p.Amount, name)
			}
		}
	}

	// Every stored payout: paid iff SUCCEEDED, resolved, fenced.
	var succeeded, failed, unresolved, queried, queries, resubmitted int
	var sumSucceeded, sumHeld int64
	for _, id := range sortedKeys(final.Payouts) {
		p := final.Payouts[id]
		st, known := final.Providers[p.Provider]
		paidHere := 0
		for _, by := range paidBy[id] {
			if by == p.Provider {
				paidHere++
			}
		}
		switch p.State {
		case history.PayoutSucceeded:
			succeeded++
			sumSucceeded += p.Amount
			if known && paidHere == 0 {
				failures.addf("lost: payout %s (%s %d) is SUCCEEDED in its ledger but %s never paid it", id, p.Account, p.Amount, p.Provider)
			}
		case history.PayoutFailed:
			failed++
		default:
			unresolved++
			sumHeld += p.Amount
			failures.addf("unresolved after quiet: payout %s (%s %d) is still %s at %s (paid there: %v, %d submits, %d queries)",
				id, p.Account, p.Amount, p.State, p.Provider, paidHere > 0, st.SubmitCalls[id], st.QueryCalls[id])
		}
		if !known {
			notes.addf("payout %s is at provider %q, whose statement was not read", id, p.Provider)
			continue
		}
		if calls := st.SubmitCalls[id]; calls > p.SubmitAttempts {
			failures.addf("unfenced call: %s got %d submits of payout %s but its ledger committed %d attempts: a provider was called without a committed attempt (by a deposed leader?)",
				p.Provider, calls, id, p.SubmitAttempts)
		}
		if n := st.QueryCalls[id]; n > 0 {
			queried++
			queries += n
		}
		if st.SubmitCalls[id] > 1 {
			resubmitted++
		}
	}
	for _, name := range providers {
		calls := final.Providers[name].SubmitCalls
		for _, id := range sortedKeys(calls) {
			p, found := final.Payouts[id]
			switch {
			case calls[id] == 0:
			case !found:
				failures.addf("unfenced call: %s got %d submits of payout %s, which no ledger holds", name, calls[id], id)
			case p.Provider != name && !slices.Contains(p.FailedProviders, name):
				failures.addf("unfenced call: %s got %d submits of payout %s, which its ledger holds at %s", name, calls[id], id, p.Provider)
			}
		}
	}
	if sumSucceeded != final.PaidOut {
		failures.addf("the ledgers' paid-out total %d is not the sum %d of their SUCCEEDED payouts", final.PaidOut, sumSucceeded)
	}
	if sumHeld != final.Held {
		failures.addf("the ledgers' held total %d is not the sum %d of their unsettled payouts", final.Held, sumHeld)
	}

	acked := checkPayoutOps(invoked, ops, final, &failures)

	notes.addf("%d payouts stored (%d acknowledged to the clients), %d payments in %d statements match them", len(final.Payouts), acked, payments, len(providers))
	notes.addf("every submit followed a committed attempt; %d payouts were submitted more than once (each after a committed attempt and a \"not found\")", resubmitted)
	for _, name := range providers {
		st := final.Providers[name]
		submits := 0
		for _, n := range st.SubmitCalls {
			submits += n
		}
		notes.addf("%s: %d payments, %d submits", name, len(st.Paid), submits)
	}
	if failures.count() > 0 {
		lines := failures.list()
		return history.CheckResult{Name: NamePayouts, Summary: fmt.Sprintf("%d violation(s); first: %s", failures.count(), lines[0]), Evidence: lines}
	}
	return history.CheckResult{
		Name: NamePayouts, Pass: true, Evidence: notes.list(),
		Summary: fmt.Sprintf("%d payouts: %d paid once, %d failed, none twice, lost or unresolved; %d queried at their provider (%d queries), %d submitted again; all fenced",
			len(final.Payouts), succeeded, failed, queried, queries, resubmitted),
	}
}

// checkPayoutOps matches the payout ops with the stored payouts: every
// acknowledged one is stored with its parameters; every stored one was
// invoked with them, and not only by ops that failed. It returns the number
// of acknowledged payouts.
func checkPayoutOps(invoked []effect, ops []history.Op, final history.Final, failures *evidence) int {
	stored := make(map[string]history.Payout, len(final.Payouts)) // by "<account>/<payout id>"
	for _, p := range final.Payouts {
		stored[p.Account+"/"+p.ID] = p
	}
	acked := 0
	for _, e := range invoked {
		p, found := stored[e.Account+"/"+e.Key]
		switch {
		case !e.Acked:
		case !found:
			failures.addf("lost write: payout %q (op %d, %s %d) was acknowledged ok but is not stored", e.Key, e.FirstOp, e.Account, e.Amount)
		case p.Amount != e.Amount:
			failures.addf("payout %q (op %d) was acknowledged as %s %d but is stored as %s %d", e.Key, e.FirstOp, e.Account, e.Amount, p.Account, p.Amount)
		}
		if e.Acked {
			acked++
		}
	}
	// Every stored payout of the run's accounts was invoked; the failed ops
	// count here, to tell "never invoked" from "failed but applied anyway".
	byRef := make(map[string][]history.Op)
	for _, op := range ops {
		if op.Kind == history.KindPayout {
			byRef[op.Account+"/"+op.Key] = append(byRef[op.Account+"/"+op.Key], op)
		}
	}
	refs := make([]string, 0, len(stored))
	for ref := range stored {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		p := stored[ref]
		if _, ours := final.Balances[p.Account]; !ours {
			continue // another client's payout (a long-lived cluster): not this history's to explain
		}
		var matching []history.Op
		for _, op := range byRef[ref] {
			if op.Amount == p.Amount {
				matching = append(matching, op)
			}
		}
		if len(matching) == 0 {
			failures.addf("payout %q (%s %d) is stored but was never invoked so", p.ID, p.Account, p.Amount)
			continue
		}
		allFailed := true
		for _, op := range matching {
			allFailed = allFailed && op.Outcome == history.OutcomeFail
		}
		if allFailed {
			failures.addf("failed payout applied anyway: payout %q (op %d, %s %d) failed (%s) but is stored", p.ID, matching[0].ID, p.Account, p.Amount, matching[0].Reason)
		}
	}
	return acked
}

// storedPayoutsOf groups the stored payouts by account, in id order.
func storedPayoutsOf(final history.Final) map[string][]history.Payout {
	out := make(map[string][]history.Payout)
	for _, id := range sortedKeys(final.Payouts) {
		p := final.Payouts[id]
		out[p.Account] = append(out[p.Account], p)
	}
	return out
}
