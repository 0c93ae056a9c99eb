package reconcile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("WriteText differs from %s (go test -update rewrites it once the diff is understood):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func sampleCoverage() Coverage {
	return Coverage{
		Cells:       []uint64{1, 2},
		IndexRanges: map[uint64]IndexRange{1: {From: 1, To: 1042}, 2: {From: 7, To: 311}},
		From:        from, To: to,
		Providers: []string{"bank-a", "bank-b"},
		Duration:  1234567 * time.Microsecond,
	}
}

func sampleSummaries() []CellSummary {
	return []CellSummary{
		{CellID: 2, Accounts: 1, Transfers: map[string]int{"COMPLETED": 3}, Payouts: map[string]int{},
			Currencies: map[string]CurrencyTotals{"CNY": {BalancesMinor: 540, DepositedMinor: 500, ReceivedMinor: 40}}},
		{CellID: 1, Accounts: 2, Transfers: map[string]int{"COMPLETED": 9, "IN_FLIGHT": 1}, Payouts: map[string]int{"SUCCEEDED": 2, "UNKNOWN": 1},
			Outbox: 1, WorkItems: 1,
			Currencies: map[string]CurrencyTotals{
				"CNY": {BalancesMinor: 8_700, DepositedMinor: 10_000, SentMinor: 40, InFlightMinor: 60, HeldMinor: 200, PaidOutMinor: 1_000},
				"EUR": {BalancesMinor: 5, DepositedMinor: 5},
			}},
	}
}

func sampleFindings() []Finding {
	fs := []Finding{
		{Kind: StuckTransfer, CellID: 1, IDs: []string{"x-7"}, AmountMinor: 60, Currency: "CNY", Age: 42 * time.Minute, Detail: `credit to cell 2 not settled: "alice" -> "far", debited 42m0s ago`},
		{Kind: Unresolved, IDs: []string{"po-9"}, AmountMinor: 200, Currency: "CNY", Detail: "UNKNOWN in the ledger, paid by bank-a at 2026-03-01T12:05:00Z (ref \"r9\"): the next query settles it"},
		{Kind: NotConserved, CellID: 2, AmountMinor: -3, Currency: "CNY", Detail: "balances 537, want deposited 500 + received 40 - sent 0 - in flight 0 - held 0 - paid out 0 = 540 (off by -3)"},
		{Kind: MissingInLedger, IDs: []string{"po-2"}, AmountMinor: 300, Currency: "CNY", Detail: "bank-a paid 300 CNY to \"bob\" (ref \"r2\"), but the ledger records it FAILED (reason \"closed\x1b[31m\") and released the funds"},
		{Kind: DuplicateAtProvider, IDs: []string{"po-3"}, AmountMinor: 500, Currency: "CNY", Detail: "bank-a paid it 2 times"},
		{Kind: ReplicaMismatch, CellID: 1, IDs: []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7"}, Detail: "digests differ at applied index 1042; first differing range a/ to a/m"},
		{Kind: CheckSkipped, AmountMinor: 60, Currency: "CNY", Detail: "sum(sent) = sum(received) not checked: 60 CNY in flight (cell 1: 60)"},
	}
	for i := range 12 {
		fs = append(fs, Finding{Kind: BelowLimit, CellID: 1, IDs: []string{fmt.Sprintf("acct-%02d", i)}, AmountMinor: int64(-i - 1), Currency: "EUR", Detail: "balance below zero without allow_negative_balance"})
	}
	return fs
}

func TestReportText(t *testing.T) {
	for _, tc := range []struct {
		name     string
		report   Report
		allClear bool
	}{
		{"all_clear.golden", NewReport(sampleCoverage(), sampleSummaries(), nil), true},
		{"only_notes.golden", NewReport(sampleCoverage(), sampleSummaries(), sampleFindings()[1:2]), true},
		{"findings.golden", NewReport(sampleCoverage(), sampleSummaries(), sampleFindings()), false},
		{"empty.golden", NewReport(Coverage{}, nil, nil), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.report.AllClear != tc.allClear {
				t.Fatalf("AllClear = %v, want %v", tc.report.AllClear, tc.allClear)
			}
			var b bytes.Buffer
			if err := tc.report.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsRune(b.Bytes(), 0x1b) {
				t.Fatalf("the text carries a terminal escape:\n%s", b.Bytes())
			}
			checkGolden(t, tc.name, b.Bytes())
		})
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	r := NewReport(sampleCoverage(), sampleSummaries(), sampleFindings())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("JSON round trip changed the report:\n%+v\nwant\n%+v", back, r)
	}
	// The field names scripts rely on.
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	covered := raw["covered"].(map[string]any)
	first := raw["findings"].([]any)[0].(map[string]any)
	if raw["all_clear"] != false || covered["duration_ns"] != float64(1234567000) || covered["index_ranges"].(map[string]any)["1"] == nil ||
		first["kind"] != "NotConserved" || first["cell_id"] != float64(2) || first["amount_minor"] != float64(-3) {
		t.Fatalf("unexpected JSON: %s", b)
	}
}

func TestNewReportSorts(t *testing.T) {
	fs := sampleFindings()
	r := NewReport(sampleCoverage(), sampleSummaries(), fs)
	if r.Summaries[0].CellID != 1 || r.Findings[0].Kind != NotConserved || r.Findings[len(r.Findings)-1].Kind != CheckSkipped {
		t.Fatalf("report not sorted: cells %d.., findings %v", r.Summaries[0].CellID, kindsOf(r.Findings))
	}
	if fs[0].Kind != StuckTransfer {
		t.Fatal("NewReport reordered the caller's slice")
	}
	if r.Problems() != len(fs)-2 {
		t.Fatalf("Problems() = %d, want %d", r.Problems(), len(fs)-2)
	}
}
