package cell

import "encoding/binary"

// The ledger's keys inside a cell's state (replication prefixes them with
// the group). Account ids, idempotency keys and transfer ids never contain
// '/', so every prefix below is unambiguous.
//
//	a/<account id>                      Account
//	t/<transfer id>                     TransferRecord (successful transfers)
//	i/<idempotency key or transfer id>  IdempotencyRecord
//	h/<account id>/<version, 8 bytes>   transfer id: the account's transfer history
//	s/deposited/<currency>              int64 total deposited (8 bytes, big-endian)
func accountKey(id string) []byte         { return append([]byte("a/"), id...) }
func transferKey(id string) []byte        { return append([]byte("t/"), id...) }
func idempotencyKey(key string) []byte    { return append([]byte("i/"), key...) }
func depositedKey(currency string) []byte { return append([]byte("s/deposited/"), currency...) }

func historyPrefix(account string) []byte {
	k := append([]byte("h/"), account...)
	return append(k, '/')
}

func historyKey(account string, version uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(account), version)
}
