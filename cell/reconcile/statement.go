package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
)

// MatchStatement matches the payouts the ledger recorded at one provider
// against what that provider's statement says it really paid, over the
// window [from, to).
//
// What is checked: every payout of payouts created in the window (by
// created_at) whose provider is provider (or that provider failed before it
// was rerouted), and every payout id whose first statement entry was paid in
// the window (by paid_at). Each is looked up in all of payouts and all of
// statement, whatever their times: a payout created just before to and paid
// just after it matches as long as statement reaches that far. So callers
// pass every payout of the cells (of every provider: a rerouted payout's
// record names its last provider) and a statement that reaches past to by
// the provider's settlement delay; a check that straddles two windows may
// report an id in both.
//
// Findings, each with the payout id and amount:
//   - MissingAtProvider: SUCCEEDED here in the ledger, not in the statement;
//   - MissingInLedger: in the statement, but the ledger has no payout with
//     that id, records it FAILED, or records it at another provider (one
//     that the payout was rerouted to after this one failed: paid twice if
//     that one paid too);
//   - AmountMismatch: paid with another amount, currency or account than
//     the ledger recorded;
//   - DuplicateAtProvider: the id is in the statement more than once (the
//     amount is what was paid beyond the first entry);
//   - Unresolved (not a problem): PENDING or UNKNOWN in the ledger and paid
//     by the provider: the executor's next query will record SUCCEEDED.
//     Listed so that an operator sees it; CheckCell reports it as
//     StuckPayout once it is older than the stuck age.
//
// A PENDING or UNKNOWN payout absent from the statement is no finding
// (nothing is paid yet), nor is a FAILED one. Provider payout ids are unique
// across cells (cell.ProviderPayoutID: the provider's idempotency key); with several records of
// one id, the one at provider is used. The result is sorted.
func MatchStatement(provider string, payouts []*pb.PayoutRecord, statement []channel.StatementEntry, from, to time.Time) []Finding {
	inWindow := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	ledger := map[string]*pb.PayoutRecord{}
	subjects := map[string]bool{}
	for _, p := range payouts {
		if p == nil {
			continue
		}
		id := p.GetProviderPayoutId() // the id the provider knows it by
		if id == "" {
			id = p.GetPayoutId() // recorded before provider ids were global
		}
		if prev := ledger[id]; prev == nil || (prev.GetProvider() != provider && p.GetProvider() == provider) {
			ledger[id] = p
		}
		atProvider := p.GetProvider() == provider || slices.Contains(p.GetFailedProviders(), provider)
		if atProvider && inWindow(time.UnixMilli(p.GetCreatedAtUnixMs())) {
			subjects[id] = true
		}
	}
	paid := map[string][]channel.StatementEntry{}
	for _, e := range statement {
		paid[e.PayoutID] = append(paid[e.PayoutID], e)
	}
	for id, entries := range paid {
		slices.SortStableFunc(entries, func(a, b channel.StatementEntry) int {
			return cmp.Or(a.PaidAt.Compare(b.PaidAt), strings.Compare(a.ProviderRef, b.ProviderRef))
		})
		if inWindow(entries[0].PaidAt) {
			subjects[id] = true
		}
	}
	var out []Finding
	for _, id := range slices.Sorted(maps.Keys(subjects)) {
		out = append(out, matchOne(provider, id, ledger[id], paid[id])...)
	}
	return limitFindings(out)
}

// matchOne checks one payout id; rec may be nil, entries empty (sorted by
// paid_at otherwise).
func matchOne(provider, id string, rec *pb.PayoutRecord, entries []channel.StatementEntry) []Finding {
	var out []Finding
	if len(entries) > 1 {
		var extra int64
		parts := make([]string, len(entries))
		for i, e := range entries {
			if i > 0 {
				extra += e.AmountMinor
			}
			parts[i] = fmt.Sprintf("%d %s to %q ref %q at %s", e.AmountMinor, e.Currency, e.Account, e.ProviderRef, e.PaidAt.UTC().Format(time.RFC3339Nano))
		}
		out = append(out, Finding{Kind: DuplicateAtProvider, IDs: []string{id}, AmountMinor: extra, Currency: entries[0].Currency,
			Detail: fmt.Sprintf("%s paid it %d times: %s", provider, len(entries), strings.Join(parts, "; "))})
	}
	if rec == nil {
		if len(entries) > 0 {
			e := entries[0]
			out = append(out, Finding{Kind: MissingInLedger, IDs: []string{id}, AmountMinor: e.AmountMinor, Currency: e.Currency,
				Detail: fmt.Sprintf("%s paid %d %s to %q (ref %q), but the ledger has no payout with this id", provider, e.AmountMinor, e.Currency, e.Account, e.ProviderRef)})
		}
		return out
	}
	state := rec.GetState()
	amount, currency := rec.GetAmountMinor(), rec.GetCurrency()
	if rec.GetProvider() != provider {
		if len(entries) > 0 {
			e := entries[0]
			how := "records it"
			if slices.Contains(rec.GetFailedProviders(), provider) {
				how = "records that " + provider + " failed it and rerouted it"
			}
			out = append(out, Finding{Kind: MissingInLedger, IDs: []string{id}, AmountMinor: e.AmountMinor, Currency: e.Currency,
				Detail: fmt.Sprintf("%s paid %d %s to %q (ref %q), but the ledger %s to %s (%s)", provider, e.AmountMinor, e.Currency, e.Account, e.ProviderRef, how, rec.GetProvider(), payoutStateName(state))})
		}
		return out
	}
	if len(entries) == 0 {
		if state == pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
			out = append(out, Finding{Kind: MissingAtProvider, IDs: []string{id}, AmountMinor: amount, Currency: currency,
				Detail: fmt.Sprintf("SUCCEEDED in the ledger (%d %s from %q, ref %q), not in %s's statement", amount, currency, rec.GetAccountId(), rec.GetProviderRef(), provider)})
		}
		return out
	}
	e := entries[0]
	if state == pb.PayoutState_PAYOUT_STATE_FAILED {
		out = append(out, Finding{Kind: MissingInLedger, IDs: []string{id}, AmountMinor: e.AmountMinor, Currency: e.Currency,
			Detail: fmt.Sprintf("%s paid %d %s to %q (ref %q), but the ledger records it FAILED (reason %q) and released the funds", provider, e.AmountMinor, e.Currency, e.Account, e.ProviderRef, rec.GetReason())})
		return out
	}
	if e.AmountMinor != amount || e.Currency != currency || e.Account != rec.GetAccountId() {
		out = append(out, Finding{Kind: AmountMismatch, IDs: []string{id}, AmountMinor: e.AmountMinor - amount, Currency: currency,
			Detail: fmt.Sprintf("ledger %d %s from %q, %s paid %d %s to %q (ref %q)", amount, currency, rec.GetAccountId(), provider, e.AmountMinor, e.Currency, e.Account, e.ProviderRef)})
	}
	if state != pb.PayoutState_PAYOUT_STATE_SUCCEEDED {
		out = append(out, Finding{Kind: Unresolved, IDs: []string{id}, AmountMinor: amount, Currency: currency,
			Detail: fmt.Sprintf("%s in the ledger, paid by %s at %s (ref %q): the next query settles it", payoutStateName(state), provider, e.PaidAt.UTC().Format(time.RFC3339Nano), e.ProviderRef)})
	}
	return out
}
