package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

// eventRowsMax bounds the event log of the HTML report; the JSON report
// keeps every event.
const eventRowsMax = 2000

//go:embed report.html.tmpl
var reportTemplateText string

// reportTemplate is parsed once; a bad template is a programmer error that
// the tests catch.
var reportTemplate = template.Must(template.New("report").Parse(reportTemplateText))

// htmlView is everything the template shows, formatted.
type htmlView struct {
	Verdict       verdict
	Scenario      string
	Seed          int64
	Duration      string
	Started       string // UTC, RFC 3339
	Notes         []string
	Stats         []stat
	Chart         chart
	Checks        []checkRow
	Failovers     []failoverRow
	FailoverCells []cellFailovers
	FailoverLine  string
	Events        []eventRow
	EventsLeft    int // events left out of the log
}

type stat struct {
	Label, Value string
	Hint         string // tooltip
	Bad          bool   // drawn in red
}

type checkRow struct {
	Name, Word, Class, Summary string
	Evidence                   []string
}

type failoverRow struct {
	Cell                          uint64
	From, To, Start, End, Seconds string
}

type eventRow struct {
	At, Kind, Detail, Cell, Site string
	Class                        string
}

// WriteHTML writes r as one self-contained HTML page: the verdict, the
// timeline chart as inline SVG, the checker results (evidence in
// <details>), the failovers and the event log. It needs no external asset
// and no JavaScript; html/template escapes every string from r.
func WriteHTML(w io.Writer, r Run) error {
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, newHTMLView(r)); err != nil {
		return fmt.Errorf("report: render html: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

func newHTMLView(r Run) htmlView {
	v := htmlView{
		Verdict:  r.verdict(),
		Scenario: r.Scenario,
		Seed:     r.Seed,
		Duration: fmt.Sprintf("%.1fs", r.durationSeconds()),
		Notes:    r.Notes,
		Chart:    buildChart(r),
	}
	if r.StartNs != 0 {
		v.Started = time.Unix(0, r.StartNs).UTC().Format(time.RFC3339)
	}
	fo := failoverSummary(r.Failovers)
	errs := r.errorSummary()
	lat := r.latencySummary()
	v.Stats = []stat{
		{Label: "operations", Value: fmt.Sprint(r.Ops.Total)},
		{Label: "ok", Value: fmt.Sprint(r.Ops.OK)},
		{Label: "fail", Value: fmt.Sprint(r.Ops.Fail), Hint: "definite business errors (answers), e.g. insufficient funds"},
		{Label: "unknown outcomes", Hint: "no definite answer before the deadline: the errors clients saw", Value: fmt.Sprintf("%d (%.2f%%)", errs.UnknownOps, errs.UnknownPercent), Bad: errs.UnknownOps > 0},
		{Label: "pending", Hint: "never completed", Value: fmt.Sprint(r.Ops.Pending), Bad: r.Ops.Pending > 0},
		{Label: "failover p50 / max", Value: "none"},
		{Label: "p99 ms typical / worst", Value: "no data"},
	}
	if fo.Count > 0 {
		v.Stats[5].Value = fmt.Sprintf("%.1fs / %.1fs", fo.P50Seconds, fo.MaxSeconds)
		v.FailoverLine = fmt.Sprintf("%d failovers in %d cells: p50 %.1fs, max %.1fs.", fo.Count, len(fo.Cells), fo.P50Seconds, fo.MaxSeconds)
	}
	if lat.Seconds > 0 {
		v.Stats[6].Value = fmt.Sprintf("%s / %s", formatMs(lat.P99MedianMs), formatMs(lat.P99MaxMs))
	}
	v.FailoverCells = fo.Cells
	for _, res := range r.Results {
		row := checkRow{Name: res.Name, Word: "PASS", Class: "pass", Summary: res.Summary, Evidence: res.Evidence}
		switch {
		case res.Inconclusive:
			row.Word, row.Class = "INCONCLUSIVE", "inconclusive"
		case !res.Pass:
			row.Word, row.Class = "FAIL", "fail"
		}
		v.Checks = append(v.Checks, row)
	}
	failovers := append([]history.Failover(nil), r.Failovers...)
	sort.SliceStable(failovers, func(i, j int) bool { return failovers[i].StartNs < failovers[j].StartNs })
	for _, f := range failovers {
		v.Failovers = append(v.Failovers, failoverRow{
			Cell: f.Cell, From: f.FromSite, To: f.ToSite,
			Start:   fmt.Sprintf("%.2fs", r.offsetSeconds(f.StartNs)),
			End:     fmt.Sprintf("%.2fs", r.offsetSeconds(f.EndNs)),
			Seconds: fmt.Sprintf("%.2fs", f.Seconds),
		})
	}
	events := append([]history.Event(nil), r.Events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].At < events[j].At })
	for i, e := range events {
		if i == eventRowsMax {
			v.EventsLeft = len(r.Events) - i
			break
		}
		row := eventRow{At: fmt.Sprintf("%.3fs", r.offsetSeconds(e.At)), Kind: e.Kind, Detail: e.Detail, Site: e.Site}
		if e.Cell != 0 {
			row.Cell = fmt.Sprint(e.Cell)
		}
		switch e.Kind {
		case history.EventFaultStart, history.EventFaultEnd:
			row.Class = "fault"
		case history.EventPhase:
			row.Class = "phase"
		}
		v.Events = append(v.Events, row)
	}
	return v
}
