package reconcile

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// memState is a cell's state in memory, with cell's key layout: the test
// twin of replication.Reader.
type memState struct {
	kv map[string][]byte
}

func newMemState() *memState { return &memState{kv: map[string][]byte{}} }

func (m *memState) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	keys := make([]string, 0, len(m.kv))
	for k := range m.kv {
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		// Fresh copies: fn must not keep them, and must not see another
		// call's bytes.
		if !fn([]byte(k), bytes.Clone(m.kv[k])) {
			break
		}
	}
	return nil
}

func (m *memState) put(t testing.TB, key string, msg proto.Message) {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	m.kv[key] = b
}

// total sets s/<name>/<currency>.
func (m *memState) total(name, currency string, v int64) {
	m.kv["s/"+name+"/"+currency] = binary.BigEndian.AppendUint64(nil, uint64(v))
}

func (m *memState) totalOf(name, currency string) int64 {
	v, ok := m.kv["s/"+name+"/"+currency]
	if !ok {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func (m *memState) addTotal(name, currency string, delta int64) {
	m.total(name, currency, m.totalOf(name, currency)+delta)
}

// The test clock: every record is stamped relative to t0.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

// ledgerBuilder writes a consistent ledger state the way cell's commands
// would leave it (records, history keys, idempotency records and totals),
// so that a test breaks exactly one thing.
type ledgerBuilder struct {
	t   testing.TB
	m   *memState
	acc map[string]*pb.Account
}

func newLedger(t testing.TB) *ledgerBuilder {
	return &ledgerBuilder{t: t, m: newMemState(), acc: map[string]*pb.Account{}}
}

func (b *ledgerBuilder) putAccount(a *pb.Account) {
	a.Version++
	b.m.put(b.t, "a/"+a.Id, a)
}

func (b *ledgerBuilder) history(account, transferID string) {
	k := binary.BigEndian.AppendUint64([]byte("h/"+account+"/"), b.acc[account].Version)
	b.m.kv[string(k)] = []byte(transferID)
}

// account creates an account holding deposit (counted as deposited).
func (b *ledgerBuilder) account(id, currency string, deposit int64) *ledgerBuilder {
	a := &pb.Account{Id: id, Currency: currency, BalanceMinor: deposit, CreatedAtUnixMs: ms(0)}
	b.acc[id] = a
	b.putAccount(a)
	b.m.addTotal("deposited", currency, deposit)
	b.m.put(b.t, "i/d-"+id, &pb.IdempotencyRecord{ParamsSha256: []byte("x"), CreatedAtUnixMs: ms(0)})
	return b
}

// transfer moves money between two accounts of the cell.
func (b *ledgerBuilder) transfer(id, from, to string, amount int64) *ledgerBuilder {
	f, tt := b.acc[from], b.acc[to]
	f.BalanceMinor -= amount
	tt.BalanceMinor += amount
	b.putAccount(f)
	b.putAccount(tt)
	rec := &pb.TransferRecord{TransferId: id, FromAccountId: from, ToAccountId: to, AmountMinor: amount, Currency: f.Currency,
		State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: ms(time.Second), FromBalanceAfterMinor: f.BalanceMinor, ToBalanceAfterMinor: tt.BalanceMinor}
	b.m.put(b.t, "t/"+id, rec)
	b.history(from, id)
	b.history(to, id)
	b.m.put(b.t, "i/"+id, &pb.IdempotencyRecord{ParamsSha256: []byte("x"), Result: &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: rec}}})
	return b
}

// sendOut debits a payer for a cross-cell transfer to cell toCell, created
// at ms(at); settled: COMPLETED (sent), else IN_FLIGHT with an outbox
// record.
func (b *ledgerBuilder) sendOut(id, from string, toCell uint64, amount int64, at time.Duration, settled bool) *ledgerBuilder {
	f := b.acc[from]
	f.BalanceMinor -= amount
	b.putAccount(f)
	tr := &pb.Transfer{TransferId: id, FromAccountId: from, ToAccountId: "far-" + id, AmountMinor: amount, Currency: f.Currency, FromCellId: 1, ToCellId: toCell}
	rec := &pb.TransferRecord{TransferId: id, FromAccountId: from, ToAccountId: tr.ToAccountId, AmountMinor: amount, Currency: f.Currency,
		State: pb.TransferState_TRANSFER_STATE_IN_FLIGHT, CreatedAtUnixMs: ms(at), FromBalanceAfterMinor: f.BalanceMinor, FromCellId: 1, ToCellId: toCell}
	if settled {
		rec.State, rec.SettledAtUnixMs = pb.TransferState_TRANSFER_STATE_COMPLETED, ms(at+time.Second)
		b.m.addTotal("sent", f.Currency, amount)
	} else {
		b.m.put(b.t, "o/"+id, &pb.OutboxRecord{Transfer: tr, CreatedAtUnixMs: ms(at)})
		b.m.addTotal("inflight", f.Currency, amount)
	}
	b.m.put(b.t, "t/"+id, rec)
	b.history(from, id)
	return b
}

// receive credits an account with a transfer from cell fromCell.
func (b *ledgerBuilder) receive(id, to string, fromCell uint64, amount int64) *ledgerBuilder {
	a := b.acc[to]
	a.BalanceMinor += amount
	b.putAccount(a)
	b.m.put(b.t, "t/"+id, &pb.TransferRecord{TransferId: id, FromAccountId: "far-" + id, ToAccountId: to, AmountMinor: amount, Currency: a.Currency,
		State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: ms(time.Second), SettledAtUnixMs: ms(time.Second), ToBalanceAfterMinor: a.BalanceMinor, FromCellId: fromCell})
	b.m.addTotal("received", a.Currency, amount)
	b.history(to, id)
	return b
}

// payout records a payout from account in state, created at ms(at).
func (b *ledgerBuilder) payout(id, account, provider string, amount int64, state pb.PayoutState, at time.Duration) *pb.PayoutRecord {
	a := b.acc[account]
	a.BalanceMinor -= amount
	rec := &pb.PayoutRecord{PayoutId: id, AccountId: account, AmountMinor: amount, Currency: a.Currency, State: state, Provider: provider,
		CreatedAtUnixMs: ms(at), UpdatedAtUnixMs: ms(at + time.Second), BalanceAfterMinor: a.BalanceMinor, ProviderRef: "ref-" + id}
	switch state {
	case pb.PayoutState_PAYOUT_STATE_SUCCEEDED:
		b.m.addTotal("paidout", a.Currency, amount)
	case pb.PayoutState_PAYOUT_STATE_FAILED:
		a.BalanceMinor += amount
		rec.BalanceAfterMinor, rec.Reason, rec.ProviderRef = a.BalanceMinor, "account closed", ""
	default:
		b.m.addTotal("held", a.Currency, amount)
		b.m.kv["w/"+account+"/"+id] = nil
		rec.ProviderRef = ""
		if state == pb.PayoutState_PAYOUT_STATE_UNKNOWN {
			rec.UnknownSinceUnixMs, rec.Reason = ms(at+time.Second), "timeout"
			a.UnknownPayouts++ // the account is held
		}
	}
	b.putAccount(a)
	b.m.put(b.t, "p/"+account+"/"+id, rec)
	return rec
}

// baseLedger is a small consistent cell 1 in CNY and EUR with local and
// cross-cell transfers and settled payouts: CheckCell finds nothing in it.
func baseLedger(t testing.TB) *ledgerBuilder {
	b := newLedger(t).
		account("alice", "CNY", 10_000).account("bob", "CNY", 5_000).account("erin", "EUR", 700).
		transfer("t-1", "alice", "bob", 2_500).transfer("t-2", "bob", "alice", 100).
		sendOut("x-1", "alice", 2, 300, time.Second, true).
		receive("x-9", "bob", 2, 40)
	b.payout("po-1", "alice", "bank-a", 1_000, pb.PayoutState_PAYOUT_STATE_SUCCEEDED, time.Second)
	b.payout("po-2", "erin", "bank-a", 70, pb.PayoutState_PAYOUT_STATE_FAILED, time.Second)
	return b
}

// stuckAge is the tests' stuck age; now is t0 + 1h, so work created at
// t0 + a few seconds is stuck and work created at t0 + 59m59s is not.
const stuckAge = 10 * time.Minute

var now = t0.Add(time.Hour)

// snapshotMem is a memState as a SnapshotScanner; it records the keys its
// scans passed.
type snapshotMem struct {
	*memState
	visited []string
}

func (s *snapshotMem) ReadsOneSnapshot() {}

func (s *snapshotMem) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return s.memState.Scan(lower, upper, func(k, v []byte) bool {
		s.visited = append(s.visited, string(k))
		return fn(k, v)
	})
}

// check runs CheckCell on s; a memState is checked both as a Scanner (one
// Scan) and as a SnapshotScanner (a Scan per checked range), which must
// agree.
func check(t testing.TB, s Scanner) (CellSummary, []Finding) {
	t.Helper()
	sum, fs, err := CheckCell(1, s, now, stuckAge)
	if err != nil {
		t.Fatalf("CheckCell: %v", err)
	}
	if m, ok := s.(*memState); ok {
		snap := &snapshotMem{memState: m}
		sum2, fs2, err := CheckCell(1, snap, now, stuckAge)
		if err != nil {
			t.Fatalf("CheckCell of a snapshot: %v", err)
		}
		if !reflect.DeepEqual(sum, sum2) || !reflect.DeepEqual(fs, fs2) {
			t.Fatalf("one scan and a scan per range disagree:\n%+v\n%+v\nand\n%+v\n%+v", sum, fs, sum2, fs2)
		}
		for _, k := range snap.visited {
			if k[0] == 'h' || k[0] == 'i' {
				t.Fatalf("a scan per range read %q, which the check does not need", k)
			}
		}
	}
	return sum, fs
}

// kindsOf lists the findings' kinds, in order.
func kindsOf(fs []Finding) []Kind {
	out := make([]Kind, len(fs))
	for i, f := range fs {
		out[i] = f.Kind
	}
	return out
}

// only returns the one finding of kind, failing unless there is exactly
// one finding in all.
func only(t testing.TB, fs []Finding, kind Kind) Finding {
	t.Helper()
	if len(fs) != 1 || fs[0].Kind != kind {
		t.Fatalf("findings %v (%+v), want one %s", kindsOf(fs), fs, kind)
	}
	return fs[0]
}
