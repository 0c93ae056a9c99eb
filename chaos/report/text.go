package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that keep the text report to a screenful.
const (
	textEvidenceLinesMax = 5   // evidence lines per result that did not pass
	textFaultLinesMax    = 5   // fault windows listed
	textCellLinesMax     = 8   // cells listed under failover
	textNoteLinesMax     = 5   // notes listed
	textLineRunesMax     = 160 // longer free text is cut with "…"
)

// textLabelRunes is the width of the label column ("scenario", "failover").
const textLabelRunes = 10

// WriteText writes a terminal summary of r: the verdict, the scenario, seed
// and duration, operation counts, each checker with ✓ (passed), ✗ (failed)
// or ? (inconclusive) and its summary (with up to textEvidenceLinesMax
// evidence lines when it did not pass), failover times per cell,
// client-visible errors and p99 latency.
func WriteText(w io.Writer, r Run) error {
	var b bytes.Buffer
	v := r.verdict()
	fmt.Fprintf(&b, "%s  %s\n", v.Word, v.Detail)
	line(&b, "scenario", fmt.Sprintf("%s   seed %d   duration %.1fs", clean(r.Scenario), r.Seed, r.durationSeconds()))
	writeOpsText(&b, r.Ops)
	writeFaultsText(&b, r)
	writeChecksText(&b, r)
	writeFailoverText(&b, failoverSummary(r.Failovers))
	writeErrorsText(&b, r.errorSummary())
	writeLatencyText(&b, r.latencySummary())
	for i, note := range r.Notes {
		if i == textNoteLinesMax {
			line(&b, "", fmt.Sprintf("… %d more notes", len(r.Notes)-i))
			break
		}
		label := ""
		if i == 0 {
			label = "notes"
		}
		line(&b, label, clean(note))
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("report: write text: %w", err)
	}
	return nil
}

func writeOpsText(b *bytes.Buffer, ops OpCounts) {
	line(b, "ops", fmt.Sprintf("%d total: %d ok, %d fail, %d unknown, %d pending",
		ops.Total, ops.OK, ops.Fail, ops.Unknown, ops.Pending))
	if len(ops.ByKind) == 0 {
		return
	}
	kinds := make([]string, 0, len(ops.ByKind))
	for kind := range ops.ByKind {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, kind := range kinds {
		parts[i] = fmt.Sprintf("%s %d", clean(kind), ops.ByKind[kind])
	}
	line(b, "", strings.Join(parts, ", "))
}

func writeFaultsText(b *bytes.Buffer, r Run) {
	windows := faultWindows(r.Events, r.endNs())
	spans := make([]string, 0, textFaultLinesMax)
	spanRunes := 0
	for _, f := range windows[:min(len(windows), textFaultLinesMax)] {
		end := fmt.Sprintf("%.1fs", r.offsetSeconds(f.EndNs))
		if f.Open {
			end = "end (never healed)"
		}
		span := fmt.Sprintf("%.1fs–%s", r.offsetSeconds(f.StartNs), end)
		spans = append(spans, span)
		spanRunes = max(spanRunes, utf8.RuneCountInString(span))
	}
	for i, span := range spans {
		label := ""
		if i == 0 {
			label = "faults"
		}
		line(b, label, padRight(span, spanRunes)+"  "+clean(windows[i].Label()))
	}
	if left := len(windows) - len(spans); left > 0 {
		line(b, "", fmt.Sprintf("… %d more faults", left))
	}
}

func writeChecksText(b *bytes.Buffer, r Run) {
	if len(r.Results) == 0 {
		line(b, "checks", "none")
		return
	}
	b.WriteString("checks\n")
	nameRunes := 0
	for _, res := range r.Results {
		nameRunes = max(nameRunes, utf8.RuneCountInString(clean(res.Name)))
	}
	for _, res := range r.Results {
		mark := "✓"
		switch {
		case res.Inconclusive:
			mark = "?"
		case !res.Pass:
			mark = "✗"
		}
		fmt.Fprintf(b, "  %s %s  %s\n", mark, padRight(clean(res.Name), nameRunes), clean(res.Summary))
		if res.Pass && !res.Inconclusive {
			continue
		}
		for i, ev := range res.Evidence {
			if i == textEvidenceLinesMax {
				fmt.Fprintf(b, "      … %d more evidence lines (see the JSON or HTML report)\n", len(res.Evidence)-i)
				break
			}
			fmt.Fprintf(b, "      %s\n", clean(ev))
		}
	}
}

func writeFailoverText(b *bytes.Buffer, s failoverStats) {
	if s.Count == 0 {
		line(b, "failover", "none")
		return
	}
	line(b, "failover", fmt.Sprintf("%d in %d cells: p50 %.1fs, max %.1fs", s.Count, len(s.Cells), s.P50Seconds, s.MaxSeconds))
	for i, c := range s.Cells {
		if i == textCellLinesMax {
			line(b, "", fmt.Sprintf("… %d more cells", len(s.Cells)-i))
			break
		}
		line(b, "", fmt.Sprintf("cell %-4d %d×  p50 %.1fs  max %.1fs  %s", c.Cell, c.Count, c.P50Seconds, c.MaxSeconds, clean(c.Route)))
	}
}

func writeErrorsText(b *bytes.Buffer, e errorStats) {
	text := fmt.Sprintf("%d client-visible (unknown) of %d ops (%.2f%%)", e.UnknownOps, e.TotalOps, e.UnknownPercent)
	if e.SecondsWithUnknown > 0 {
		text += fmt.Sprintf(", in %d s, peak %d/s at %ds", e.SecondsWithUnknown, e.PeakPerSecond, e.PeakAtSeconds)
	}
	line(b, "errors", text)
}

func writeLatencyText(b *bytes.Buffer, l latencyStats) {
	if l.Seconds == 0 {
		line(b, "p99", "no latency data")
		return
	}
	line(b, "p99", fmt.Sprintf("typical %s ms (median second), worst %s ms at %ds",
		formatMs(l.P99MedianMs), formatMs(l.P99MaxMs), l.P99MaxAtSecond))
}

// line writes one labelled line of the text report.
func line(b *bytes.Buffer, label, text string) {
	fmt.Fprintf(b, "%s%s\n", padRight(label, textLabelRunes), text)
}

// endNs is the end of the run for open fault windows: EndNs, or the end of
// the last second when EndNs is not set.
func (r Run) endNs() int64 {
	if r.EndNs > r.StartNs {
		return r.EndNs
	}
	return r.StartNs + int64(r.durationSeconds()*nsPerSecond)
}

func formatMs(ms float64) string {
	if ms >= 100 {
		return fmt.Sprintf("%.0f", ms)
	}
	return fmt.Sprintf("%.1f", ms)
}

func padRight(s string, runes int) string {
	if n := utf8.RuneCountInString(s); n < runes {
		return s + strings.Repeat(" ", runes-n)
	}
	return s
}

// clean makes free text safe for one terminal line: control characters
// (newlines, escape sequences) become spaces, and long text is cut.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > textLineRunesMax {
		s = string([]rune(s)[:textLineRunesMax-1]) + "…"
	}
	return s
}
