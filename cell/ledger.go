package cell

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
)

// Ledger is the payment ledger of one cell: the deterministic state
// machine applied to its Raft log. It reads no clock (the leader stamps
// time into each command), iterates no map and uses no randomness. Each
// command's writes, both legs of a transfer included, commit in one Pebble
// batch together with the applied index.
type Ledger struct{}

var _ replication.StateMachine = Ledger{}

// Applied is what Apply returns for each command.
type Applied struct {
	Result *pb.CommandResult
	// Replayed: the result was stored by an earlier command with the same
	// idempotency key and parameters; nothing was executed again.
	Replayed bool
	// Stored: the result (an answer or a refusal) is stored under the
	// command's idempotency key, now or by an earlier command: every retry
	// with that key gets it again, so it is final for the key. Refusals
	// that are not stored (undecodable, invalid, a key reused with other
	// parameters, keyless settling commands) say nothing about the key.
	Stored bool
}

// Restored implements replication.StateMachine; the ledger keeps no cache.
func (Ledger) Restored(uint64) {}

// Apply implements replication.StateMachine.
func (Ledger) Apply(tx *replication.Tx, e replication.Entry) any {
	var cmd pb.Command
	if err := proto.Unmarshal(e.Data, &cmd); err != nil {
		return Applied{Result: errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "command", fmt.Sprintf("undecodable command: %v", err))}
	}
	if err := validateCommand(&cmd); err != nil {
		ie := err.(*InputError)
		return Applied{Result: errorResult(pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, ie.Field, ie.Error())}
	}
	a := &applier{st: newStaged(tx), now: cmd.GetTimestampUnixMs()}
	// Settling commands have no key: they are idempotent by the state they
	// change (a settled transfer or payout never changes again).
	switch b := cmd.GetBody().(type) {
	case *pb.Command_OutboxDelivered:
		return Applied{Result: a.finish(a.outboxDelivered(b.OutboxDelivered))}
	case *pb.Command_PayoutOutcome:
		return Applied{Result: a.finish(a.payoutOutcome(b.PayoutOutcome))}
	case *pb.Command_PayoutAttempt:
		return Applied{Result: a.finish(a.payoutAttempt(b.PayoutAttempt))}
	case *pb.Command_ExpireKeys:
		return Applied{Result: a.finish(a.expireKeys(b.ExpireKeys))}
	}
	key, field, retention := idempotencyOf(&cmd)
	hash := paramsHash(&cmd)
	// A stored record answers until ExpireKeys deletes it (retention.go):
	// no clock is read here, so no leader's clock can expire a key early.
	if rec, ok := a.idempotency(key); ok {
		if string(rec.GetParamsSha256()) != string(hash[:]) {
			return Applied{Result: errorResult(pb.ErrorReason_ERROR_REASON_IDEMPOTENCY_KEY_REUSED, field,
				fmt.Sprintf("%s %q was already used with different parameters", field, idOf(&cmd)))}
		}
		return Applied{Result: rec.GetResult(), Replayed: true, Stored: true}
	}
	// A held account's refusal is stored under the key like any other
	// answer: the outcome a client sees is final for its key, so a router
	// still retrying an earlier attempt cannot execute it afterwards.
	res := a.heldError(&cmd)
	if res == nil {
		switch b := cmd.GetBody().(type) {
		case *pb.Command_CreateAccount:
			res = a.createAccount(b.CreateAccount)
		case *pb.Command_Deposit:
			res = a.deposit(b.Deposit)
		case *pb.Command_Transfer:
			if b.Transfer.GetToCellId() != 0 {
				res = a.transferOut(b.Transfer)
			} else {
				res = a.transfer(b.Transfer)
			}
		case *pb.Command_CreditIn:
			res = a.creditIn(b.CreditIn)
		case *pb.Command_Payout:
			res = a.payout(b.Payout)
		}
	}
	a.finish(res)
	a.put(key, &pb.IdempotencyRecord{ParamsSha256: hash[:], Result: res, CreatedAtUnixMs: a.now, RetentionMs: retention})
	if retention > 0 {
		expiresAt, ok := addInt64(a.now, retention)
		if !ok {
			expiresAt = math.MaxInt64
		}
		a.st.set(expiryKey(expiresAt, key), nil)
	}
	a.st.flush()
	return Applied{Result: res, Stored: true}
}

// idempotencyOf returns the command's key (in its kind's namespace, see
// keys.go), the request field that names it, and how long it is kept
// (retention.go): only a deposit's key has a retention; a transfer's id
// also names the transfer (in the payer's cell, and for a credit in the
// payee's), a payout's its payout, an account's key its account, so they
// are kept forever. Settling and janitor commands have none (see Apply).
func idempotencyOf(cmd *pb.Command) (key []byte, field string, retentionMs int64) {
	retention := max(cmd.GetIdempotencyRetentionMs(), 0)
	switch b := cmd.GetBody().(type) {
	case *pb.Command_CreateAccount:
		return accountIdempotencyKey(b.CreateAccount.GetAccountId(), b.CreateAccount.GetIdempotencyKey()), "idempotency_key", 0
	case *pb.Command_Deposit:
		return depositIdempotencyKey(b.Deposit.GetAccountId(), b.Deposit.GetIdempotencyKey()), "idempotency_key", retention
	case *pb.Command_Transfer:
		return transferIdempotencyKey(b.Transfer.GetFromAccountId(), b.Transfer.GetTransferId()), "transfer_id", 0
	case *pb.Command_CreditIn:
		c := b.CreditIn
		return creditIdempotencyKey(c.GetFromCellId(), c.GetFromAccountId(), c.GetTransferId()), "transfer_id", 0
	case *pb.Command_Payout:
		return payoutIdempotencyKey(b.Payout.GetAccountId(), b.Payout.GetPayoutId()), "payout_id", 0
	}
	panic(fmt.Sprintf("cell: no idempotency key for %T", cmd.GetBody())) // validateCommand admits no other kind
}

// idOf is the client's id of a keyed command, for messages.
func idOf(cmd *pb.Command) string {
	switch b := cmd.GetBody().(type) {
	case *pb.Command_CreateAccount:
		return b.CreateAccount.GetIdempotencyKey()
	case *pb.Command_Deposit:
		return b.Deposit.GetIdempotencyKey()
	case *pb.Command_Transfer:
		return b.Transfer.GetTransferId()
	case *pb.Command_CreditIn:
		return b.CreditIn.GetTransferId()
	case *pb.Command_Payout:
		return b.Payout.GetPayoutId()
	}
	return ""
}

// paramsHash identifies what a key was used for: the command body (its kind
// and every field), deterministically encoded.
func paramsHash(cmd *pb.Command) [32]byte {
	body := &pb.Command{Body: cmd.GetBody()}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		panic(fmt.Sprintf("cell: marshal of a decoded command failed: %v", err))
	}
	return sha256.Sum256(b)
}

func errorResult(reason pb.ErrorReason, field, msg string) *pb.CommandResult {
	return &pb.CommandResult{Outcome: &pb.CommandResult_Error{Error: &pb.LedgerError{Reason: reason, Message: msg, Field: field}}}
}

// applier carries one command's staged writes and timestamp.
type applier struct {
	st  *staged
	now int64
}

// finish keeps the command's writes if it succeeded and drops them if it
// returned an error: a command that fails changes nothing. It returns res.
func (a *applier) finish(res *pb.CommandResult) *pb.CommandResult {
	if res.GetError() != nil {
		a.st.discard()
	} else {
		a.st.flush()
	}
	return res
}

// get reads and decodes key into m. An undecodable stored value means the
// replica's state is broken: continuing would diverge from the other
// replicas, so it stops loudly.
func (a *applier) get(key []byte, m proto.Message) bool {
	v, found := a.st.get(key)
	if !found {
		return false
	}
	if err := proto.Unmarshal(v, m); err != nil {
		panic(fmt.Sprintf("cell: corrupt state at %q: %v", key, err))
	}
	return true
}

func (a *applier) put(key []byte, m proto.Message) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("cell: encoding %q: %v", key, err))
	}
	a.st.set(key, b)
}

func (a *applier) idempotency(key []byte) (*pb.IdempotencyRecord, bool) {
	var rec pb.IdempotencyRecord
	if !a.get(key, &rec) {
		return nil, false
	}
	return &rec, true
}

func (a *applier) account(id string) (*pb.Account, bool) {
	var acc pb.Account
	if !a.get(accountKey(id), &acc) {
		return nil, false
	}
	return &acc, true
}

func (a *applier) createAccount(c *pb.CreateAccount) *pb.CommandResult {
	if _, exists := a.account(c.GetAccountId()); exists {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_EXISTS, "account_id", fmt.Sprintf("account %q already exists", c.GetAccountId()))
	}
	acc := &pb.Account{
		Id: c.GetAccountId(), Currency: c.GetCurrency(), AllowNegativeBalance: c.GetAllowNegativeBalance(),
		CreatedAtUnixMs: a.now, Version: 1,
	}
	a.put(accountKey(acc.Id), acc)
	return &pb.CommandResult{Outcome: &pb.CommandResult_Account{Account: acc}}
}

func (a *applier) deposit(d *pb.Deposit) *pb.CommandResult {
	if d.GetAmountMinor() <= 0 {
		return errorResult(pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, "amount_minor", fmt.Sprintf("amount %d is not positive", d.GetAmountMinor()))
	}
	acc, ok := a.account(d.GetAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "account_id", fmt.Sprintf("account %q does not exist", d.GetAccountId()))
	}
	if acc.GetCurrency() != d.GetCurrency() {
		return errorResult(pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH, "currency", fmt.Sprintf("deposit in %s to account %q held in %s", d.GetCurrency(), acc.GetId(), acc.GetCurrency()))
	}
	balance, ok := addInt64(acc.GetBalanceMinor(), d.GetAmountMinor())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", acc.GetId()))
	}
	total, ok := addInt64(a.deposited(d.GetCurrency()), d.GetAmountMinor())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("the cell's total deposits in %s would overflow", d.GetCurrency()))
	}
	acc.BalanceMinor, acc.Version = balance, acc.GetVersion()+1
	a.put(accountKey(acc.Id), acc)
	a.st.set(depositedKey(d.GetCurrency()), binary.BigEndian.AppendUint64(nil, uint64(total)))
	rec := &pb.DepositRecord{
		IdempotencyKey: d.GetIdempotencyKey(), AccountId: acc.Id, AmountMinor: d.GetAmountMinor(), Currency: d.GetCurrency(),
		ExternalRef: d.GetExternalRef(), BalanceAfterMinor: balance, CreatedAtUnixMs: a.now,
	}
	return &pb.CommandResult{Outcome: &pb.CommandResult_Deposit{Deposit: rec}}
}

func (a *applier) deposited(currency string) int64 { return a.total(depositedKey(currency)) }

func (a *applier) transfer(t *pb.Transfer) *pb.CommandResult {
	amount := t.GetAmountMinor()
	if amount <= 0 {
		return errorResult(pb.ErrorReason_ERROR_REASON_AMOUNT_NOT_POSITIVE, "amount_minor", fmt.Sprintf("amount %d is not positive", amount))
	}
	if t.GetFromAccountId() == t.GetToAccountId() {
		return errorResult(pb.ErrorReason_ERROR_REASON_SAME_ACCOUNT, "to_account_id", fmt.Sprintf("transfer from %q to itself", t.GetFromAccountId()))
	}
	from, ok := a.account(t.GetFromAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "from_account_id", fmt.Sprintf("account %q does not exist", t.GetFromAccountId()))
	}
	to, ok := a.account(t.GetToAccountId())
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_ACCOUNT_NOT_FOUND, "to_account_id", fmt.Sprintf("account %q does not exist", t.GetToAccountId()))
	}
	for _, acc := range []*pb.Account{from, to} {
		if acc.GetCurrency() != t.GetCurrency() {
			return errorResult(pb.ErrorReason_ERROR_REASON_CURRENCY_MISMATCH, "currency", fmt.Sprintf("transfer in %s involves account %q held in %s", t.GetCurrency(), acc.GetId(), acc.GetCurrency()))
		}
	}
	fromBalance, ok := addInt64(from.GetBalanceMinor(), -amount)
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", from.GetId()))
	}
	if fromBalance < 0 && !from.GetAllowNegativeBalance() {
		return errorResult(pb.ErrorReason_ERROR_REASON_INSUFFICIENT_FUNDS, "amount_minor", fmt.Sprintf("account %q holds %d, less than %d", from.GetId(), from.GetBalanceMinor(), amount))
	}
	toBalance, ok := addInt64(to.GetBalanceMinor(), amount)
	if !ok {
		return errorResult(pb.ErrorReason_ERROR_REASON_OVERFLOW, "amount_minor", fmt.Sprintf("balance of %q would overflow", to.GetId()))
	}
	from.BalanceMinor, from.Version = fromBalance, from.GetVersion()+1
	to.BalanceMinor, to.Version = toBalance, to.GetVersion()+1
	rec := &pb.TransferRecord{
		TransferId: t.GetTransferId(), FromAccountId: from.Id, ToAccountId: to.Id, AmountMinor: amount, Currency: t.GetCurrency(),
		State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: a.now,
		FromBalanceAfterMinor: fromBalance, ToBalanceAfterMinor: toBalance,
	}
	// Both legs, the record and both history entries: one batch.
	a.put(accountKey(from.Id), from)
	a.put(accountKey(to.Id), to)
	a.put(transferKey(from.Id, rec.TransferId), rec)
	a.st.set(historyKey(from.Id, from.Version), []byte(transferRef(from.Id, rec.TransferId)))
	a.st.set(historyKey(to.Id, to.Version), []byte(transferRef(from.Id, rec.TransferId)))
	return &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: rec}}
}

// addInt64 returns a+b and false on overflow.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
