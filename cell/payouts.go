package cell

import (
	"fmt"
	"slices"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// A payout leaves the ledger through a provider in two kinds of commands:
//
//  1. payout (the client's request, idempotent on the payout id): debit the
//     account into the cell's held total and record the payout PENDING with
//     a work item w/<payout id>, before any provider is called;
//  2. payoutOutcome (the executor's record of a provider's answer):
//     SUCCEEDED moves the held funds out (paid out), FAILED releases them to
//     the account, FAILED with reroute_to keeps it PENDING at another
//     provider, UNKNOWN keeps them held until a query answers. A settled
//     payout (SUCCEEDED or FAILED) never changes again.
//
// With payouts, a cell's identity (Totals) becomes, per currency:
//
//	balances = deposited + received - sent - in flight - held - paid out

func payoutKey(account, id string) []byte     { return scoped("p/", account, id) }
func payoutWorkKey(account, id string) []byte { return scoped("w/", account, id) }
func heldKey(currency string) []byte          { return append([]byte("s/held/"), currency...) }
func paidOutKey(currency string) []byte       { return append([]byte("s/paidout/"), currency...) }

// ProviderPayoutID is the id a provider knows a payout by, and its
// idempotency key there. Payout ids are scoped to their account, and two
// cells may both hold "po-1", so the provider's id names the cell and the
// account too; the account's length makes it injective (ids may contain
// '.'): "c<cell>.<len(account)>.<account>.<payout id>".
func ProviderPayoutID(cellID uint64, account, payoutID string) string {
	return fmt.Sprintf("c%d.%d.%s.%s", cellID, len(account), account, payoutID)
}

func settledPayout(s pb.PayoutState) bool {
	return s == pb.PayoutState_PAYOUT_STATE_SUCCEEDED || s == pb.PayoutState_PAYOUT_STATE_FAILED
}

func payoutResult(rec *pb.PayoutRecord) *pb.CommandResult {
	return &pb.CommandResult{Outcome: &pb.CommandResult_Payout{Payout: rec}}
}

func (a *applier) payout(p *pb.Payout) *pb.CommandResult {
	amount := p.GetAmountMinor()
	if amount <= 0 {
		return errorResult(pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, "amount_minor", fmt.Sprintf("amount %d is not positive", amount))
	}
	acc, ok := a.account(p.GetAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "account_id", fmt.Sprintf("account %q does not exist", p.GetAccountId()))
	}
	if acc.GetCurrency() != p.GetCurrency() {
		return errorResult(pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH, "currency", fmt.Sprintf("payout in %s from account %q held in %s", p.GetCurrency(), acc.GetId(), acc.GetCurrency()))
	}
	balance, ok := addInt64(acc.GetBalanceMinor(), -amount)
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", acc.GetId()))
	}
	if balance < 0 && !acc.GetAllowNegativeBalance() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS, "amount_minor", fmt.Sprintf("account %q holds %d, less than %d", acc.GetId(), acc.GetBalanceMinor(), amount))
	}
	if !a.addTotal(heldKey(p.GetCurrency()), amount) {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's held total in %s would overflow", p.GetCurrency()))
	}
	acc.BalanceMinor, acc.Version = balance, acc.GetVersion()+1
	rec := &pb.PayoutRecord{
		PayoutId: p.GetPayoutId(), AccountId: acc.Id, AmountMinor: amount, Currency: p.GetCurrency(),
		State: pb.PayoutState_PAYOUT_STATE_PENDING, Provider: p.GetProvider(),
		CreatedAtUnixMs: a.now, UpdatedAtUnixMs: a.now, BalanceAfterMinor: balance,
		ProviderPayoutId: p.GetProviderPayoutId(),
	}
	a.put(accountKey(acc.Id), acc)
	a.put(payoutKey(acc.Id, rec.PayoutId), rec)
	a.st.set(payoutWorkKey(acc.Id, rec.PayoutId), nil)
	return payoutResult(rec)
}

// payoutAttempt records that the executor is about to submit the payout to
// its current provider. Committed in the current term before the call, it
// is the fence: a deposed leader cannot commit it, so never calls.
func (a *applier) payoutAttempt(t *pb.PayoutAttempt) *pb.CommandResult {
	var rec pb.PayoutRecord
	if !a.get(payoutKey(t.GetAccountId(), t.GetPayoutId()), &rec) {
		return errorResult(pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND, "payout_id",
			fmt.Sprintf("payout %q of %q does not exist", t.GetPayoutId(), t.GetAccountId()))
	}
	if settledPayout(rec.GetState()) || t.GetProvider() != rec.GetProvider() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "payout_id",
			fmt.Sprintf("payout %q is %s at provider %q: no submit to %q", rec.GetPayoutId(), rec.GetState(), rec.GetProvider(), t.GetProvider()))
	}
	if rec.SubmitAttempts == 0 {
		rec.FirstSubmitAtUnixMs = a.now
	}
	rec.SubmitAttempts++
	rec.UpdatedAtUnixMs = a.now
	a.put(payoutKey(rec.AccountId, rec.PayoutId), &rec)
	return payoutResult(&rec)
}

func (a *applier) payoutOutcome(o *pb.PayoutOutcome) *pb.CommandResult {
	var rec pb.PayoutRecord
	if !a.get(payoutKey(o.GetAccountId(), o.GetPayoutId()), &rec) {
		return errorResult(pb.ErrorReason_ERROR_REASON_PAYOUT_NOT_FOUND, "payout_id",
			fmt.Sprintf("payout %q of %q does not exist", o.GetPayoutId(), o.GetAccountId()))
	}
	if settledPayout(rec.GetState()) {
		return payoutResult(&rec) // An executor recording again (a new leader resuming) changes nothing.
	}
	if o.GetProvider() != rec.GetProvider() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "provider",
			fmt.Sprintf("payout %q is at provider %q, not %q", rec.GetPayoutId(), rec.GetProvider(), o.GetProvider()))
	}
	amount, currency := rec.GetAmountMinor(), rec.GetCurrency()
	wasUnknown := rec.GetState() == pb.PayoutState_PAYOUT_STATE_UNKNOWN
	rec.Reason, rec.UpdatedAtUnixMs = o.GetReason(), a.now
	switch {
	case o.GetState() == pb.PayoutState_PAYOUT_STATE_SUCCEEDED:
		// Check what can fail before writing anything (the stage would
		// drop it too, but a command should read as all or nothing).
		if _, ok := addInt64(a.total(paidOutKey(currency)), amount); !ok {
			return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's paid-out total in %s would overflow", currency))
		}
		a.addTotal(heldKey(currency), -amount)
		a.addTotal(paidOutKey(currency), amount)
		rec.State, rec.ProviderRef, rec.UnknownSinceUnixMs = o.GetState(), o.GetProviderRef(), 0
		a.st.delete(payoutWorkKey(rec.AccountId, rec.PayoutId))
	case o.GetState() == pb.PayoutState_PAYOUT_STATE_FAILED && o.GetRerouteTo() != "":
		if o.GetRerouteTo() == rec.GetProvider() || slices.Contains(rec.GetFailedProviders(), o.GetRerouteTo()) {
			return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "reroute_to",
				fmt.Sprintf("provider %q already failed payout %q", o.GetRerouteTo(), rec.GetPayoutId()))
		}
		rec.FailedProviders = append(rec.FailedProviders, rec.GetProvider())
		// A new provider has never seen it: its attempts start again.
		rec.Provider, rec.State, rec.UnknownSinceUnixMs = o.GetRerouteTo(), pb.PayoutState_PAYOUT_STATE_PENDING, 0
		rec.SubmitAttempts, rec.FirstSubmitAtUnixMs = 0, 0
	case o.GetState() == pb.PayoutState_PAYOUT_STATE_FAILED:
		acc, ok := a.account(rec.GetAccountId())
		if !ok {
			panic(fmt.Sprintf("cell: the account %q of payout %q is gone", rec.GetAccountId(), rec.GetPayoutId()))
		}
		balance, ok := addInt64(acc.GetBalanceMinor(), amount)
		if !ok {
			return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("releasing to %q would overflow its balance", acc.GetId()))
		}
		acc.BalanceMinor, acc.Version = balance, acc.GetVersion()+1
		a.put(accountKey(acc.Id), acc)
		a.addTotal(heldKey(currency), -amount)
		rec.State, rec.UnknownSinceUnixMs, rec.BalanceAfterMinor = o.GetState(), 0, balance
		a.st.delete(payoutWorkKey(rec.AccountId, rec.PayoutId))
	case o.GetState() == pb.PayoutState_PAYOUT_STATE_UNKNOWN:
		if rec.GetState() != pb.PayoutState_PAYOUT_STATE_UNKNOWN {
			rec.UnknownSinceUnixMs = a.now
		}
		rec.State = o.GetState()
	default:
		return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "state", fmt.Sprintf("outcome %s is not SUCCEEDED, FAILED or UNKNOWN", o.GetState()))
	}
	if isUnknown := rec.GetState() == pb.PayoutState_PAYOUT_STATE_UNKNOWN; isUnknown != wasUnknown {
		a.holdAccount(rec.GetAccountId(), isUnknown)
	}
	a.put(payoutKey(rec.AccountId, rec.PayoutId), &rec)
	return payoutResult(&rec)
}

// holdAccount counts a payout of the account into (or out of) UNKNOWN.
func (a *applier) holdAccount(id string, hold bool) {
	acc, ok := a.account(id)
	if !ok {
		panic(fmt.Sprintf("cell: the account %q of an unknown payout is gone", id))
	}
	switch {
	case hold:
		acc.UnknownPayouts++
	case acc.GetUnknownPayouts() == 0:
		panic(fmt.Sprintf("cell: account %q releases a hold it does not have", id))
	default:
		acc.UnknownPayouts--
	}
	acc.Version++
	a.put(accountKey(id), acc)
}

// heldError refuses a command that would send money from an account held
// by an unknown payout; nil when the command may run. The refusal is
// stored under the command's key like any answer (final for that key): to
// send once the payout resolves, a client uses a new key.
func (a *applier) heldError(cmd *pb.Command) *pb.CommandResult {
	var from, field string
	switch b := cmd.GetBody().(type) {
	case *pb.Command_Transfer:
		from, field = b.Transfer.GetFromAccountId(), "from_account_id"
	case *pb.Command_Payout:
		from, field = b.Payout.GetAccountId(), "account_id"
	default:
		return nil
	}
	acc, ok := a.account(from)
	if !ok || acc.GetUnknownPayouts() == 0 {
		return nil
	}
	return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_HELD, field,
		fmt.Sprintf("account %q is held: %d of its payouts have an unknown outcome; it can receive money, and can send once they resolve", from, acc.GetUnknownPayouts()))
}
