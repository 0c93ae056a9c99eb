package cell

import (
	"encoding/binary"
	"strconv"
)

// The ledger's keys inside a cell's state (replication prefixes them with
// the group). Account ids, idempotency keys, transfer and payout ids never
// contain '/', so every key below is unambiguous.
//
// Every client-chosen id has a scope, and the scope is part of its key, so
// no client's choice of ids can change another client's outcome:
//
//   - a transfer id is scoped to its payer account (two payers may both use
//     "t-1", in one cell or in two);
//   - a payout id is scoped to its account;
//   - the idempotency key of CreateAccount is scoped to the account it
//     opens, and that of Deposit to the account it credits;
//   - an incoming credit is scoped to the payer's cell and account.
//
// Each command kind has its own idempotency namespace (i/<kind>/...), so a
// deposit key can never answer a transfer, nor a local transfer an incoming
// credit.
//
//	a/<account id>                              Account
//	t/<payer account>/<transfer id>             TransferRecord (local, outgoing, or an incoming credit)
//	i/a/<account id>/<key>                      IdempotencyRecord of CreateAccount
//	i/d/<account id>/<key>                      ... of Deposit
//	i/t/<payer account>/<transfer id>           ... of Transfer (local or outgoing)
//	i/c/<payer cell>/<payer account>/<transfer id> ... of CreditIn
//	i/p/<account id>/<payout id>                ... of Payout
//	h/<account id>/<version, 8 bytes>           "<payer account>/<transfer id>": the account's transfer history
//	o/<payer account>/<transfer id>             OutboxRecord (credit not yet delivered)
//	p/<account id>/<payout id>                  PayoutRecord
//	w/<account id>/<payout id>                  payout work item (unsettled)
//	s/<total>/<currency>                        int64 totals (8 bytes, big-endian)
func accountKey(id string) []byte         { return append([]byte("a/"), id...) }
func depositedKey(currency string) []byte { return append([]byte("s/deposited/"), currency...) }

// scoped is "<prefix><scope>/<id>".
func scoped(prefix, scope, id string) []byte {
	k := make([]byte, 0, len(prefix)+len(scope)+1+len(id))
	k = append(k, prefix...)
	k = append(k, scope...)
	k = append(k, '/')
	return append(k, id...)
}

// transferRef names a transfer inside a cell: its payer and its id.
func transferRef(payer, id string) string { return payer + "/" + id }

func transferKey(payer, id string) []byte { return scoped("t/", payer, id) }

// Idempotency namespaces, one per command kind.
func accountIdempotencyKey(account, key string) []byte { return scoped("i/a/", account, key) }
func depositIdempotencyKey(account, key string) []byte { return scoped("i/d/", account, key) }
func transferIdempotencyKey(payer, id string) []byte   { return scoped("i/t/", payer, id) }
func payoutIdempotencyKey(account, id string) []byte   { return scoped("i/p/", account, id) }
func creditIdempotencyKey(fromCell uint64, payer, id string) []byte {
	return scoped("i/c/"+strconv.FormatUint(fromCell, 10)+"/", payer, id)
}

func historyPrefix(account string) []byte {
	k := append([]byte("h/"), account...)
	return append(k, '/')
}

func historyKey(account string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(account), version)
}
