package check

import (
	"fmt"
	"strings"

	"github.com/cellpay/cellpay/chaos/history"
)

// hintsMax bounds the explanations offered for one balance mismatch.
const hintsMax = 3

// NoLostWrites checks RPO = 0 and exactly-once application:
//
//   - every transfer acknowledged ok is stored, with the same payer, payee
//     and amount;
//   - every stored transfer was invoked (its id is a transfer op with the
//     same parameters), and not only by ops that failed;
//   - every account's final balance is its acknowledged deposits plus the
//     net of the stored transfers, minus its stored payouts that are not
//     FAILED (held or paid out), plus some subset of its deposits whose
//     outcome is unknown. A transfer or deposit applied twice (or to one
//     side only) shows here, and the evidence says which one fits.
//
// Payouts acknowledged but not stored are the Payouts checker's.
//
// It is inconclusive when an account has too many uncertain deposits to
// enumerate (more than subsetSumsMax distinct sums) or an acknowledged
// transfer carries no id.
func NoLostWrites(ops []history.Op, final history.Final) history.CheckResult {
	var failures, doubts evidence
	opsByKey := make(map[string][]history.Op)
	okTransfers := 0
	reported := make(map[string]bool) // keys already named, once each
	for _, op := range ops {
		if op.Kind != history.KindTransfer {
			continue
		}
		opsByKey[op.Key] = append(opsByKey[op.Key], op)
		if op.Outcome != history.OutcomeOK {
			continue
		}
		okTransfers++
		if op.Key == "" {
			doubts.addf("op %d: acknowledged transfer %s→%s %d has no id; it cannot be matched to a stored transfer", op.ID, op.Account, op.To, op.Amount)
			continue
		}
		stored, found := final.Transfers[op.Key]
		switch {
		case reported[op.Key]:
		case !found:
			reported[op.Key] = true
			failures.addf("lost write: transfer %q (op %d, %s→%s %d) was acknowledged ok but is not stored", op.Key, op.ID, op.Account, op.To, op.Amount)
		case !sameTransfer(stored, op):
			reported[op.Key] = true
			failures.addf("transfer %q (op %d) was acknowledged as %s→%s %d but is stored as %s→%s %d", op.Key, op.ID, op.Account, op.To, op.Amount, stored.From, stored.To, stored.Amount)
		}
	}

	for _, id := range sortedKeys(final.Transfers) {
		stored := final.Transfers[id]
		invoked := opsByKey[id]
		if len(invoked) == 0 {
			failures.addf("transfer %q (%s→%s %d) is stored but was never invoked", id, stored.From, stored.To, stored.Amount)
			continue
		}
		var matching []history.Op
		for _, op := range invoked {
			if sameTransfer(stored, op) {
				matching = append(matching, op)
			}
		}
		if len(matching) == 0 {
			if !reported[id] {
				failures.addf("transfer %q is stored as %s→%s %d but was invoked as %s→%s %d (op %d)", id, stored.From, stored.To, stored.Amount, invoked[0].Account, invoked[0].To, invoked[0].Amount, invoked[0].ID)
			}
			continue
		}
		allFailed := true
		for _, op := range matching {
			allFailed = allFailed && op.Outcome == history.OutcomeFail
		}
		if allFailed {
			failures.addf("failed transfer applied anyway: transfer %q (op %d, %s→%s %d) failed (%s) but is stored", id, matching[0].ID, stored.From, stored.To, stored.Amount, matching[0].Reason)
		}
	}

	accounts, inconclusive := checkBalances(ops, final, &failures)
	for _, a := range inconclusive {
		doubts.addf("account %s: too many deposits of unknown outcome to enumerate (more than %d sums)", a, subsetSumsMax)
	}

	if failures.count() > 0 {
		lines := failures.list()
		return history.CheckResult{
			Name:     NameNoLostWrites,
			Summary:  fmt.Sprintf("%d violation(s); first: %s", failures.count(), lines[0]),
			Evidence: lines,
		}
	}
	if doubts.count() > 0 {
		lines := doubts.list()
		return history.CheckResult{
			Name: NameNoLostWrites, Inconclusive: true, Evidence: lines,
			Summary: fmt.Sprintf("no violation found, but %d item(s) could not be decided; first: %s", doubts.count(), lines[0]),
		}
	}
	return history.CheckResult{
		Name: NameNoLostWrites, Pass: true,
		Summary: fmt.Sprintf("%d acknowledged transfers stored; %d stored transfers all invoked; %d account balances explained", okTransfers, len(final.Transfers), accounts),
	}
}

func sameTransfer(stored history.Transfer, op history.Op) bool {
	return stored.From == op.Account && stored.To == op.To && stored.Amount == op.Amount
}

// accountLedger is what the history and the stored transfers say about one
// account.
type accountLedger struct {
	ackedDeposits []effect // took effect exactly once
	maybeDeposits []effect // unknown or pending: at most once
	transfers     []string // ids of the stored transfers touching it
	unstored      []effect // transfers of unknown outcome touching it, not stored
	transfersNet  int64
	payouts       []history.Payout // stored, not FAILED: debited (held or paid out)
	payoutsSum    int64
	createdOp     int64 // the op of an acknowledged create; -1 if none
}

// checkBalances compares every account's final balance with its ledger,
// adding a failure per mismatch. It returns the number of accounts
// explained and the accounts it could not decide.
func checkBalances(ops []history.Op, final history.Final, failures *evidence) (int, []string) {
	ledgers := make(map[string]*accountLedger)
	ledger := func(account string) *accountLedger {
		l := ledgers[account]
		if l == nil {
			l = &accountLedger{createdOp: -1}
			ledgers[account] = l
		}
		return l
	}
	for account := range final.Balances {
		ledger(account)
	}
	for _, op := range ops {
		if op.Kind == history.KindCreate && op.Outcome == history.OutcomeOK && ledger(op.Account).createdOp < 0 {
			ledger(op.Account).createdOp = op.ID
		}
	}
	for _, d := range effects(ops, history.KindDeposit) {
		l := ledger(d.Account)
		if d.Acked {
			l.ackedDeposits = append(l.ackedDeposits, d)
		} else {
			l.maybeDeposits = append(l.maybeDeposits, d)
		}
	}
	for _, id := range sortedKeys(final.Transfers) {
		t := final.Transfers[id]
		from, to := ledger(t.From), ledger(t.To)
		from.transfers = append(from.transfers, id)
		from.transfersNet -= t.Amount
		if t.To != t.From {
			to.transfers = append(to.transfers, id)
		}
		to.transfersNet += t.Amount
	}

	for account, payouts := range storedPayoutsOf(final) {
		l := ledger(account)
		for _, p := range payouts {
			if p.State != history.PayoutFailed { // a FAILED payout released its funds
				l.payouts = append(l.payouts, p)
				l.payoutsSum += p.Amount
			}
		}
	}

	for _, t := range effects(ops, history.KindTransfer) {
		if _, stored := final.Transfers[t.Key]; stored || t.Acked {
			continue
		}
		ledger(t.Account).unstored = append(ledger(t.Account).unstored, t)
		if t.To != t.Account {
			ledger(t.To).unstored = append(ledger(t.To).unstored, t)
		}
	}

	explained := 0
	var inconclusive []string
	for _, account := range sortedKeys(ledgers) {
		l := ledgers[account]
		var acked int64
		for _, d := range l.ackedDeposits {
			acked += d.Amount
		}
		expected := acked + l.transfersNet - l.payoutsSum
		balance, present := final.Balances[account]
		if !present {
			switch {
			case l.createdOp >= 0:
				failures.addf("account %s (created by op %d, expected balance %d) is missing from the final balances", account, l.createdOp, expected)
			case expected != 0:
				failures.addf("account %s (expected balance %d) is missing from the final balances", account, expected)
			}
			continue
		}
		maybe := make([]int64, len(l.maybeDeposits))
		for i, d := range l.maybeDeposits {
			maybe[i] = d.Amount
		}
		sums, ok := subsetSums(maybe)
		if !ok {
			inconclusive = append(inconclusive, account)
			continue
		}
		residual := balance - expected
		if sums[residual] {
			explained++
			continue
		}
		uncertain := ""
		if len(maybe) > 0 {
			uncertain = fmt.Sprintf(" + some of %d unknown deposits %v", len(maybe), maybe)
		}
		paidOut := ""
		if len(l.payouts) > 0 {
			paidOut = fmt.Sprintf(" - %d payouts %d", len(l.payouts), l.payoutsSum)
		}
		line := fmt.Sprintf("account %s: balance %d, expected %d (acknowledged deposits %d + stored transfers net %+d%s)%s, off by %+d",
			account, balance, expected, acked, l.transfersNet, paidOut, uncertain, residual)
		if hints := explain(account, residual, sums, l, final); len(hints) > 0 {
			line += ": consistent with " + strings.Join(hints, "; or ")
		}
		failures.addf("%s", line)
	}
	return explained, inconclusive
}

// explain names the single double (or missing) application that would
// account for residual, the unexplained part of a balance.
func explain(account string, residual int64, sums map[int64]bool, l *accountLedger, final history.Final) []string {
	var hints []string
	add := func(h string) {
		if len(hints) < hintsMax {
			hints = append(hints, h)
		}
	}
	for _, id := range l.transfers {
		t := final.Transfers[id]
		var delta int64
		if t.To == account {
			delta += t.Amount
		}
		if t.From == account {
			delta -= t.Amount
		}
		if delta == 0 {
			continue
		}
		switch {
		case sums[residual-delta]:
			add(fmt.Sprintf("transfer %q (%s→%s %d) applied twice", id, t.From, t.To, t.Amount))
		case sums[residual+delta]:
			add(fmt.Sprintf("transfer %q (%s→%s %d) stored but not applied to %s", id, t.From, t.To, t.Amount, account))
		}
	}
	for _, t := range l.unstored {
		delta := t.Amount
		if t.Account == account {
			delta = -t.Amount
		}
		if sums[residual-delta] {
			add(fmt.Sprintf("%s, of unknown outcome and not stored, applied anyway", t))
		}
	}
	for _, p := range l.payouts {
		switch {
		case sums[residual+p.Amount]:
			add(fmt.Sprintf("payout %q (%s %d) debited twice", p.ID, p.Account, p.Amount))
		case sums[residual-p.Amount]:
			add(fmt.Sprintf("payout %q (%s %d) stored but not debited", p.ID, p.Account, p.Amount))
		}
	}
	for _, d := range l.ackedDeposits {
		switch {
		case sums[residual-d.Amount]:
			add(fmt.Sprintf("%s applied twice", d))
		case sums[residual+d.Amount]:
			add(fmt.Sprintf("acknowledged %s not applied", d))
		}
	}
	return hints
}
