package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cellpay/cellpay/chaos/history"
)

// The figures both the text and the HTML report show, derived from a Run.

const nsPerSecond = 1e9

// verdict is the headline of a run.
type verdict struct {
	Pass   bool
	Word   string // "PASS" or "FAIL"
	Detail string // e.g. "all 5 checks passed"

	Passed, Failed, Inconclusive int
}

func (r Run) verdict() verdict {
	v := verdict{Pass: r.Pass(), Word: "FAIL"}
	for _, res := range r.Results {
		switch {
		case res.Inconclusive:
			v.Inconclusive++
		case res.Pass:
			v.Passed++
		default:
			v.Failed++
		}
	}
	total := len(r.Results)
	switch {
	case total == 0:
		v.Detail = "no checker results: nothing was proven"
	case v.Pass:
		v.Word = "PASS"
		v.Detail = fmt.Sprintf("all %d checks passed", total)
	default:
		var parts []string
		if v.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d failed", v.Failed))
		}
		if v.Inconclusive > 0 {
			parts = append(parts, fmt.Sprintf("%d inconclusive", v.Inconclusive))
		}
		v.Detail = fmt.Sprintf("%d of %d checks did not pass: %s",
			v.Failed+v.Inconclusive, total, strings.Join(parts, ", "))
	}
	return v
}

// durationSeconds is the length of the run: EndNs-StartNs when both are
// set, otherwise the seconds covered by Seconds.
func (r Run) durationSeconds() float64 {
	if r.EndNs > r.StartNs {
		return float64(r.EndNs-r.StartNs) / nsPerSecond
	}
	last := 0
	for _, s := range r.Seconds {
		last = max(last, s.Offset+1)
	}
	return float64(last)
}

// offsetSeconds converts a Unix nanosecond time to seconds since StartNs.
func (r Run) offsetSeconds(ns int64) float64 {
	return float64(ns-r.StartNs) / nsPerSecond
}

// faultWindow is one fault, from its fault-start to the matching fault-end
// (same Detail), or to the end of the run when it never ended.
type faultWindow struct {
	Detail, Site   string
	StartNs, EndNs int64
	Open           bool // no matching fault-end
}

// Label names the fault for people: its Detail, with the site when the
// Detail does not already say it.
func (f faultWindow) Label() string {
	label := f.Detail
	if label == "" {
		label = "fault"
	}
	if f.Site != "" && !strings.Contains(label, f.Site) {
		label += " @ " + f.Site
	}
	return label
}

// faultWindows pairs fault-starts with fault-ends. Each fault-end closes the
// earliest open window with the same Detail; a fault-end without one is
// ignored. Windows still open run to endNs (or start when endNs is earlier).
func faultWindows(events []history.Event, endNs int64) []faultWindow {
	sorted := append([]history.Event(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At < sorted[j].At })
	var windows []faultWindow
	for _, e := range sorted {
		switch e.Kind {
		case history.EventFaultStart:
			windows = append(windows, faultWindow{Detail: e.Detail, Site: e.Site, StartNs: e.At, Open: true})
		case history.EventFaultEnd:
			for i := range windows {
				if windows[i].Open && windows[i].Detail == e.Detail {
					windows[i].EndNs, windows[i].Open = e.At, false
					break
				}
			}
		}
	}
	for i := range windows {
		if windows[i].Open {
			windows[i].EndNs = max(endNs, windows[i].StartNs)
		}
	}
	return windows
}

// failoverStats summarizes the failovers of a run, overall and per cell.
type failoverStats struct {
	Count                  int
	P50Seconds, MaxSeconds float64
	Cells                  []cellFailovers // by cell id
}

// cellFailovers summarizes the failovers of one cell.
type cellFailovers struct {
	Cell                   uint64
	Count                  int
	P50Seconds, MaxSeconds float64
	Route                  string // sites in order, e.g. "hz-a→hz-b→hz-a"
}

// routeHopsMax bounds the sites named in a cell's route.
const routeHopsMax = 6

func failoverSummary(failovers []history.Failover) failoverStats {
	stats := failoverStats{Count: len(failovers)}
	if len(failovers) == 0 {
		return stats
	}
	all := make([]float64, 0, len(failovers))
	byCell := make(map[uint64][]history.Failover)
	for _, f := range failovers {
		all = append(all, f.Seconds)
		byCell[f.Cell] = append(byCell[f.Cell], f)
	}
	stats.P50Seconds, stats.MaxSeconds = median(all), maxOf(all)
	for cell, fs := range byCell {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].StartNs < fs[j].StartNs })
		durations := make([]float64, len(fs))
		sites := []string{fs[0].FromSite}
		for i, f := range fs {
			durations[i] = f.Seconds
			sites = append(sites, f.ToSite)
		}
		route := strings.Join(sites, "→")
		if len(sites) > routeHopsMax {
			route = strings.Join(sites[:routeHopsMax], "→") + "→…"
		}
		stats.Cells = append(stats.Cells, cellFailovers{
			Cell: cell, Count: len(fs), P50Seconds: median(durations), MaxSeconds: maxOf(durations), Route: route,
		})
	}
	sort.Slice(stats.Cells, func(i, j int) bool { return stats.Cells[i].Cell < stats.Cells[j].Cell })
	return stats
}

// errorStats describes the client-visible errors (unknown outcomes).
type errorStats struct {
	UnknownOps, TotalOps int     // from Ops
	UnknownInSeconds     int     // from Seconds, by completion time
	SecondsWithUnknown   int     // seconds with at least one unknown
	PeakPerSecond        int     // most unknowns in one second
	PeakAtSeconds        int     // offset of the first such second
	UnknownPercent       float64 // of TotalOps; 0 without ops
}

func (r Run) errorSummary() errorStats {
	e := errorStats{UnknownOps: r.Ops.Unknown, TotalOps: r.Ops.Total}
	for _, s := range r.Seconds {
		e.UnknownInSeconds += s.Unknown
		if s.Unknown > 0 {
			e.SecondsWithUnknown++
		}
		if s.Unknown > e.PeakPerSecond {
			e.PeakPerSecond, e.PeakAtSeconds = s.Unknown, s.Offset
		}
	}
	if e.TotalOps > 0 {
		e.UnknownPercent = 100 * float64(e.UnknownOps) / float64(e.TotalOps)
	}
	return e
}

// latencyStats describes the per-second p99 latencies.
type latencyStats struct {
	Seconds        int     // seconds with completions and a p99
	P99MedianMs    float64 // the typical second
	P99MaxMs       float64 // the worst second
	P99MaxAtSecond int     // its offset
}

func (r Run) latencySummary() latencyStats {
	var l latencyStats
	var p99s []float64
	for _, s := range r.Seconds {
		if !hasLatency(s) {
			continue
		}
		p99s = append(p99s, s.P99Ms)
		if s.P99Ms > l.P99MaxMs {
			l.P99MaxMs, l.P99MaxAtSecond = s.P99Ms, s.Offset
		}
	}
	l.Seconds = len(p99s)
	l.P99MedianMs = median(p99s)
	return l
}

// hasLatency: a second's percentiles mean something only when operations
// completed in it.
func hasLatency(s history.Second) bool {
	return s.OK+s.Fail+s.Unknown > 0 && s.P99Ms > 0
}

// median is the nearest-rank 50th percentile (the lower middle of an even
// count), 0 for no values.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	return sorted[(len(sorted)-1)/2]
}

func maxOf(values []float64) float64 {
	m := 0.0
	for _, v := range values {
		m = max(m, v)
	}
	return m
}
