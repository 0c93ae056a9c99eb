package chaos

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/replication"
)

// How the targets turn the records they read from the ledgers into the
// final state the checkers read.

// addRecord adds a transfer record read from the ledger of cell cellID to
// final: to Transfers (history.Final.AddTransfer) and, for a cross-cell
// transfer, to its side of final.CrossCell (the payer's record if cellID is
// the payer's cell, else the payee's credit).
func addRecord(final *history.Final, cellID uint64, rec *pb.TransferRecord) {
	final.AddTransfer(rec.GetTransferId(), rec.GetFromAccountId(), rec.GetToAccountId(), rec.GetAmountMinor(),
		rec.GetFromCellId() != 0, rec.GetState() == pb.TransferState_TRANSFER_STATE_IN_FLIGHT,
		rec.GetState() == pb.TransferState_TRANSFER_STATE_REVERSED)
	if rec.GetFromCellId() == 0 {
		return // a transfer within one cell
	}
	if final.CrossCell == nil {
		final.CrossCell = map[string]history.CrossCellTransfer{}
	}
	ref := rec.GetFromAccountId() + "/" + rec.GetTransferId()
	t := final.CrossCell[ref]
	t.ID, t.From, t.To, t.Amount, t.FromCell = rec.GetTransferId(), rec.GetFromAccountId(), rec.GetToAccountId(), rec.GetAmountMinor(), rec.GetFromCellId()
	if rec.GetFromCellId() == cellID {
		t.ToCell, t.SettledAtMs = rec.GetToCellId(), rec.GetSettledAtUnixMs()
		switch rec.GetState() {
		case pb.TransferState_TRANSFER_STATE_IN_FLIGHT:
			t.PayerState = history.TransferInFlight
		case pb.TransferState_TRANSFER_STATE_COMPLETED:
			t.PayerState = history.TransferCompleted
		case pb.TransferState_TRANSFER_STATE_REVERSED:
			t.PayerState = history.TransferReversed
		default:
			t.PayerState = history.TransferState(rec.GetState().String())
		}
	} else {
		t.ToCell, t.Credited, t.CreditedAtMs = cellID, true, rec.GetCreatedAtUnixMs()
	}
	final.CrossCell[ref] = t
}

// addPayout adds a payout record read from the ledger of cell cellID to
// final.Payouts, under the id its provider knows it by.
func addPayout(final *history.Final, cellID uint64, rec *pb.PayoutRecord) {
	if final.Payouts == nil {
		final.Payouts = map[string]history.Payout{}
	}
	id := rec.GetProviderPayoutId()
	if id == "" { // records made before the id was stamped
		id = cell.ProviderPayoutID(cellID, rec.GetAccountId(), rec.GetPayoutId())
	}
	state := history.PayoutState(rec.GetState().String())
	switch rec.GetState() {
	case pb.PayoutState_PAYOUT_STATE_PENDING:
		state = history.PayoutPending
	case pb.PayoutState_PAYOUT_STATE_UNKNOWN:
		state = history.PayoutUnknown
	case pb.PayoutState_PAYOUT_STATE_SUCCEEDED:
		state = history.PayoutSucceeded
	case pb.PayoutState_PAYOUT_STATE_FAILED:
		state = history.PayoutFailed
	}
	final.Payouts[id] = history.Payout{
		Cell: cellID, Account: rec.GetAccountId(), ID: rec.GetPayoutId(), Amount: rec.GetAmountMinor(), State: state,
		Provider: rec.GetProvider(), FailedProviders: rec.GetFailedProviders(), SubmitAttempts: int(rec.GetSubmitAttempts()),
	}
}

// creditRefused reports whether the payee cell behind r stored a refusal of
// the credit of transfer id from payer (in cell fromCell) under its
// idempotency key. The key is the ledger's (cell/keys.go:
// i/c/<payer cell>/<payer account>/<transfer id>), read here because no
// API exposes a stored refusal.
func creditRefused(r replication.Reader, fromCell uint64, payer, id string) (bool, error) {
	key := []byte("i/c/" + strconv.FormatUint(fromCell, 10) + "/" + payer + "/" + id)
	v, found, err := r.Get(key)
	if err != nil || !found {
		return false, err
	}
	var rec pb.IdempotencyRecord
	if err := proto.Unmarshal(v, &rec); err != nil {
		return false, fmt.Errorf("chaos: corrupt idempotency record %q: %w", key, err)
	}
	return rec.GetResult().GetError() != nil, nil
}
