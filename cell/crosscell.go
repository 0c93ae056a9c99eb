package cell

import (
	"encoding/binary"
	"fmt"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Cross-cell transfers are a saga of three commands, each applied in one
// batch:
//
//  1. transferOut (payer's cell): debit the payer, add the amount to the
//     cell's money in flight, store the record IN_FLIGHT and an outbox
//     record o/<transfer id>.
//  2. creditIn (payee's cell, under the transfer id as idempotency key):
//     credit the payee and count the amount as received; or refuse for
//     good (unknown account, currency, overflow), changing nothing.
//  3. outboxDelivered (payer's cell): take the amount out of flight, count
//     it as sent (COMPLETED) or refund the payer (REVERSED), delete the
//     outbox record. Without an outbox record it is a no-op, so a relay
//     that records twice (a new leader resuming) changes nothing.
//
// Each cell's state satisfies, per currency and at every index:
//
//	balances = deposited + received - sent - in flight
//
// and across cells, once every outbox is empty, received = sent.

// The per-currency totals of cross-cell flows (8 bytes, big-endian).
func inFlightKey(currency string) []byte { return append([]byte("s/inflight/"), currency...) }
func sentKey(currency string) []byte     { return append([]byte("s/sent/"), currency...) }
func receivedKey(currency string) []byte { return append([]byte("s/received/"), currency...) }

// outboxKey holds an OutboxRecord while its credit is undelivered.
func outboxKey(payer, transferID string) []byte { return scoped("o/", payer, transferID) }

// total reads one of the cell's int64 totals (0 when absent).
func (a *applier) total(key []byte) int64 {
	v, found := a.st.get(key)
	if !found {
		return 0
	}
	if len(v) != 8 {
		panic(fmt.Sprintf("cell: corrupt total %q: %d bytes", key, len(v)))
	}
	return int64(binary.BigEndian.Uint64(v))
}

// addTotal adds delta to a total; false on overflow (nothing written).
func (a *applier) addTotal(key []byte, delta int64) bool {
	sum, ok := addInt64(a.total(key), delta)
	if !ok {
		return false
	}
	a.st.set(key, binary.BigEndian.AppendUint64(nil, uint64(sum)))
	return true
}

// transferOut is the payer's leg of a cross-cell transfer.
func (a *applier) transferOut(t *pb.Transfer) *pb.CommandResult {
	amount := t.GetAmountMinor()
	if amount <= 0 {
		return errorResult(pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, "amount_minor", fmt.Sprintf("amount %d is not positive", amount))
	}
	if t.GetFromCellId() == 0 || t.GetFromCellId() == t.GetToCellId() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "to_cell_id",
			fmt.Sprintf("a cross-cell transfer needs two different cells, got %d and %d", t.GetFromCellId(), t.GetToCellId()))
	}
	from, ok := a.account(t.GetFromAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "from_account_id", fmt.Sprintf("account %q does not exist", t.GetFromAccountId()))
	}
	if from.GetCurrency() != t.GetCurrency() {
		return errorResult(pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH, "currency", fmt.Sprintf("transfer in %s from account %q held in %s", t.GetCurrency(), from.GetId(), from.GetCurrency()))
	}
	fromBalance, ok := addInt64(from.GetBalanceMinor(), -amount)
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", from.GetId()))
	}
	if fromBalance < 0 && !from.GetAllowNegativeBalance() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS, "amount_minor", fmt.Sprintf("account %q holds %d, less than %d", from.GetId(), from.GetBalanceMinor(), amount))
	}
	if !a.addTotal(inFlightKey(t.GetCurrency()), amount) {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's money in flight in %s would overflow", t.GetCurrency()))
	}
	from.BalanceMinor, from.Version = fromBalance, from.GetVersion()+1
	rec := &pb.TransferRecord{
		TransferId: t.GetTransferId(), FromAccountId: from.Id, ToAccountId: t.GetToAccountId(), AmountMinor: amount, Currency: t.GetCurrency(),
		State: pb.TransferState_TRANSFER_STATE_IN_FLIGHT, CreatedAtUnixMs: a.now,
		FromBalanceAfterMinor: fromBalance, FromCellId: t.GetFromCellId(), ToCellId: t.GetToCellId(),
	}
	a.put(accountKey(from.Id), from)
	a.put(transferKey(from.Id, rec.TransferId), rec)
	a.put(outboxKey(from.Id, rec.TransferId), &pb.OutboxRecord{Transfer: t, CreatedAtUnixMs: a.now})
	a.st.set(historyKey(from.Id, from.Version), []byte(transferRef(from.Id, rec.TransferId)))
	return &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: rec}}
}

// creditIn is the payee's leg. A refusal is definite: the relay reverses
// the transfer on it, so it must only be returned when nothing was applied.
func (a *applier) creditIn(c *pb.CreditIn) *pb.CommandResult {
	amount := c.GetAmountMinor()
	if amount <= 0 {
		return errorResult(pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, "amount_minor", fmt.Sprintf("amount %d is not positive", amount))
	}
	to, ok := a.account(c.GetToAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "to_account_id", fmt.Sprintf("account %q does not exist", c.GetToAccountId()))
	}
	if to.GetCurrency() != c.GetCurrency() {
		return errorResult(pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH, "currency", fmt.Sprintf("credit in %s to account %q held in %s", c.GetCurrency(), to.GetId(), to.GetCurrency()))
	}
	toBalance, ok := addInt64(to.GetBalanceMinor(), amount)
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", to.GetId()))
	}
	if !a.addTotal(receivedKey(c.GetCurrency()), amount) {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's received total in %s would overflow", c.GetCurrency()))
	}
	to.BalanceMinor, to.Version = toBalance, to.GetVersion()+1
	rec := &pb.TransferRecord{
		TransferId: c.GetTransferId(), FromAccountId: c.GetFromAccountId(), ToAccountId: to.Id, AmountMinor: amount, Currency: c.GetCurrency(),
		State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: a.now, SettledAtUnixMs: a.now,
		ToBalanceAfterMinor: toBalance, FromCellId: c.GetFromCellId(),
	}
	a.put(accountKey(to.Id), to)
	a.put(transferKey(rec.FromAccountId, rec.TransferId), rec)
	a.st.set(historyKey(to.Id, to.Version), []byte(transferRef(rec.FromAccountId, rec.TransferId)))
	return &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: rec}}
}

// outboxDelivered settles the payer's side. It returns the transfer's
// record as it is afterwards.
func (a *applier) outboxDelivered(d *pb.OutboxDelivered) *pb.CommandResult {
	var rec pb.TransferRecord
	if !a.get(transferKey(d.GetFromAccountId(), d.GetTransferId()), &rec) {
		return errorResult(pb.ErrorReason_ERROR_REASON_TRANSFER_NOT_FOUND, "transfer_id",
			fmt.Sprintf("transfer %q from %q does not exist", d.GetTransferId(), d.GetFromAccountId()))
	}
	var out pb.OutboxRecord
	if !a.get(outboxKey(d.GetFromAccountId(), d.GetTransferId()), &out) {
		// Settled already (a relay resuming after a failover records again).
		return &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: &rec}}
	}
	amount, currency := rec.GetAmountMinor(), rec.GetCurrency()
	switch d.GetOutcome() {
	case pb.TransferState_TRANSFER_STATE_COMPLETED:
		if !a.addTotal(sentKey(currency), amount) {
			return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's sent total in %s would overflow", currency))
		}
	case pb.TransferState_TRANSFER_STATE_REVERSED:
		from, ok := a.account(rec.GetFromAccountId())
		if !ok {
			panic(fmt.Sprintf("cell: the payer %q of in-flight transfer %q is gone", rec.GetFromAccountId(), rec.GetTransferId()))
		}
		balance, ok := addInt64(from.GetBalanceMinor(), amount)
		if !ok {
			return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("refund to %q would overflow its balance", from.GetId()))
		}
		from.BalanceMinor, from.Version = balance, from.GetVersion()+1
		a.put(accountKey(from.Id), from) // The record, already in the payer's history, shows the refund.
		rec.ReversalReason = d.GetReason()
	default:
		return errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "outcome", fmt.Sprintf("outcome %s is neither COMPLETED nor REVERSED", d.GetOutcome()))
	}
	if !a.addTotal(inFlightKey(currency), -amount) {
		panic(fmt.Sprintf("cell: money in flight in %s underflows", currency))
	}
	rec.State, rec.SettledAtUnixMs = d.GetOutcome(), a.now
	a.put(transferKey(rec.FromAccountId, rec.TransferId), &rec)
	a.st.delete(outboxKey(rec.FromAccountId, rec.TransferId))
	return &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: &rec}}
}
