package reconcile

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/channel"
)

// The statement window of these tests: [t0, t0 + 1h).
var from, to = t0, t0.Add(time.Hour)

func rec(id, provider string, amount int64, state pb.PayoutState, created time.Duration, failedAt ...string) *pb.PayoutRecord {
	return &pb.PayoutRecord{PayoutId: id, AccountId: "acct-" + id, AmountMinor: amount, Currency: "EUR", State: state, Provider: provider,
		FailedProviders: failedAt, CreatedAtUnixMs: ms(created), ProviderRef: "ref-" + id}
}

func paid(id string, amount int64, at time.Duration) channel.StatementEntry {
	return channel.StatementEntry{PayoutID: id, Account: "acct-" + id, AmountMinor: amount, Currency: "EUR", ProviderRef: "ref-" + id, PaidAt: t0.Add(at)}
}

const (
	succeeded = pb.PayoutState_PAYOUT_STATE_SUCCEEDED
	failed    = pb.PayoutState_PAYOUT_STATE_FAILED
	pending   = pb.PayoutState_PAYOUT_STATE_PENDING
	unknown   = pb.PayoutState_PAYOUT_STATE_UNKNOWN
)

// summarize writes each finding as "Kind id amount".
func summarize(fs []Finding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %s %d", f.Kind, strings.Join(f.IDs, ","), f.AmountMinor))
	}
	return strings.Join(parts, "\n")
}

func TestMatchStatementKinds(t *testing.T) {
	m := time.Minute
	payouts := []*pb.PayoutRecord{
		rec("po-ok", "bank-a", 100, succeeded, m),
		rec("po-missing", "bank-a", 200, succeeded, 2*m),
		rec("po-failed", "bank-a", 300, failed, 3*m),
		rec("po-amount", "bank-a", 400, succeeded, 4*m),
		rec("po-dup", "bank-a", 500, succeeded, 5*m),
		rec("po-unknown", "bank-a", 600, unknown, 6*m),
		rec("po-pending", "bank-a", 700, pending, 7*m),
		rec("po-rerouted", "bank-b", 800, succeeded, 8*m, "bank-a"),
		rec("po-other", "bank-b", 900, succeeded, 9*m),
		rec("po-currency", "bank-a", 50, succeeded, 10*m),
		rec("po-account", "bank-a", 60, succeeded, 11*m),
		rec("po-failed-quiet", "bank-a", 70, failed, 12*m),
	}
	currency := paid("po-currency", 50, 10*m)
	currency.Currency = "CNY"
	account := paid("po-account", 60, 11*m)
	account.Account = "someone-else"
	statement := []channel.StatementEntry{
		paid("po-ok", 100, m+time.Second),
		paid("po-failed", 300, 3*m),
		paid("ghost", 250, 20*m),
		paid("po-amount", 399, 4*m),
		paid("po-dup", 500, 5*m), paid("po-dup", 500, 5*m+time.Second),
		paid("po-unknown", 600, 6*m),
		paid("po-rerouted", 800, 8*m),
		currency, account,
	}
	fs := MatchStatement("bank-a", payouts, statement, from, to)
	want := strings.Join([]string{
		"MissingInLedger ghost 250",
		"MissingInLedger po-failed 300",
		"MissingInLedger po-rerouted 800",
		"DuplicateAtProvider po-dup 500",
		"AmountMismatch po-account 0",
		"AmountMismatch po-amount -1",
		"AmountMismatch po-currency 0",
		"MissingAtProvider po-missing 200",
		"Unresolved po-unknown 600",
	}, "\n")
	if got := summarize(fs); got != want {
		t.Fatalf("findings:\n%s\nwant:\n%s", got, want)
	}
	details := map[string]string{}
	for _, f := range fs {
		details[string(f.Kind)+" "+f.IDs[0]] = f.Detail
		if f.CellID != 0 || f.Currency == "" {
			t.Errorf("finding %+v: want no cell and a currency", f)
		}
	}
	for key, part := range map[string]string{
		"MissingInLedger ghost":        "the ledger has no payout with this id",
		"MissingInLedger po-failed":    `records it FAILED (reason "")`,
		"MissingInLedger po-rerouted":  "records that bank-a failed it and rerouted it to bank-b (SUCCEEDED)",
		"DuplicateAtProvider po-dup":   "bank-a paid it 2 times",
		"AmountMismatch po-amount":     `ledger 400 EUR from "acct-po-amount", bank-a paid 399 EUR`,
		"AmountMismatch po-currency":   "paid 50 CNY",
		"AmountMismatch po-account":    `to "someone-else"`,
		"MissingAtProvider po-missing": "not in bank-a's statement",
		"Unresolved po-unknown":        "UNKNOWN in the ledger, paid by bank-a",
	} {
		if !strings.Contains(details[key], part) {
			t.Errorf("%s: detail %q does not contain %q", key, details[key], part)
		}
	}
	// Unresolved is listed, not a problem.
	if r := NewReport(Coverage{}, nil, fs[len(fs)-1:]); !r.AllClear {
		t.Fatalf("a report with only an Unresolved finding is not all clear")
	}

	// The same inputs in any order give the same findings.
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rnd.Shuffle(len(payouts), func(i, j int) { payouts[i], payouts[j] = payouts[j], payouts[i] })
		rnd.Shuffle(len(statement), func(i, j int) { statement[i], statement[j] = statement[j], statement[i] })
		if again := MatchStatement("bank-a", payouts, statement, from, to); !reflect.DeepEqual(again, fs) {
			t.Fatalf("shuffled inputs gave\n%s\nwant\n%s", summarize(again), summarize(fs))
		}
	}
}

func TestMatchStatementWindow(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name      string
		payouts   []*pb.PayoutRecord
		statement []channel.StatementEntry
		want      string
	}{
		{"created at from is in", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, 0)}, nil, "MissingAtProvider p 1"},
		{"created just before from is out", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, -time.Millisecond)}, nil, ""},
		{"created at to is out", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, h)}, nil, ""},
		{"created just before to is in", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, h-time.Millisecond)}, nil, "MissingAtProvider p 1"},
		{"created in the window, paid after it", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, h-time.Millisecond)},
			[]channel.StatementEntry{paid("p", 1, h+time.Second)}, ""},
		{"created before the window, paid in it", []*pb.PayoutRecord{rec("p", "bank-a", 1, failed, -h)},
			[]channel.StatementEntry{paid("p", 1, time.Minute)}, "MissingInLedger p 1"},
		{"paid at from is in", nil, []channel.StatementEntry{paid("g", 2, 0)}, "MissingInLedger g 2"},
		{"paid at to is out", nil, []channel.StatementEntry{paid("g", 2, h)}, ""},
		{"paid before the window, created before it", []*pb.PayoutRecord{rec("p", "bank-a", 1, failed, -h)},
			[]channel.StatementEntry{paid("p", 1, -time.Minute)}, ""},
		// A duplicate belongs to the window of its first payment.
		{"duplicate first paid before the window", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, -h)},
			[]channel.StatementEntry{paid("p", 1, time.Minute), paid("p", 1, -time.Minute)}, ""},
		{"duplicate first paid in the window", []*pb.PayoutRecord{rec("p", "bank-a", 1, succeeded, -h)},
			[]channel.StatementEntry{paid("p", 1, h+time.Minute), paid("p", 1, h-time.Minute)}, "DuplicateAtProvider p 1"},
		{"three payments", []*pb.PayoutRecord{rec("p", "bank-a", 5, succeeded, time.Minute)},
			[]channel.StatementEntry{paid("p", 5, 2*time.Minute), paid("p", 5, 3*time.Minute), paid("p", 5, 4*time.Minute)}, "DuplicateAtProvider p 10"},
		{"duplicate of an unknown payout", []*pb.PayoutRecord{rec("p", "bank-a", 5, unknown, time.Minute)},
			[]channel.StatementEntry{paid("p", 5, 2*time.Minute), paid("p", 5, 3*time.Minute)}, "DuplicateAtProvider p 5\nUnresolved p 5"},
		{"other providers' payouts are not expected here", []*pb.PayoutRecord{rec("p", "bank-b", 1, succeeded, time.Minute)}, nil, ""},
		{"pending and failed payouts need not be paid", []*pb.PayoutRecord{rec("p", "bank-a", 1, pending, time.Minute), rec("q", "bank-a", 1, failed, time.Minute)}, nil, ""},
		{"a record at this provider wins over one elsewhere", []*pb.PayoutRecord{rec("p", "bank-b", 1, failed, time.Minute), rec("p", "bank-a", 1, succeeded, time.Minute)},
			[]channel.StatementEntry{paid("p", 1, 2*time.Minute)}, ""},
		{"paid by a provider the ledger never used", []*pb.PayoutRecord{rec("p", "bank-b", 1, succeeded, time.Minute)},
			[]channel.StatementEntry{paid("p", 1, 2*time.Minute)}, "MissingInLedger p 1"},
		{"nil records are skipped", []*pb.PayoutRecord{nil}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(MatchStatement("bank-a", tc.payouts, tc.statement, from, to)); got != tc.want {
				t.Fatalf("findings:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
