package demo

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
	"github.com/cellpay/cellpay/cell/reconcile"
	"github.com/cellpay/cellpay/cell/topology"
	"github.com/cellpay/cellpay/chaos/check"
	"github.com/cellpay/cellpay/chaos/history"
	"github.com/cellpay/cellpay/chaos/report"
	"github.com/cellpay/cellpay/router/control"
)

// NameReconciliation is the check the demo adds to the chaos report: the
// reconciliation of every cell after the story.
const NameReconciliation = "reconciliation"

// summaryLineRunesMax keeps the summary's check lines on a terminal; the
// report files have the full text.
const summaryLineRunesMax = 69 // after the 10-rune label

// fault is the first fault of a run that names a site: when it started
// and was repaired (zero if never), and where.
type fault struct {
	site              string
	startNs, repairNs int64
}

// firstFault finds the first fault-start event with a site and its end.
func firstFault(events []history.Event) (fault, bool) {
	for i, e := range events {
		if e.Kind != history.EventFaultStart || e.Site == "" {
			continue
		}
		f := fault{site: e.Site, startNs: e.At}
		for _, end := range events[i+1:] {
			if end.Kind == history.EventFaultEnd && end.Detail == e.Detail {
				f.repairNs = end.At
				break
			}
		}
		return f, true
	}
	return fault{}, false
}

// cellRTO is how long one cell could not take writes after the fault.
type cellRTO struct {
	cell    uint64
	seconds float64
}

// clientRTOs measures, as the clients saw it, how long each cell led in
// the faulted site when the fault started went without writes: from the
// fault's start to the first write (transfer or deposit) invoked after it
// and acknowledged. A cell no such write reached is left out.
func clientRTOs(ops []history.Op, events []history.Event, f fault, topo *topology.Topology) []cellRTO {
	ledIn := map[uint64]bool{}
	for _, e := range events { // in time order: the last event before the fault wins
		if e.Kind == history.EventLeader && e.At < f.startNs {
			ledIn[e.Cell] = e.Site == f.site
		}
	}
	first := map[uint64]int64{}
	for _, op := range ops {
		if op.Outcome != history.OutcomeOK || op.Invoke < f.startNs || (op.Kind != history.KindTransfer && op.Kind != history.KindDeposit) {
			continue
		}
		owner, ok := topo.CellOfAccount(op.Account)
		if !ok || !ledIn[owner.ID] {
			continue
		}
		if at, seen := first[owner.ID]; !seen || op.Done < at {
			first[owner.ID] = op.Done
		}
	}
	var out []cellRTO
	for id, at := range first {
		out = append(out, cellRTO{cell: id, seconds: float64(at-f.startNs) / 1e9})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cell < out[j].cell })
	return out
}

// controllerRTOs reads the controller's first_write events that follow the fault
// (the site suspected), one per cell, measured from the fault's start: the
// first write the routers saw acknowledged in another site. (A cell whose
// leader Raft moved before the controller suspected the site has none.)
func controllerRTOs(events []*pb.MetaEvent, f fault) []cellRTO {
	seen := map[uint64]bool{}
	var out []cellRTO
	sorted := append([]*pb.MetaEvent(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].GetAtUnixMs() < sorted[j].GetAtUnixMs() })
	for _, ev := range sorted {
		atNs := ev.GetAtUnixMs() * int64(time.Millisecond)
		if ev.GetKind() != string(control.EventFirstWrite) || ev.GetReason() != "site "+f.site+" suspected" || atNs < f.startNs || seen[ev.GetCellId()] {
			continue
		}
		seen[ev.GetCellId()] = true
		out = append(out, cellRTO{cell: ev.GetCellId(), seconds: float64(atNs-f.startNs) / 1e9})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cell < out[j].cell })
	return out
}

// percentile is the nearest-rank p-quantile (0 < p <= 1) of values.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// reconcileResult turns a reconciliation into one more check of the run.
func reconcileResult(rep reconcile.Report, err error, payouts payoutTally) history.CheckResult {
	res := history.CheckResult{Name: NameReconciliation}
	if err != nil {
		res.Inconclusive = true
		res.Summary = "could not reconcile: " + err.Error()
		return res
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text) // a bytes.Buffer does not fail
	lines := strings.Split(strings.TrimRight(text.String(), "\n"), "\n")
	res.Pass = rep.AllClear
	res.Summary = strings.TrimSuffix(lines[0], " (amounts in minor units)")
	if payouts.made > 0 {
		res.Summary += fmt.Sprintf(", %d payouts matched", payouts.made)
	}
	if !rep.AllClear {
		res.Evidence = lines[1:min(len(lines), 1+history.EvidenceMax)]
	}
	return res
}

// summary is what the story prints at the end.
type summary struct {
	pass      bool
	run       report.Run
	ops       tally
	payouts   payoutTally
	fault     fault
	hasFault  bool
	rtos      []cellRTO // clients' view
	ctlRTOs   []cellRTO // the controller's first_write events
	ctlErr    error
	homeAt    time.Time // every cell home again (zero: not seen)
	awayAtEnd int       // cells away from home at the end
	holdDown  time.Duration
	recon     reconcile.Report
	reconErr  error
	files     []string // report files
	logPath   string
	elapsed   time.Duration
}

// write prints s as a labelled block.
func (s summary) write(w io.Writer) error {
	var b bytes.Buffer
	// Lines fit a terminal, paths excepted (cut, they would be useless).
	path := func(label, p string) { fmt.Fprintf(&b, "%-10s%s\n", label, p) }
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%s\n", cut(fmt.Sprintf("%-10s%s", label, fmt.Sprintf(format, args...)), lineRunesMax))
	}
	b.WriteString("\n")
	if s.pass {
		fmt.Fprintf(&b, "PASS  every check passed and the reconciliation is all clear\n")
	} else {
		fmt.Fprintf(&b, "FAIL  %s\n", s.failure())
	}
	o := s.ops
	line("payments", "%s transfers (%s cross-cell) · %s deposits · %s payouts", grouped(o.transfers), grouped(o.crossCell), grouped(o.deposits), grouped(s.payouts.made))
	extra := fmt.Sprintf("and %s balance reads, after %s accounts were opened and funded", grouped(o.reads), grouped(o.accounts))
	line("", "%s", extra)
	if o.rejected > 0 {
		line("", "%s refused by the ledger (e.g. insufficient funds): answers, not errors", grouped(o.rejected))
	}
	if len(s.payouts.errs) > 0 {
		line("", "%d payouts failed: %v", len(s.payouts.errs), s.payouts.errs[0])
	}
	if errs := o.clientErrors() + o.pending; errs == 0 {
		line("errors", "0 client-visible errors")
	} else {
		var parts []string
		for _, p := range []struct {
			n    int
			what string
		}{{o.unknown, "unknown outcomes"}, {o.pending, "unanswered"}, {o.unavailable, "no router reachable"}, {o.readsFailed, "failed reads"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", grouped(p.n), p.what))
			}
		}
		line("errors", "%s client-visible: %s", grouped(errs), strings.Join(parts, ", "))
	}
	s.writeRTO(line)
	s.writeFailback(line)
	conservation, conserved := s.result(check.NameConservation)
	brief, _, _ := strings.Cut(conservation.Summary, " (")
	switch {
	case !conserved:
		line("money", "conserved: unknown (no conservation check)")
	case conservation.Pass:
		line("money", "conserved: yes, %s", groupNumbers(brief))
	default:
		line("money", "conserved: NO, %s", groupNumbers(brief))
	}
	s.writeChecks(line)
	switch {
	case s.reconErr != nil:
		line("reconcile", "incomplete: %v", s.reconErr)
	case s.recon.AllClear:
		matched := ""
		if s.payouts.made > 0 {
			matched = fmt.Sprintf(", %d payouts match the banks", s.payouts.made)
		}
		line("reconcile", "all clear: %d cells, replicas agree%s", len(s.recon.Covered.Cells), matched)
	default:
		line("reconcile", "NOT CLEAR: %d findings (see reconcile.txt)", s.recon.Problems())
	}
	for i, f := range s.files {
		label := ""
		if i == 0 {
			label = "report"
		}
		path(label, f)
	}
	if s.logPath != "" {
		path("log", s.logPath)
	}
	line("took", "%s", s.elapsed.Round(100*time.Millisecond))
	_, err := w.Write(b.Bytes())
	return err
}

// checksPerLine is how many check names share a summary line.
const checksPerLine = 3

// writeChecks lists every check with its mark, and the summary and first
// evidence lines of each that did not pass (the reports have the rest).
func (s summary) writeChecks(line func(label, format string, args ...any)) {
	var marks []string
	for _, res := range s.run.Results {
		marks = append(marks, checkMark(res)+" "+res.Name)
	}
	for i := 0; i < len(marks); i += checksPerLine {
		label := ""
		if i == 0 {
			label = "checks"
		}
		line(label, "%s", strings.Join(marks[i:min(i+checksPerLine, len(marks))], "   "))
	}
	for _, res := range s.run.Results {
		if res.Pass && !res.Inconclusive {
			continue
		}
		line("", "%s", cut(checkMark(res)+" "+res.Name+": "+res.Summary, summaryLineRunesMax))
		for _, ev := range res.Evidence[:min(len(res.Evidence), summaryEvidenceLinesMax)] {
			line("", "    %s", cut(ev, summaryLineRunesMax-4))
		}
	}
}

// summaryEvidenceLinesMax bounds the evidence lines shown per failed check.
const summaryEvidenceLinesMax = 3

// checkMark is ✓ (passed), ✗ (failed) or ? (could not decide).
func checkMark(res history.CheckResult) string {
	switch {
	case res.Inconclusive:
		return "?"
	case !res.Pass:
		return "✗"
	}
	return "✓"
}

func (s summary) writeRTO(line func(label, format string, args ...any)) {
	if !s.hasFault {
		line("RTO", "no site was faulted in this scenario")
		return
	}
	if len(s.rtos) > 0 {
		var secs []float64
		var parts []string
		for _, r := range s.rtos {
			secs = append(secs, r.seconds)
			parts = append(parts, fmt.Sprintf("cell %d %.1fs", r.cell, r.seconds))
		}
		cells := fmt.Sprintf("%d cells", len(s.rtos))
		if len(s.rtos) == 1 {
			cells = "cell"
		}
		line("RTO", "p50 %.1fs · p99 %.1fs for %s's %s", percentile(secs, 0.50), percentile(secs, 0.99), s.fault.site, cells)
		for i := 0; i < len(parts); i += 6 {
			line("", "%s", strings.Join(parts[i:min(i+6, len(parts))], " · "))
		}
		line("", "(from the fault to the cell's first acknowledged write)")
	} else {
		line("RTO", "no write reached a cell %s led after the fault", s.fault.site)
	}
}

func (s summary) writeFailback(line func(label, format string, args ...any)) {
	switch {
	case !s.hasFault || s.fault.repairNs == 0:
		return
	case s.awayAtEnd > 0:
		line("failback", "%d cells still away from home at the end (hold-down %s)", s.awayAtEnd, s.holdDown)
	case !s.homeAt.IsZero() && s.homeAt.UnixNano() > s.fault.repairNs:
		line("failback", "every cell home %.1fs after the repair (hold-down %s, default 10s)",
			float64(s.homeAt.UnixNano()-s.fault.repairNs)/1e9, s.holdDown)
	default:
		line("failback", "every cell leads at home")
	}
}

// failure says in one line why the story did not pass.
func (s summary) failure() string {
	var parts []string
	for _, r := range s.run.Results {
		switch {
		case r.Inconclusive:
			parts = append(parts, r.Name+" inconclusive")
		case !r.Pass:
			parts = append(parts, r.Name+" failed")
		}
	}
	if len(parts) == 0 {
		return "the run did not finish cleanly (see the notes in report.txt)"
	}
	return strings.Join(parts, ", ")
}

func (s summary) result(name string) (history.CheckResult, bool) {
	for _, r := range s.run.Results {
		if r.Name == name {
			return r, true
		}
	}
	return history.CheckResult{}, false
}

// bigNumber is a number worth thousands separators in a checker's text.
var bigNumber = regexp.MustCompile(`\b\d{5,18}\b`)

// groupNumbers puts thousands separators into the big numbers of s.
func groupNumbers(s string) string {
	return bigNumber.ReplaceAllStringFunc(s, func(n string) string {
		v, err := strconv.Atoi(n)
		if err != nil {
			return n
		}
		return grouped(v)
	})
}

// grouped writes n with thousands separators: 12,345.
func grouped(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + grouped(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
