package cell

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication"
)

// Reads over a cell's committed state. For current reads the caller first
// calls Group.LinearizableRead on the leader.

// ErrNotFound marks reads of an account or transfer that does not exist.
var ErrNotFound = fmt.Errorf("cell: not found")

// Page sizes of ListTransfers.
const (
	listPageSizeDefault = 50
	listPageSizeMax     = 500
)

func readProto(r replication.Reader, key []byte, m proto.Message) error {
	v, found, err := r.Get(key)
	if err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("cell: corrupt value at %q: %w", key, err)
	}
	return nil
}

// GetAccount reads one account.
func GetAccount(r replication.Reader, id string) (*pb.Account, error) {
	var acc pb.Account
	if err := readProto(r, accountKey(id), &acc); err != nil {
		return nil, fmt.Errorf("account %q: %w", id, err)
	}
	return &acc, nil
}

// GetTransfer reads one transfer of payer (a transfer id is scoped to its
// payer account).
func GetTransfer(r replication.Reader, payer, id string) (*pb.TransferRecord, error) {
	return getTransferByRef(r, transferRef(payer, id))
}

// getTransferByRef reads the transfer "<payer>/<id>" (a history value).
func getTransferByRef(r replication.Reader, ref string) (*pb.TransferRecord, error) {
	var rec pb.TransferRecord
	if err := readProto(r, append([]byte("t/"), ref...), &rec); err != nil {
		return nil, fmt.Errorf("transfer %q: %w", ref, err)
	}
	return &rec, nil
}

// ListTransfers lists an account's transfers, oldest first, pageSize at a
// time; pageToken is the previous response's next token (hex of the next
// history version).
func ListTransfers(r replication.Reader, account string, pageSize uint32, pageToken string) ([]*pb.TransferRecord, string, error) {
	if _, err := GetAccount(r, account); err != nil {
		return nil, "", err
	}
	n := int(pageSize)
	if n == 0 {
		n = listPageSizeDefault
	}
	n = min(n, listPageSizeMax)
	prefix := historyPrefix(account) // "h/<account>/"
	upper := append([]byte(nil), prefix...)
	upper[len(upper)-1]++ // "h/<account>0": just past every history key of the account
	lower := prefix
	if pageToken != "" {
		b, err := hex.DecodeString(pageToken)
		if err != nil || len(b) != 8 {
			return nil, "", &InputError{Field: "page_token", Reason: fmt.Sprintf("%q is not a token from a previous page", truncate(pageToken))}
		}
		lower = append(append([]byte(nil), prefix...), b...)
	}
	var refs []string
	var next string
	err := r.Scan(lower, upper, func(k, v []byte) bool {
		if len(refs) == n {
			next = hex.EncodeToString(k[len(k)-8:])
			return false
		}
		refs = append(refs, string(v))
		return true
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]*pb.TransferRecord, 0, len(refs))
	for _, ref := range refs {
		rec, err := getTransferByRef(r, ref)
		if err != nil {
			return nil, "", err
		}
		out = append(out, rec)
	}
	return out, next, nil
}

// Totals sums a cell's balances, deposits and cross-cell flows per
// currency. Money is conserved in a cell when, in every currency,
//
//	balances = deposited + received - sent - in flight - held - paid out
//
// (in flight: debited from a payer here, not yet settled; sent: settled
// credits delivered to other cells; received: credits from other cells).
type Totals struct {
	Accounts  int
	Balances  map[string]int64
	Deposited map[string]int64
	InFlight  map[string]int64
	Sent      map[string]int64
	Received  map[string]int64
	// Held: payouts PENDING or UNKNOWN; PaidOut: payouts SUCCEEDED.
	Held    map[string]int64
	PaidOut map[string]int64
	// Outbox counts the cross-cell transfers not yet settled; Payouts the
	// payouts not yet settled (PENDING or UNKNOWN).
	Outbox, Payouts int
}

// ReadTotals computes Totals from a cell's state.
func ReadTotals(r replication.Reader) (Totals, error) {
	t := Totals{Balances: map[string]int64{}, Deposited: map[string]int64{}, InFlight: map[string]int64{}, Sent: map[string]int64{}, Received: map[string]int64{}, Held: map[string]int64{}, PaidOut: map[string]int64{}}
	var decodeErr error
	err := r.Scan([]byte("a/"), []byte("a0"), func(k, v []byte) bool {
		var acc pb.Account
		if decodeErr = proto.Unmarshal(v, &acc); decodeErr != nil {
			return false
		}
		t.Accounts++
		t.Balances[acc.GetCurrency()] += acc.GetBalanceMinor()
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return t, err
	}
	for _, total := range []struct {
		name string
		into map[string]int64
	}{{"deposited", t.Deposited}, {"inflight", t.InFlight}, {"sent", t.Sent}, {"received", t.Received}, {"held", t.Held}, {"paidout", t.PaidOut}} {
		prefix := []byte("s/" + total.name + "/")
		err = r.Scan(prefix, []byte("s/"+total.name+"0"), func(k, v []byte) bool {
			if len(v) == 8 {
				total.into[string(k[len(prefix):])] = int64(binary.BigEndian.Uint64(v))
			}
			return true
		})
		if err != nil {
			return t, err
		}
	}
	err = r.Scan([]byte("o/"), []byte("o0"), func(_, _ []byte) bool {
		t.Outbox++
		return true
	})
	if err != nil {
		return t, err
	}
	err = r.Scan([]byte("w/"), []byte("w0"), func(_, _ []byte) bool {
		t.Payouts++
		return true
	})
	return t, err
}

// Conserved reports whether the cell's identity (see Totals) holds in
// every currency, and the currencies where it does not.
func (t Totals) Conserved() (bool, []string) {
	var bad []string
	seen := map[string]bool{}
	for c := range t.Balances {
		seen[c] = true
	}
	for _, m := range []map[string]int64{t.Deposited, t.InFlight, t.Sent, t.Received, t.Held, t.PaidOut} {
		for c := range m {
			seen[c] = true
		}
	}
	for c := range seen {
		if want := t.Deposited[c] + t.Received[c] - t.Sent[c] - t.InFlight[c] - t.Held[c] - t.PaidOut[c]; t.Balances[c] != want {
			bad = append(bad, fmt.Sprintf("%s: balances %d, want deposits %d + received %d - sent %d - in flight %d - held %d - paid out %d = %d",
				c, t.Balances[c], t.Deposited[c], t.Received[c], t.Sent[c], t.InFlight[c], t.Held[c], t.PaidOut[c], want))
		}
	}
	sort.Strings(bad)
	return len(bad) == 0, bad
}

// GetPayout reads one payout of account (a payout id is scoped to its
// account).
func GetPayout(r replication.Reader, account, id string) (*pb.PayoutRecord, error) {
	return getPayoutByRef(r, account+"/"+id)
}

// getPayoutByRef reads the payout "<account>/<payout id>".
func getPayoutByRef(r replication.Reader, ref string) (*pb.PayoutRecord, error) {
	var rec pb.PayoutRecord
	if err := readProto(r, append([]byte("p/"), ref...), &rec); err != nil {
		return nil, fmt.Errorf("payout %q: %w", ref, err)
	}
	return &rec, nil
}

// ListPayouts lists a cell's payouts in a state (every state for
// PAYOUT_STATE_UNSPECIFIED) by payout id, pageSize at a time; pageToken is
// the previous response's next token (hex of the next "<account>/<payout id>"). Payouts
// PENDING or UNKNOWN are found through their work items, the others by a
// scan of every payout.
func ListPayouts(r replication.Reader, state pb.PayoutState, pageSize uint32, pageToken string) ([]*pb.PayoutRecord, string, error) {
	n := int(pageSize)
	if n == 0 {
		n = listPageSizeDefault
	}
	n = min(n, listPageSizeMax)
	from := ""
	if pageToken != "" {
		b, err := hex.DecodeString(pageToken)
		if err != nil || len(b) == 0 {
			return nil, "", &InputError{Field: "page_token", Reason: fmt.Sprintf("%q is not a token from a previous page", truncate(pageToken))}
		}
		from = string(b)
	}
	open := state == pb.PayoutState_PAYOUT_STATE_PENDING || state == pb.PayoutState_PAYOUT_STATE_UNKNOWN
	prefix := "p/"
	if open {
		prefix = "w/"
	}
	var out []*pb.PayoutRecord
	var next string
	var readErr error
	err := r.Scan([]byte(prefix+from), []byte(prefix[:1]+"0"), func(k, v []byte) bool {
		id := string(k[len(prefix):]) // "<account>/<payout id>"
		rec := &pb.PayoutRecord{}
		if open {
			rec, readErr = getPayoutByRef(r, id)
		} else {
			readErr = proto.Unmarshal(v, rec)
		}
		if readErr != nil {
			return false
		}
		if state != pb.PayoutState_PAYOUT_STATE_UNSPECIFIED && rec.GetState() != state {
			return true
		}
		if len(out) == n {
			next = hex.EncodeToString([]byte(id))
			return false
		}
		out = append(out, rec)
		return true
	})
	if err == nil {
		err = readErr
	}
	return out, next, err
}
