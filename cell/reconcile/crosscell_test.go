package reconcile

import (
	"fmt"
	"strings"
	"testing"
)

func summary(cell uint64, currency string, sent, received, inFlight int64) CellSummary {
	return CellSummary{CellID: cell, Currencies: map[string]CurrencyTotals{currency: {SentMinor: sent, ReceivedMinor: received, InFlightMinor: inFlight}}}
}

func TestCrossCell(t *testing.T) {
	for _, tc := range []struct {
		name      string
		summaries []CellSummary
		want      string // kinds and amounts
	}{
		{"balanced", []CellSummary{summary(1, "CNY", 500, 20, 0), summary(2, "CNY", 20, 500, 0)}, "[]"},
		{"no cells", nil, "[]"},
		{"a credit received twice", []CellSummary{summary(1, "CNY", 500, 0, 0), summary(2, "CNY", 0, 1000, 0)}, "[CrossCellImbalance 500 CNY]"},
		{"a credit lost", []CellSummary{summary(1, "CNY", 500, 0, 0), summary(2, "CNY", 0, 0, 0)}, "[CrossCellImbalance -500 CNY]"},
		// Cell 1 sent 70 in flight; cell 2 already credited it.
		{"credited, not yet recorded", []CellSummary{summary(1, "EUR", 0, 0, 70), summary(2, "EUR", 0, 70, 0)}, "[CheckSkipped 70 EUR]"},
		{"in flight beyond the bound", []CellSummary{summary(1, "EUR", 0, 0, 70), summary(2, "EUR", 0, 71, 0)}, "[CrossCellImbalance 71 EUR CheckSkipped 70 EUR]"},
		{"sent more than received while in flight", []CellSummary{summary(1, "EUR", 10, 0, 70), summary(2, "EUR", 0, 0, 0)}, "[CrossCellImbalance -10 EUR CheckSkipped 70 EUR]"},
		{"currencies apart", []CellSummary{summary(1, "EUR", 0, 0, 5), summary(2, "CNY", 3, 0, 0)}, "[CrossCellImbalance -3 CNY CheckSkipped 5 EUR]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := CrossCell(tc.summaries)
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s %d %s", f.Kind, f.AmountMinor, f.Currency))
			}
			if s := "[" + strings.Join(got, " ") + "]"; s != tc.want {
				t.Fatalf("CrossCell = %s (%+v); want %s", s, fs, tc.want)
			}
		})
	}
	fs := CrossCell([]CellSummary{summary(3, "EUR", 0, 0, 5), summary(1, "EUR", 0, 0, 2)})
	if d := fs[0].Detail; !strings.Contains(d, "not checked: 7 EUR in flight (cell 1: 2, cell 3: 5)") {
		t.Fatalf("detail %q does not say the check was skipped, and where money is in flight", d)
	}
}
