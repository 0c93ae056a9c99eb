package reconcile

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
)

// IndexRange is the span of a cell's Raft log a reconciliation covered:
// the state checked is the one at applied index To; From is the first index
// not covered by the previous reconciliation (1 for the first).
type IndexRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Coverage says what a reconciliation looked at and how long it took.
type Coverage struct {
	Cells       []uint64              `json:"cells"`
	IndexRanges map[uint64]IndexRange `json:"index_ranges,omitempty"`
	// From and To bound the window of the statement matching, [From, To).
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Providers []string  `json:"providers,omitempty"`
	// Duration is how long the reconciliation took, start to report.
	Duration time.Duration `json:"duration_ns"`
}

// Report is the result of one reconciliation: what it covered, each cell's
// summary and every finding. AllClear is true when no finding is a problem
// (Kind.Problem); NewReport computes it.
type Report struct {
	Covered   Coverage      `json:"covered"`
	Summaries []CellSummary `json:"summaries"`
	Findings  []Finding     `json:"findings"`
	AllClear  bool          `json:"all_clear"`
}

// NewReport assembles a report: summaries sorted by cell, findings sorted
// (as every function of this package sorts them), AllClear computed.
func NewReport(covered Coverage, summaries []CellSummary, findings []Finding) Report {
	summaries = slices.Clone(summaries)
	slices.SortStableFunc(summaries, func(a, b CellSummary) int { return cmp.Compare(a.CellID, b.CellID) })
	findings = slices.Clone(findings)
	sortFindings(findings)
	r := Report{Covered: covered, Summaries: summaries, Findings: findings}
	r.AllClear = r.Problems() == 0
	return r
}

// Problems counts the findings that are problems.
func (r Report) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind.Problem() {
			n++
		}
	}
	return n
}

// Limits that keep the text report to a screenful; the JSON report has
// everything.
const (
	textFindingsPerKindMax = 10  // findings listed per kind
	textIDsMax             = 5   // ids listed per finding
	textCellLinesMax       = 20  // cells listed in the summary
	textDetailRunesMax     = 240 // longer details are cut with "…"
)

// WriteText writes a terminal summary of r: "all clear", or the problems
// grouped by kind with their counts, each with its cell, ids, amount (minor
// units), age and detail; then what is listed but not a problem
// (Unresolved, CheckSkipped); then what the reconciliation covered, how
// long it took, and each cell's counts and totals.
func (r Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	problems := r.Problems()
	if problems == 0 {
		fmt.Fprintf(&b, "all clear: no problem found in %s (amounts in minor units)\n", plural(len(r.Covered.Cells), "cell"))
	} else {
		fmt.Fprintf(&b, "NOT CLEAR: %d findings in %s (amounts in minor units)\n", problems, plural(len(r.kinds(true)), "kind"))
		writeKinds(&b, r.Findings, r.kinds(true))
	}
	if kinds := r.kinds(false); len(kinds) > 0 {
		fmt.Fprintf(&b, "listed, not problems: %d\n", len(r.Findings)-problems)
		writeKinds(&b, r.Findings, kinds)
	}
	r.writeCovered(&b)
	r.writeCells(&b)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reconcile: write text: %w", err)
	}
	return nil
}

// kinds lists the kinds of the findings that are (or are not) problems, in
// report order.
func (r Report) kinds(problem bool) []Kind {
	seen := map[Kind]bool{}
	for _, f := range r.Findings {
		if f.Kind.Problem() == problem {
			seen[f.Kind] = true
		}
	}
	kinds := slices.Collect(maps.Keys(seen))
	slices.SortFunc(kinds, func(a, b Kind) int {
		return cmp.Or(cmp.Compare(a.rank(), b.rank()), strings.Compare(string(a), string(b)))
	})
	return kinds
}

func writeKinds(b *bytes.Buffer, findings []Finding, kinds []Kind) {
	for _, k := range kinds {
		var of []Finding
		for _, f := range findings {
			if f.Kind == k {
				of = append(of, f)
			}
		}
		fmt.Fprintf(b, "  %s %d\n", clean(string(k), 40), len(of))
		for i, f := range of {
			if i == textFindingsPerKindMax {
				fmt.Fprintf(b, "    … %d more (see the JSON report)\n", len(of)-i)
				break
			}
			b.WriteString("    " + findingLine(f) + "\n")
		}
	}
}

func findingLine(f Finding) string {
	var parts []string
	if f.CellID != 0 {
		parts = append(parts, fmt.Sprintf("cell %d", f.CellID))
	}
	if len(f.IDs) > 0 {
		ids := make([]string, 0, textIDsMax+1)
		for i, id := range f.IDs {
			if i == textIDsMax {
				ids = append(ids, fmt.Sprintf("… %d more", len(f.IDs)-i))
				break
			}
			ids = append(ids, clean(id, 80))
		}
		parts = append(parts, strings.Join(ids, ", "))
	}
	if f.AmountMinor != 0 || f.Currency != "" {
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("%d %s", f.AmountMinor, clean(f.Currency, 8))))
	}
	if f.Age != 0 {
		parts = append(parts, "age "+f.Age.Round(time.Second).String())
	}
	parts = append(parts, clean(f.Detail, textDetailRunesMax))
	return strings.Join(parts, "  ")
}

func (r Report) writeCovered(b *bytes.Buffer) {
	c := r.Covered
	cells := make([]string, len(c.Cells))
	for i, id := range c.Cells {
		cells[i] = fmt.Sprint(id)
	}
	fmt.Fprintf(b, "covered   cells %s\n", orNone(strings.Join(cells, ", ")))
	if len(c.IndexRanges) > 0 {
		var spans []string
		for _, id := range slices.Sorted(maps.Keys(c.IndexRanges)) {
			ir := c.IndexRanges[id]
			spans = append(spans, fmt.Sprintf("cell %d %d–%d", id, ir.From, ir.To))
		}
		fmt.Fprintf(b, "          applied indexes %s\n", strings.Join(spans, ", "))
	}
	if !c.From.IsZero() || !c.To.IsZero() {
		fmt.Fprintf(b, "          payouts from %s to %s\n", c.From.UTC().Format(time.RFC3339), c.To.UTC().Format(time.RFC3339))
	}
	providers := make([]string, len(c.Providers))
	for i, p := range c.Providers {
		providers[i] = clean(p, 64)
	}
	fmt.Fprintf(b, "          providers %s\n", orNone(strings.Join(providers, ", ")))
	fmt.Fprintf(b, "took      %s\n", c.Duration.Round(time.Millisecond))
}

func (r Report) writeCells(b *bytes.Buffer) {
	for i, s := range r.Summaries {
		if i == textCellLinesMax {
			fmt.Fprintf(b, "          … %d more cells (see the JSON report)\n", len(r.Summaries)-i)
			break
		}
		label := "          "
		if i == 0 {
			label = "cells     "
		}
		fmt.Fprintf(b, "%scell %d: %s; transfers %s; payouts %s; outbox %d, work items %d\n", label, s.CellID,
			plural(s.Accounts, "account"), counts(s.Transfers), counts(s.Payouts), s.Outbox, s.WorkItems)
		for _, cur := range slices.Sorted(maps.Keys(s.Currencies)) {
			t := s.Currencies[cur]
			fmt.Fprintf(b, "            %s balances %d = deposited %d + received %d - sent %d - in flight %d - held %d - paid out %d\n",
				clean(cur, 8), t.BalancesMinor, t.DepositedMinor, t.ReceivedMinor, t.SentMinor, t.InFlightMinor, t.HeldMinor, t.PaidOutMinor)
		}
	}
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", clean(k, 40), m[k]))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// clean makes free text safe for a terminal (control characters, which a
// provider's reason could carry, become '?') and cuts it to runesMax.
func clean(s string, runesMax int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == runesMax {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
