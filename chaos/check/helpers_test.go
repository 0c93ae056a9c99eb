package check

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

// Times in the hand-made histories are milliseconds after t0.
const (
	t0 = int64(1_700_000_000_000_000_000)
	ms = int64(time.Millisecond)
)

func at(msAfter int64) int64 { return t0 + msAfter*ms }

// Op constructors; build numbers them. invoke and done are ms after t0; a
// done of 0 leaves the op pending.
func create(account string, invoke, done int64) history.Op {
	return finish(history.Op{Kind: history.KindCreate, Key: "c-" + account, Account: account}, invoke, done, history.OutcomeOK)
}

func deposit(key, account string, amount, invoke, done int64, outcome history.Outcome) history.Op {
	return finish(history.Op{Kind: history.KindDeposit, Key: key, Account: account, Amount: amount}, invoke, done, outcome)
}

func transfer(key, from, to string, amount, invoke, done int64, outcome history.Outcome) history.Op {
	return finish(history.Op{Kind: history.KindTransfer, Key: key, Account: from, To: to, Amount: amount}, invoke, done, outcome)
}

func read(account string, balance, invoke, done int64) history.Op {
	op := finish(history.Op{Kind: history.KindRead, Account: account}, invoke, done, history.OutcomeOK)
	op.Balance = balance
	return op
}

func finish(op history.Op, invoke, done int64, outcome history.Outcome) history.Op {
	op.Invoke = at(invoke)
	if outcome != history.OutcomePending {
		op.Done = at(done)
	}
	op.Outcome = outcome
	if outcome == history.OutcomeFail {
		op.Reason = "INSUFFICIENT_FUNDS"
	}
	if outcome == history.OutcomeUnknown {
		op.Reason = "context deadline exceeded"
	}
	return op
}

// build numbers ops in order and spreads them over four processes.
func build(ops ...history.Op) []history.Op {
	out := make([]history.Op, len(ops))
	for i, op := range ops {
		op.ID = int64(i)
		op.Process = i % 4
		out[i] = op
	}
	return out
}

// bank is a small run that passes every checker: a and b are funded, a
// pays b 30 (t1), both balances are read afterwards.
func bank() ([]history.Op, history.Final) {
	ops := build(
		create("a", 0, 1),
		create("b", 0, 1),
		deposit("d1", "a", 100, 2, 3, history.OutcomeOK),
		deposit("d2", "b", 50, 2, 4, history.OutcomeOK),
		transfer("t1", "a", "b", 30, 10, 20, history.OutcomeOK),
		read("a", 70, 30, 40),
		read("b", 80, 30, 40),
	)
	return ops, history.Final{
		Balances:  map[string]int64{"a": 70, "b": 80},
		Deposited: 150,
		Transfers: map[string]history.Transfer{"t1": {From: "a", To: "b", Amount: 30}},
		Replicas: map[uint64][]history.Replica{
			1: {{Node: "hz-a-1", Applied: 9, Digest: "aaaa0000bbbb1111"}, {Node: "hz-b-1", Applied: 9, Digest: "aaaa0000bbbb1111"}, {Node: "sh-a-1", Applied: 9, Digest: "aaaa0000bbbb1111"}},
		},
	}
}

// withState returns final with the given balances and transfers (nil
// entries removed), leaving the original untouched.
func withState(final history.Final, balances map[string]int64, transfers map[string]*history.Transfer) history.Final {
	out := final
	out.Balances = balances
	out.Transfers = make(map[string]history.Transfer)
	for id, t := range final.Transfers {
		out.Transfers[id] = t
	}
	for id, t := range transfers {
		if t == nil {
			delete(out.Transfers, id)
			continue
		}
		out.Transfers[id] = *t
	}
	return out
}

func expectPass(t *testing.T, r history.CheckResult) {
	t.Helper()
	if !r.Pass || r.Inconclusive {
		t.Fatalf("%s: want pass, got pass=%v inconclusive=%v: %s\n%s", r.Name, r.Pass, r.Inconclusive, r.Summary, strings.Join(r.Evidence, "\n"))
	}
	checkShape(t, r)
}

// expectFail wants a definite failure whose evidence mentions every one
// of want (ids, accounts, amounts).
func expectFail(t *testing.T, r history.CheckResult, want ...string) {
	t.Helper()
	if r.Pass || r.Inconclusive {
		t.Fatalf("%s: want fail, got pass=%v inconclusive=%v: %s\n%s", r.Name, r.Pass, r.Inconclusive, r.Summary, strings.Join(r.Evidence, "\n"))
	}
	checkShape(t, r)
	expectEvidence(t, r, want...)
}

func expectInconclusive(t *testing.T, r history.CheckResult, want ...string) {
	t.Helper()
	if r.Pass || !r.Inconclusive {
		t.Fatalf("%s: want inconclusive, got pass=%v inconclusive=%v: %s\n%s", r.Name, r.Pass, r.Inconclusive, r.Summary, strings.Join(r.Evidence, "\n"))
	}
	checkShape(t, r)
	expectEvidence(t, r, want...)
}

func expectEvidence(t *testing.T, r history.CheckResult, want ...string) {
	t.Helper()
	text := r.Summary + "\n" + strings.Join(r.Evidence, "\n")
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: evidence lacks %q:\n%s", r.Name, w, text)
		}
	}
}

func checkShape(t *testing.T, r history.CheckResult) {
	t.Helper()
	if r.Name == "" || r.Summary == "" {
		t.Errorf("result without name or summary: %+v", r)
	}
	if len(r.Evidence) > history.EvidenceMax {
		t.Errorf("%s: %d evidence lines, max %d", r.Name, len(r.Evidence), history.EvidenceMax)
	}
}

func ptr(t history.Transfer) *history.Transfer { return &t }

func payout(key, account string, amount int64, provider string, invoke, done int64, outcome history.Outcome) history.Op {
	op := finish(history.Op{Kind: history.KindPayout, Key: key, Account: account, Amount: amount}, invoke, done, outcome)
	op.Provider = provider
	return op
}

// providerID mirrors cell.ProviderPayoutID, the id a provider knows a
// payout by.
func providerID(account, id string) string {
	return fmt.Sprintf("c1.%d.%s.%s", len(account), account, id)
}

// bankWithPayouts is bank with two payouts: a pays out 20 through bank-a
// (SUCCEEDED after bank-a timed out and was queried), b pays out 5
// through bank-b, which refused it (FAILED, released). Every checker
// passes.
func bankWithPayouts() ([]history.Op, history.Final) {
	ops := build(
		create("a", 0, 1),
		create("b", 0, 1),
		deposit("d1", "a", 100, 2, 3, history.OutcomeOK),
		deposit("d2", "b", 50, 2, 4, history.OutcomeOK),
		transfer("t1", "a", "b", 30, 10, 20, history.OutcomeOK),
		payout("po1", "a", 20, "bank-a", 22, 24, history.OutcomeOK),
		payout("po2", "b", 5, "bank-b", 22, 24, history.OutcomeOK),
		read("a", 50, 30, 40),
		read("b", 80, 30, 40),
	)
	po1, po2 := providerID("a", "po1"), providerID("b", "po2")
	return ops, history.Final{
		Balances:  map[string]int64{"a": 50, "b": 80},
		Deposited: 150,
		Transfers: map[string]history.Transfer{"t1": {From: "a", To: "b", Amount: 30}},
		PaidOut:   20,
		Payouts: map[string]history.Payout{
			po1: {Cell: 1, Account: "a", ID: "po1", Amount: 20, State: history.PayoutSucceeded, Provider: "bank-a", SubmitAttempts: 1},
			po2: {Cell: 1, Account: "b", ID: "po2", Amount: 5, State: history.PayoutFailed, Provider: "bank-b", SubmitAttempts: 1},
		},
		Providers: map[string]history.ProviderStatement{
			"bank-a": {Paid: []history.Paid{{PayoutID: po1, Account: "a", Amount: 20}}, SubmitCalls: map[string]int{po1: 1}, QueryCalls: map[string]int{po1: 2}},
			"bank-b": {SubmitCalls: map[string]int{po2: 1}, QueryCalls: map[string]int{}},
		},
		Replicas: map[uint64][]history.Replica{
			1: {{Node: "hz-a-1", Applied: 9, Digest: "aaaa0000bbbb1111"}, {Node: "hz-b-1", Applied: 9, Digest: "aaaa0000bbbb1111"}},
		},
	}
}

// withPayout returns final with payout id replaced (nil removes it), the
// maps copied.
func withPayout(final history.Final, id string, p *history.Payout) history.Final {
	out := final
	out.Payouts = make(map[string]history.Payout)
	for k, v := range final.Payouts {
		out.Payouts[k] = v
	}
	if p == nil {
		delete(out.Payouts, id)
	} else {
		out.Payouts[id] = *p
	}
	return out
}

// withStatement returns final with provider's statement replaced.
func withStatement(final history.Final, provider string, st history.ProviderStatement) history.Final {
	out := final
	out.Providers = make(map[string]history.ProviderStatement)
	for k, v := range final.Providers {
		out.Providers[k] = v
	}
	out.Providers[provider] = st
	return out
}
