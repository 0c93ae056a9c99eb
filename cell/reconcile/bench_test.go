package reconcile

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/proto"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/replication/storage"
)

// The cell of BenchmarkCheckCell: 10,000 accounts and 1,000,000 transfers
// (1% sent to another cell, 1% received from one, 100 still in flight),
// with their history keys and idempotency records, and 10,000 payouts
// (2% open). benchStuckTransfers and benchStuckPayouts of them are older
// than the stuck age.
const (
	benchAccounts       = 10_000
	benchTransfers      = 1_000_000
	benchPayouts        = 10_000
	benchStuckTransfers = 5
	benchStuckPayouts   = 20
	benchGroup          = storage.GroupID(1)
	benchBatchBytesMax  = 4 << 20 // commit the build in batches of about this size
)

// benchCell is built once per test binary and removed by TestMain.
var benchCell struct {
	once      sync.Once
	dir       string
	db        *storage.DB
	buildTime time.Duration
	keys      int
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchCell.db != nil {
		_ = benchCell.db.Close()
	}
	if benchCell.dir != "" {
		_ = os.RemoveAll(benchCell.dir)
	}
	os.Exit(code)
}

// pebbleCell reads group benchGroup's state keys the way replication.Reader
// does: one iterator per Scan, the group prefix stripped from keys.
type pebbleCell struct {
	db interface {
		NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
	}
}

// snapshotCell is a pebbleCell over one Pebble snapshot.
type snapshotCell struct{ pebbleCell }

func (snapshotCell) ReadsOneSnapshot() {}

// benchLogger drops Pebble's informational messages ("Found 0 WALs").
type benchLogger struct{}

func (benchLogger) Infof(string, ...any)              {}
func (benchLogger) Errorf(format string, args ...any) { pebble.DefaultLogger.Errorf(format, args...) }
func (benchLogger) Fatalf(format string, args ...any) { pebble.DefaultLogger.Fatalf(format, args...) }

func (c pebbleCell) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	lo, hi := storage.StatePrefix(benchGroup)
	prefixLen := len(storage.StateKey(benchGroup, nil))
	opts := &pebble.IterOptions{LowerBound: lo, UpperBound: hi}
	if lower != nil {
		opts.LowerBound = storage.StateKey(benchGroup, lower)
	}
	if upper != nil {
		opts.UpperBound = storage.StateKey(benchGroup, upper)
	}
	it, err := c.db.NewIter(opts)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if !fn(it.Key()[prefixLen:], v) {
			break
		}
	}
	return it.Close()
}

// benchWriter writes state keys in NoSync batches.
type benchWriter struct {
	db    *pebble.DB
	batch *pebble.Batch
	keys  int
	err   error
}

func (w *benchWriter) set(key string, value []byte) {
	if w.err != nil {
		return
	}
	if w.batch == nil {
		w.batch = w.db.NewBatch()
	}
	w.err = w.batch.Set(storage.StateKey(benchGroup, []byte(key)), value, nil)
	w.keys++
	if w.batch.Len() >= benchBatchBytesMax {
		w.flush()
	}
}

func (w *benchWriter) put(key string, m proto.Message) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil && w.err == nil {
		w.err = err
	}
	w.set(key, b)
}

func (w *benchWriter) flush() {
	if w.batch != nil && w.err == nil {
		w.err = w.batch.Commit(pebble.NoSync)
		w.batch = nil
	}
}

// buildBenchCell writes the benchmark's cell as the ledger's commands would
// have left it. The commands are simulated in memory (balances, versions,
// totals), so the state is conserved and CheckCell finds exactly the stuck
// work planted in it.
func buildBenchCell(dir string) (*storage.DB, int, error) {
	opts := storage.DefaultOptions()
	opts.Logger = benchLogger{}
	db, err := storage.Open(dir, opts)
	if err != nil {
		return nil, 0, err
	}
	w := &benchWriter{db: db.Pebble()}
	accounts := make([]*pb.Account, benchAccounts)
	var deposited, sent, received, inFlight, held, paidOut int64
	for i := range accounts {
		accounts[i] = &pb.Account{Id: fmt.Sprintf("acct-%05d", i), Currency: "CNY", BalanceMinor: 1_000_000_000, CreatedAtUnixMs: ms(0), Version: 2}
		deposited += accounts[i].BalanceMinor
		w.put("i/c-"+accounts[i].Id, &pb.IdempotencyRecord{ParamsSha256: make([]byte, 32), Result: &pb.CommandResult{Outcome: &pb.CommandResult_Account{Account: accounts[i]}}})
	}
	history := func(a *pb.Account, id string) {
		a.Version++
		w.set(string(binary.BigEndian.AppendUint64([]byte("h/"+a.Id+"/"), a.Version)), []byte(id))
	}
	for k := range benchTransfers {
		id := fmt.Sprintf("tx-%07d", k)
		amount := int64(1 + k%1000)
		from := accounts[k%benchAccounts]
		rec := &pb.TransferRecord{TransferId: id, AmountMinor: amount, Currency: "CNY", State: pb.TransferState_TRANSFER_STATE_COMPLETED, CreatedAtUnixMs: ms(time.Duration(k) * time.Millisecond)}
		switch {
		case k%100 == 0: // to cell 2
			from.BalanceMinor -= amount
			history(from, id)
			rec.FromAccountId, rec.ToAccountId, rec.FromBalanceAfterMinor, rec.FromCellId, rec.ToCellId = from.Id, "far-"+id, from.BalanceMinor, 1, 2
			if k%10_000 == 0 {
				rec.State = pb.TransferState_TRANSFER_STATE_IN_FLIGHT
				inFlight += amount
				created := now.Add(-time.Minute)
				if k < benchStuckTransfers*10_000 {
					created = t0
				}
				w.put("o/"+id, &pb.OutboxRecord{Transfer: &pb.Transfer{TransferId: id, FromAccountId: from.Id, ToAccountId: rec.ToAccountId, AmountMinor: amount, Currency: "CNY", FromCellId: 1, ToCellId: 2}, CreatedAtUnixMs: created.UnixMilli()})
			} else {
				sent += amount
				rec.SettledAtUnixMs = rec.CreatedAtUnixMs + 100
			}
		case k%100 == 50: // from cell 2
			from.BalanceMinor += amount
			history(from, id)
			rec.FromAccountId, rec.ToAccountId, rec.ToBalanceAfterMinor, rec.FromCellId, rec.SettledAtUnixMs = "far-"+id, from.Id, from.BalanceMinor, 2, rec.CreatedAtUnixMs
			received += amount
		default:
			to := accounts[(k*7+1)%benchAccounts]
			if to == from {
				to = accounts[(k+1)%benchAccounts]
			}
			from.BalanceMinor -= amount
			to.BalanceMinor += amount
			history(from, id)
			history(to, id)
			rec.FromAccountId, rec.ToAccountId, rec.FromBalanceAfterMinor, rec.ToBalanceAfterMinor = from.Id, to.Id, from.BalanceMinor, to.BalanceMinor
		}
		w.put("t/"+id, rec)
		w.put("i/"+id, &pb.IdempotencyRecord{ParamsSha256: make([]byte, 32), Result: &pb.CommandResult{Outcome: &pb.CommandResult_Transfer{Transfer: rec}}, CreatedAtUnixMs: rec.CreatedAtUnixMs})
	}
	for i := range benchPayouts {
		id := fmt.Sprintf("po-%05d", i)
		a := accounts[i%benchAccounts]
		rec := &pb.PayoutRecord{PayoutId: id, AccountId: a.Id, AmountMinor: 100, Currency: "CNY", Provider: "bank-a", CreatedAtUnixMs: now.Add(-time.Minute).UnixMilli()}
		rec.UpdatedAtUnixMs = rec.CreatedAtUnixMs
		switch i % 100 {
		case 0, 1:
			rec.State = pb.PayoutState_PAYOUT_STATE_PENDING
			if i%100 == 0 {
				rec.State, rec.Reason, rec.UnknownSinceUnixMs = pb.PayoutState_PAYOUT_STATE_UNKNOWN, "timeout", rec.CreatedAtUnixMs
				a.UnknownPayouts++
			}
			if i < benchStuckPayouts/2*100 {
				rec.CreatedAtUnixMs = ms(0)
			}
			a.BalanceMinor -= rec.AmountMinor
			held += rec.AmountMinor
			w.set("w/"+rec.AccountId+"/"+id, nil)
		case 2:
			rec.State, rec.Reason = pb.PayoutState_PAYOUT_STATE_FAILED, "account closed"
		default:
			rec.State, rec.ProviderRef = pb.PayoutState_PAYOUT_STATE_SUCCEEDED, "ref-"+id
			a.BalanceMinor -= rec.AmountMinor
			paidOut += rec.AmountMinor
		}
		a.Version++
		rec.BalanceAfterMinor = a.BalanceMinor
		w.put("p/"+rec.AccountId+"/"+id, rec)
		w.put("i/p/"+rec.AccountId+"/"+id, &pb.IdempotencyRecord{ParamsSha256: make([]byte, 32), Result: &pb.CommandResult{Outcome: &pb.CommandResult_Payout{Payout: rec}}})
	}
	for _, a := range accounts {
		w.put("a/"+a.Id, a)
	}
	for name, v := range map[string]int64{"deposited": deposited, "sent": sent, "received": received, "inflight": inFlight, "held": held, "paidout": paidOut} {
		w.set("s/"+name+"/CNY", binary.BigEndian.AppendUint64(nil, uint64(v)))
	}
	w.flush()
	if w.err == nil {
		// Compacted, as a long-running node's state mostly is, and so that
		// no compaction of the build runs under the measurement.
		lo, hi := storage.StatePrefix(benchGroup)
		w.err = db.Pebble().Compact(context.Background(), lo, hi, true)
	}
	if w.err != nil {
		_ = db.Close()
		return nil, 0, w.err
	}
	return db, w.keys, nil
}

func benchState(b *testing.B) *storage.DB {
	benchCell.once.Do(func() {
		benchCell.dir, benchCell.err = os.MkdirTemp("", "reconcile-bench-")
		if benchCell.err != nil {
			return
		}
		start := time.Now()
		benchCell.db, benchCell.keys, benchCell.err = buildBenchCell(filepath.Join(benchCell.dir, "db"))
		benchCell.buildTime = time.Since(start)
	})
	if benchCell.err != nil {
		b.Fatalf("building the benchmark cell: %v", benchCell.err)
	}
	b.Logf("cell of %d transfers: %d keys written in %s", benchTransfers, benchCell.keys, benchCell.buildTime.Round(time.Millisecond))
	return benchCell.db
}

// BenchmarkCheckCell reconciles one cell of 1,000,000 transfers (see
// buildBenchCell) stored in Pebble: one op is one CheckCell. "reader"
// reads as replication.Reader does (one Scan over every key); "snapshot"
// through a SnapshotScanner over a Pebble snapshot (a Scan per checked
// range).
func BenchmarkCheckCell(b *testing.B) {
	db := benchState(b)
	snap := db.Pebble().NewSnapshot()
	defer snap.Close()
	for _, bc := range []struct {
		name string
		s    Scanner
	}{
		{"reader", pebbleCell{db: db.Pebble()}},
		{"snapshot", snapshotCell{pebbleCell{db: snap}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				sum, fs, err := CheckCell(1, bc.s, now, stuckAge)
				if err != nil {
					b.Fatal(err)
				}
				if sum.Transfers["COMPLETED"]+sum.Transfers["IN_FLIGHT"] != benchTransfers || sum.Accounts != benchAccounts ||
					len(fs) != benchStuckTransfers+benchStuckPayouts || countOf(fs, StuckTransfer) != benchStuckTransfers {
					b.Fatalf("summary %+v, findings %v; want %d transfers and only the planted stuck work", sum, kindsOf(fs), benchTransfers)
				}
			}
			b.ReportMetric(float64(benchTransfers)*float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}

func countOf(fs []Finding, k Kind) int {
	n := 0
	for _, f := range fs {
		if f.Kind == k {
			n++
		}
	}
	return n
}

// BenchmarkScanState measures the iteration alone, to tell Pebble's share
// of BenchmarkCheckCell from the check's: every key of the cell (what
// CheckCell's one Scan reads) and only the prefixes it decodes (a/ to t/
// and w/ would be several Scans, no longer one view of the state).
func BenchmarkScanState(b *testing.B) {
	s := pebbleCell{db: benchState(b).Pebble()}
	for _, bc := range []struct {
		name   string
		ranges [][2]string
	}{
		{"all", [][2]string{{"", ""}}},
		{"checked", [][2]string{{"a/", "a0"}, {"o/", "o0"}, {"p/", "p0"}, {"s/", "s0"}, {"t/", "t0"}, {"w/", "w0"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				keys := 0
				for _, r := range bc.ranges {
					var lower, upper []byte
					if r[0] != "" {
						lower, upper = []byte(r[0]), []byte(r[1])
					}
					if err := s.Scan(lower, upper, func(_, _ []byte) bool { keys++; return true }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(keys), "keys")
			}
		})
	}
}
