package reconcile

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CrossCell checks the cross-cell flows of every cell together, per
// currency. Every credit a cell received was sent by another cell's
// outbox, and a payer's cell counts a transfer as sent only after the
// payee's cell credited it, so at one moment
//
//	sum(sent) <= sum(received) <= sum(sent) + sum(in flight)
//
// and once no cell has money in flight, sum(sent) = sum(received). With
// nothing in flight in a currency CrossCell checks the equality; otherwise
// it checks the bounds and adds a CheckSkipped finding that says the
// equality was not checked and how much is in flight where. A violation is
// a CrossCellImbalance whose amount is received - sent.
//
// The summaries come from different cells read at different moments; under
// live cross-cell traffic a transfer can move between two reads, so the
// caller confirms a CrossCellImbalance on a second round (or after traffic
// drained) before alerting. summaries should cover every cell: a missing
// cell's flows are missing from the sums.
func CrossCell(summaries []CellSummary) []Finding {
	type flows struct {
		sent, received, inFlight int64
		inFlightCells            []string
	}
	byCurrency := map[string]*flows{}
	for _, s := range summaries {
		for cur, t := range s.Currencies {
			f := byCurrency[cur]
			if f == nil {
				f = &flows{}
				byCurrency[cur] = f
			}
			f.sent += t.SentMinor
			f.received += t.ReceivedMinor
			f.inFlight += t.InFlightMinor
			if t.InFlightMinor != 0 {
				f.inFlightCells = append(f.inFlightCells, fmt.Sprintf("cell %d: %d", s.CellID, t.InFlightMinor))
			}
		}
	}
	var out []Finding
	for _, cur := range slices.Sorted(maps.Keys(byCurrency)) {
		f := byCurrency[cur]
		diff := f.received - f.sent
		if f.inFlight == 0 {
			if diff != 0 {
				out = append(out, Finding{Kind: CrossCellImbalance, AmountMinor: diff, Currency: cur,
					Detail: fmt.Sprintf("nothing in flight, but received %d %s != sent %d (received - sent = %d)", f.received, cur, f.sent, diff)})
			}
			continue
		}
		slices.Sort(f.inFlightCells)
		where := strings.Join(f.inFlightCells, ", ")
		out = append(out, Finding{Kind: CheckSkipped, AmountMinor: f.inFlight, Currency: cur,
			Detail: fmt.Sprintf("sum(sent) = sum(received) not checked: %d %s in flight (%s); checked sent <= received <= sent + in flight instead", f.inFlight, cur, where)})
		if diff < 0 || diff > f.inFlight {
			out = append(out, Finding{Kind: CrossCellImbalance, AmountMinor: diff, Currency: cur,
				Detail: fmt.Sprintf("received %d %s is outside [sent %d, sent + in flight %d] (%d in flight: %s)", f.received, cur, f.sent, f.sent+f.inFlight, f.inFlight, where)})
		}
	}
	sortFindings(out)
	return out
}
