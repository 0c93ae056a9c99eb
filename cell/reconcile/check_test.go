package reconcile

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

func TestCheckCellAllClear(t *testing.T) {
	sum, fs := check(t, baseLedger(t).m)
	if len(fs) != 0 {
		t.Fatalf("findings in a consistent cell: %+v", fs)
	}
	want := CellSummary{
		CellID: 1, Accounts: 3,
		Transfers: map[string]int{"COMPLETED": 4},
		Payouts:   map[string]int{"SUCCEEDED": 1, "FAILED": 1},
		Currencies: map[string]CurrencyTotals{
			// 15,000 deposited, 300 sent, 40 received, 1,000 paid out.
			"CNY": {BalancesMinor: 13_740, DepositedMinor: 15_000, ReceivedMinor: 40, SentMinor: 300, PaidOutMinor: 1_000},
			"EUR": {BalancesMinor: 700, DepositedMinor: 700},
		},
	}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Fatalf("summary\n%+v\nwant\n%+v", sum, want)
	}
}

func TestCheckCellNotConserved(t *testing.T) {
	b := baseLedger(t)
	// A balance altered behind the ledger's back: 1 CNY appears.
	b.acc["bob"].BalanceMinor++
	b.putAccount(b.acc["bob"])
	f := only(t, mustCheck(t, b), NotConserved)
	if f.CellID != 1 || f.Currency != "CNY" || f.AmountMinor != 1 || !strings.Contains(f.Detail, "balances 13741") {
		t.Fatalf("finding %+v; want CNY off by 1 in cell 1", f)
	}
}

func mustCheck(t *testing.T, b *ledgerBuilder) []Finding {
	t.Helper()
	_, fs := check(t, b.m)
	return fs
}

func TestCheckCellBelowLimit(t *testing.T) {
	b := baseLedger(t).account("carol", "CNY", 0).transfer("t-3", "carol", "alice", 50)
	fs := mustCheck(t, b)
	f := only(t, problems(fs), BelowLimit)
	if fmt.Sprint(f.IDs) != "[carol]" || f.AmountMinor != -50 || f.Currency != "CNY" {
		t.Fatalf("finding %+v; want carol at -50 CNY", f)
	}
	// An account allowed to go negative is no problem, but every movement
	// that left it below zero, and the exposure, are listed (an unfunded
	// account paid out 5,000,000 and reconciliation said all clear).
	b.acc["carol"].AllowNegativeBalance = true
	b.acc["carol"].Version--
	b.putAccount(b.acc["carol"])
	b.payout("po-x", "carol", "bank-a", 25, pb.PayoutState_PAYOUT_STATE_SUCCEEDED, time.Hour)
	fs = mustCheck(t, b)
	if got := summarizeFindings(fs); got != "Overdraft carol/po-x 25\nOverdraft t-3 50\nOverdraftExposure - 75" {
		t.Fatalf("findings for an overdraft account:\n%s", got)
	}
	if len(problems(fs)) != 0 {
		t.Fatalf("problems %+v for an account allowed below zero", problems(fs))
	}
}

// problems keeps the findings that are problems.
func problems(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Kind.Problem() {
			out = append(out, f)
		}
	}
	return out
}

// summarizeFindings is one line per finding: kind, ids ("-" for none),
// amount.
func summarizeFindings(fs []Finding) string {
	var lines []string
	for _, f := range fs {
		ids := strings.Join(f.IDs, ",")
		if ids == "" {
			ids = "-"
		}
		lines = append(lines, fmt.Sprintf("%s %s %d", f.Kind, ids, f.AmountMinor))
	}
	return strings.Join(lines, "\n")
}

func TestCheckCellStuckTransfer(t *testing.T) {
	b := baseLedger(t).
		sendOut("x-old", "alice", 3, 200, 5*time.Second, false).
		sendOut("x-new", "alice", 3, 100, time.Hour-time.Second, false)
	sum, fs := check(t, b.m)
	f := only(t, fs, StuckTransfer)
	if fmt.Sprint(f.IDs) != "[x-old]" || f.AmountMinor != 200 || f.Currency != "CNY" || f.Age != time.Hour-5*time.Second ||
		!strings.Contains(f.Detail, "credit to cell 3 not settled") {
		t.Fatalf("finding %+v; want x-old, 200 CNY, 59m55s, cell 3", f)
	}
	if sum.Outbox != 2 || sum.Transfers["IN_FLIGHT"] != 2 || sum.Currencies["CNY"].InFlightMinor != 300 {
		t.Fatalf("summary %+v; want 2 in the outbox, 300 CNY in flight", sum)
	}
}

func TestCheckCellStuckPayout(t *testing.T) {
	b := baseLedger(t)
	b.payout("po-old", "alice", "bank-b", 400, pb.PayoutState_PAYOUT_STATE_UNKNOWN, 2*time.Second)
	b.payout("po-pending", "erin", "bank-a", 30, pb.PayoutState_PAYOUT_STATE_PENDING, 0)
	b.payout("po-new", "alice", "bank-b", 10, pb.PayoutState_PAYOUT_STATE_UNKNOWN, time.Hour-time.Minute)
	sum, fs := check(t, b.m)
	if got := fmt.Sprint(kindsOf(fs)); got != "[StuckPayout StuckPayout]" {
		t.Fatalf("findings %+v; want two stuck payouts", fs)
	}
	old, pending := fs[0], fs[1]
	if fmt.Sprint(old.IDs) != "[alice/po-old]" || old.AmountMinor != 400 || old.Age != time.Hour-2*time.Second ||
		!strings.Contains(old.Detail, `UNKNOWN at provider "bank-b" for 59m57s, reason "timeout"`) {
		t.Fatalf("stuck payout %+v", old)
	}
	if fmt.Sprint(pending.IDs) != "[erin/po-pending]" || pending.Currency != "EUR" || !strings.Contains(pending.Detail, `PENDING at provider "bank-a"`) {
		t.Fatalf("stuck payout %+v", pending)
	}
	if want := map[string]int{"SUCCEEDED": 1, "FAILED": 1, "UNKNOWN": 2, "PENDING": 1}; !maps.Equal(sum.Payouts, want) || sum.WorkItems != 3 {
		t.Fatalf("payouts %v, %d work items; want %v and 3", sum.Payouts, sum.WorkItems, want)
	}
}

func TestCheckCellInconsistent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(b *ledgerBuilder)
		id     string // the finding's id, "" for a total
		detail string
	}{
		{"outbox record lost", func(b *ledgerBuilder) { delete(b.m.kv, "o/x-2") }, "x-2", "without an outbox record"},
		{"outbox record of a settled transfer", func(b *ledgerBuilder) {
			b.m.put(b.t, "o/x-1", &pb.OutboxRecord{Transfer: &pb.Transfer{TransferId: "x-1", AmountMinor: 300, Currency: "CNY", ToCellId: 2}, CreatedAtUnixMs: ms(time.Hour)})
		}, "x-1", "outbox record without an IN_FLIGHT transfer"},
		{"work item lost", func(b *ledgerBuilder) { delete(b.m.kv, "w/alice/po-3") }, "alice/po-3", "without a work item"},
		{"work item of a settled payout", func(b *ledgerBuilder) { b.m.kv["w/alice/po-1"] = nil }, "alice/po-1", "work item of a payout that is not PENDING"},
		{"payout turned SUCCEEDED", func(b *ledgerBuilder) {
			rec := b.payout("po-4", "alice", "bank-a", 5, pb.PayoutState_PAYOUT_STATE_FAILED, time.Hour)
			rec.State = pb.PayoutState_PAYOUT_STATE_SUCCEEDED
			b.m.put(b.t, "p/alice/po-4", rec)
		}, "", "paid out total 1000 CNY, but the SUCCEEDED payouts sum to 1005"},
		{"held moved into a balance", func(b *ledgerBuilder) {
			b.m.addTotal("held", "CNY", -60)
			b.acc["alice"].BalanceMinor += 60
			b.putAccount(b.acc["alice"])
		}, "", "held total 1 CNY, but the PENDING and UNKNOWN payouts sum to 61"},
		{"received inflated with a balance", func(b *ledgerBuilder) {
			b.m.addTotal("received", "CNY", 7)
			b.acc["bob"].BalanceMinor += 7
			b.putAccount(b.acc["bob"])
		}, "", "received total 47 CNY, but the credits from other cells sum to 40"},
		{"hold lost", func(b *ledgerBuilder) {
			b.acc["alice"].UnknownPayouts--
			b.putAccount(b.acc["alice"])
		}, "alice", "held by 0 unknown payouts (unknown_payouts), but 1 of its payouts are UNKNOWN"},
		{"hold without its payout", func(b *ledgerBuilder) {
			b.acc["bob"].UnknownPayouts = 2
			b.putAccount(b.acc["bob"])
		}, "bob", "held by 2 unknown payouts"},
		{"account under another key", func(b *ledgerBuilder) { b.m.kv["a/zed"] = b.m.kv["a/erin"]; delete(b.m.kv, "a/erin") }, "zed", `has id "erin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := baseLedger(t).sendOut("x-2", "alice", 2, 10, time.Hour-time.Second, false)
			b.payout("po-3", "alice", "bank-a", 60, pb.PayoutState_PAYOUT_STATE_PENDING, time.Hour-time.Second)
			b.payout("po-5", "alice", "bank-a", 1, pb.PayoutState_PAYOUT_STATE_UNKNOWN, time.Hour-time.Second)
			if fs := mustCheck(t, b); len(fs) != 0 {
				t.Fatalf("findings before breaking the state: %+v", fs)
			}
			tc.break_(b)
			f := only(t, mustCheck(t, b), Inconsistent)
			if id := strings.Join(f.IDs, ","); id != tc.id || !strings.Contains(f.Detail, tc.detail) {
				t.Fatalf("finding %+v; want id %q and %q", f, tc.id, tc.detail)
			}
		})
	}
}

// brokenScanner fails its scan after some keys.
type brokenScanner struct{ err error }

func (s brokenScanner) Scan(_, _ []byte, fn func(k, v []byte) bool) error {
	fn([]byte("h/x"), nil)
	return s.err
}

func TestCheckCellErrors(t *testing.T) {
	for _, key := range []string{"a/alice", "o/x-1", "p/alice/po-1", "t/t-1", "s/held/CNY"} {
		t.Run(key, func(t *testing.T) {
			b := baseLedger(t)
			b.m.kv[key] = []byte{0xff, 0xff, 0xff} // neither a protobuf message nor 8 bytes
			for _, s := range []Scanner{b.m, &snapshotMem{memState: b.m}} {
				_, _, err := CheckCell(1, s, now, stuckAge)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) || !strings.HasPrefix(err.Error(), "reconcile: cell 1: ") {
					t.Fatalf("%T: error %v; want one naming key %q", s, err, key)
				}
			}
		})
	}
	// Keys the check does not read are never decoded.
	b := baseLedger(t)
	b.m.kv["i/junk"], b.m.kv["h/junk"], b.m.kv["s/newtotal/CNY"], b.m.kv["x"] = []byte{0xff}, []byte{0xff}, []byte{1}, nil
	if fs := mustCheck(t, b); len(fs) != 0 {
		t.Fatalf("findings %+v from keys the check skips", fs)
	}
	disk := errors.New("disk on fire")
	if _, _, err := CheckCell(7, brokenScanner{disk}, now, stuckAge); !errors.Is(err, disk) {
		t.Fatalf("error %v; want the scanner's", err)
	}
	if _, _, err := CheckCell(1, b.m, now, -time.Second); err == nil {
		t.Fatal("a negative stuck age was accepted")
	}
}

func TestCheckCellFindingsLimit(t *testing.T) {
	b := baseLedger(t).account("rich", "EUR", 1_000_000)
	n := findingsPerKindMax + 500
	for i := range n {
		id := fmt.Sprintf("neg-%05d", i)
		b.account(id, "EUR", 0).transfer("tn-"+id, id, "rich", 1)
	}
	fs := problems(mustCheck(t, b))
	if len(fs) != findingsPerKindMax+1 {
		t.Fatalf("%d findings, want %d", len(fs), findingsPerKindMax+1)
	}
	last := fs[len(fs)-1]
	if last.Kind != BelowLimit || len(last.IDs) != 0 || !strings.HasPrefix(last.Detail, "500 more findings") {
		t.Fatalf("last finding %+v; want the count of the 500 not listed", last)
	}
	if fmt.Sprint(fs[0].IDs) != "[neg-00000]" || fmt.Sprint(fs[findingsPerKindMax-1].IDs) != "[neg-00999]" {
		t.Fatalf("listed %v .. %v; want the first 1000 by id", fs[0].IDs, fs[findingsPerKindMax-1].IDs)
	}
}
