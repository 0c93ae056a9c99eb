package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/cellpay/cellpay/chaos/history"
)

// The timeline chart: pure geometry from a Run, drawn by the HTML template
// as inline SVG. Three panels share the x axis (seconds since start):
// throughput with client-visible errors, p99 latency, and a lane of fault
// windows and failovers. Fault windows are shaded across all three;
// failover ends are vertical ticks.

// Layout, in SVG user units (CSS pixels at a 1200 px wide window).
const (
	chartWidthPx        = 1140
	plotLeftPx          = 76            // y tick labels and the rotated axis title
	plotRightMarginPx   = 68            // the right (unknown/s) axis
	panelTitlePx        = 44            // space above a panel for its title and legend
	throughputHeightPx  = 210           //
	latencyHeightPx     = 150           //
	laneRowPx           = 22            // one fault or failover per row
	lanePaddingPx       = 8             // above the first and below the last row
	xAxisPx             = 48            // tick labels and the axis title
	charWidthPx         = 7.0           // estimated width of a 12 px label character
	xTicksMax           = 13            // at most this many x ticks
	yTicksTarget        = 5             // about this many y ticks
	chartPointsMax      = 500           // seconds beyond this are merged into buckets
	chartSecondsMax     = 7 * 24 * 3600 // later offsets are not drawn
	laneFaultRowsMax    = 6             // fault windows drawn in the lane
	laneFailoverRowsMax = 12            // failovers drawn in the lane
	failoverLinesMax    = 200           // failover ticks drawn across the panels
)

type chart struct {
	Width, Height       px
	PlotLeft, PlotRight px
	PlotWidth           px
	LeftLabelX          px // left y tick labels end here
	RightLabelX         px // right y tick labels start here
	LeftTitleX          px // rotated axis titles
	RightTitleX         px
	Frames              []frame // panel backgrounds
	Legends             []legendItem
	PlotTop             px // top of the first panel
	PlotBottom          px // bottom of the lane
	XTicks              []tick
	XLabelY, XTitleY    px
	XTitleX             px
	Throughput          panel
	Latency             panel
	Lane                lane
	Faults              []band  // shading across all panels
	FailoverLines       []vline // failover ends across the data panels
	BucketSeconds       int     // >1 when seconds were merged to fit
}

// px is a length or coordinate in SVG user units; it prints with at most
// one decimal, which keeps the page small and its numbers readable.
type px float64

func (p px) String() string {
	return strconv.FormatFloat(math.Round(float64(p)*10)/10, 'f', -1, 64)
}

type frame struct{ Y, H, Bottom px }

// legendItem is a swatch (by Kind: "ok", "unknown", "p99", "fault",
// "failover") and its text, or a panel title when Kind is "title".
type legendItem struct {
	Kind  string
	X, Y  px // swatch left and text baseline
	TextX px
	Text  string
	// Swatch geometry: 20 px wide, 12 px high, ending 1 px under the
	// baseline.
	SwatchRight, SwatchMidX, SwatchMidY, SwatchTop, SwatchBottom px
}

type tick struct {
	Pos   px // x or y
	Label string
}

type panel struct {
	Top, Bottom, Height px
	TitleY              px
	MidY                px       // for the rotated axis title and empty notice
	YTicks              []tick   // left axis
	RightTicks          []tick   // right axis (throughput: unknown/s)
	Line                []string // polylines (points attributes); gaps split them
	Bars                []bar
	Empty               bool // no data to draw
}

type bar struct {
	X, Y, W, H px
	Title      string
}

type band struct {
	X, W, Y, H px
	Title      string
}

type vline struct {
	X, Y1, Y2 px
	Title     string
}

type lane struct {
	Top, Bottom, Height px
	TitleY, MidY        px
	Rows                []laneRow
	More                string // rows left out
	MoreY               px
}

type laneRow struct {
	Fault      bool // a fault window; otherwise a failover
	Y          px   // row center
	Top        px   // of the fault bar and the failover tick
	Bottom     px
	X1, X2, W  px
	Label      string
	LabelX     px
	LabelStart bool // text-anchor start (else end)
	Title      string
}

func buildChart(r Run) chart {
	c := chart{
		Width:     chartWidthPx,
		PlotLeft:  plotLeftPx,
		PlotRight: chartWidthPx - plotRightMarginPx,
	}
	c.PlotWidth = c.PlotRight - c.PlotLeft
	c.LeftLabelX, c.RightLabelX = c.PlotLeft-8, c.PlotRight+8
	c.LeftTitleX, c.RightTitleX = 18, chartWidthPx-16
	seconds, bucket := bucketSeconds(denseSeconds(r.Seconds))
	c.BucketSeconds = bucket
	xMaxS := math.Max(r.durationSeconds(), float64(len(seconds)*bucket))
	if xMaxS <= 0 {
		xMaxS = 1
	}
	x := func(offsetS float64) px {
		offsetS = math.Min(math.Max(offsetS, 0), xMaxS)
		return c.PlotLeft + px(offsetS/xMaxS)*c.PlotWidth
	}

	y := px(0)
	c.Throughput, y = newPanel(y, throughputHeightPx)
	c.PlotTop = c.Throughput.Top
	c.Latency, y = newPanel(y, latencyHeightPx)
	fillThroughput(&c.Throughput, seconds, bucket, x)
	fillLatency(&c.Latency, seconds, bucket, x)

	faults := faultWindows(r.Events, r.endNs())
	c.Lane = buildLane(r, y, faults, x, c.PlotRight)
	c.PlotBottom = c.Lane.Bottom
	c.XLabelY = c.PlotBottom + 18
	c.XTitleY = c.PlotBottom + 40
	c.XTitleX = (c.PlotLeft + c.PlotRight) / 2
	c.Height = c.PlotBottom + xAxisPx
	c.Frames = []frame{
		{Y: c.Throughput.Top, H: c.Throughput.Height, Bottom: c.Throughput.Bottom},
		{Y: c.Latency.Top, H: c.Latency.Height, Bottom: c.Latency.Bottom},
		{Y: c.Lane.Top, H: c.Lane.Height, Bottom: c.Lane.Bottom},
	}
	c.Legends = legends(c)

	for _, t := range xTicks(xMaxS) {
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: formatOffset(t, xMaxS)})
	}
	for _, f := range faults {
		x1, x2 := x(r.offsetSeconds(f.StartNs)), x(r.offsetSeconds(f.EndNs))
		c.Faults = append(c.Faults, band{
			X: x1, W: max(x2-x1, 2), Y: c.PlotTop, H: c.PlotBottom - c.PlotTop,
			Title: fmt.Sprintf("%s: %s", f.Label(), spanText(r, f)),
		})
	}
	for i, f := range r.Failovers {
		if i == failoverLinesMax {
			break
		}
		// The lane marks each failover on its own row; a line through
		// the lane would cross the other rows' labels.
		c.FailoverLines = append(c.FailoverLines, vline{
			X: x(r.offsetSeconds(f.EndNs)), Y1: c.PlotTop, Y2: c.Latency.Bottom,
			Title: failoverText(f),
		})
	}
	return c
}

// legends are the panel titles and their swatches, laid out left to right.
func legends(c chart) []legendItem {
	var items []legendItem
	row := func(y px, title string, entries ...[2]string) {
		items = append(items, legendItem{Kind: "title", TextX: c.PlotLeft, Y: y, Text: title})
		x := c.PlotLeft + px(len([]rune(title)))*8.5 + 24
		for _, e := range entries {
			items = append(items, legendItem{
				Kind: e[0], X: x, Y: y, TextX: x + 26, Text: e[1],
				SwatchRight: x + 20, SwatchMidX: x + 10, SwatchMidY: y - 4, SwatchTop: y - 11, SwatchBottom: y + 1,
			})
			x += 26 + px(len([]rune(e[1])))*charWidthPx + 28
		}
	}
	row(c.Throughput.TitleY, "Throughput and client-visible errors",
		[2]string{"ok", "ok/s (left axis)"},
		[2]string{"unknown", "unknown outcomes/s (right axis, red)"})
	row(c.Latency.TitleY, "Latency",
		[2]string{"p99", "p99 per second, ms"})
	row(c.Lane.TitleY, "Faults and failovers",
		[2]string{"fault", "fault window (shaded in every panel)"},
		[2]string{"failover", "failover: cell without a leader until the tick"})
	return items
}

func newPanel(top, height px) (panel, px) {
	p := panel{TitleY: top + panelTitlePx - 11, Top: top + panelTitlePx, Height: height}
	p.Bottom = p.Top + height
	p.MidY = p.Top + height/2
	return p, p.Bottom
}

// denseSeconds indexes seconds by offset from 0 to the last one; missing
// seconds had no completions. Offsets outside [0, chartSecondsMax) are
// dropped: a corrupt offset must not allocate without bound.
func denseSeconds(in []history.Second) []history.Second {
	inRange := func(s history.Second) bool { return s.Offset >= 0 && s.Offset < chartSecondsMax }
	last := -1
	for _, s := range in {
		if inRange(s) {
			last = max(last, s.Offset)
		}
	}
	out := make([]history.Second, last+1)
	for i := range out {
		out[i].Offset = i
	}
	for _, s := range in {
		if inRange(s) {
			out[s.Offset] = s
		}
	}
	return out
}

// bucketSeconds merges consecutive seconds so that at most chartPointsMax
// are drawn: ok and fail become per-second averages (rounded down); unknown
// and p99 become the bucket's worst second, so that no error and no spike
// disappears in an average.
func bucketSeconds(in []history.Second) ([]history.Second, int) {
	if len(in) <= chartPointsMax {
		return in, 1
	}
	size := (len(in) + chartPointsMax - 1) / chartPointsMax
	out := make([]history.Second, 0, chartPointsMax)
	for start := 0; start < len(in); start += size {
		end := min(start+size, len(in))
		merged := history.Second{Offset: start}
		for _, s := range in[start:end] {
			merged.OK += s.OK
			merged.Fail += s.Fail
			merged.Unknown = max(merged.Unknown, s.Unknown)
			if hasLatency(s) {
				merged.P99Ms = math.Max(merged.P99Ms, s.P99Ms)
			}
		}
		n := end - start
		merged.OK, merged.Fail = merged.OK/n, merged.Fail/n
		out = append(out, merged)
	}
	return out, size
}

func fillThroughput(p *panel, seconds []history.Second, bucket int, x func(float64) px) {
	if len(seconds) == 0 {
		p.Empty = true
		return
	}
	okMax, unknownMax := 0, 0
	for _, s := range seconds {
		okMax, unknownMax = max(okMax, s.OK), max(unknownMax, s.Unknown)
	}
	var okTop, unknownTop float64
	okTop, p.YTicks = yTicks(p, float64(okMax), true)
	unknownTop, p.RightTicks = yTicks(p, float64(unknownMax), true)
	var points []string
	for _, s := range seconds {
		center := float64(s.Offset) + float64(bucket)/2
		points = append(points, point(x(center), p.Bottom-px(float64(s.OK)/okTop)*p.Height))
		if s.Unknown == 0 {
			continue
		}
		x1, x2 := x(float64(s.Offset)), x(float64(s.Offset+bucket))
		gap := min(1, (x2-x1)/4)
		h := px(float64(s.Unknown)/unknownTop) * p.Height
		p.Bars = append(p.Bars, bar{
			X: x1 + gap, W: max(x2-x1-2*gap, 1), Y: p.Bottom - h, H: h,
			Title: fmt.Sprintf("%s: %d unknown/s, %d ok/s", formatOffset(float64(s.Offset), 0), s.Unknown, s.OK),
		})
	}
	p.Line = []string{strings.Join(points, " ")}
}

func fillLatency(p *panel, seconds []history.Second, bucket int, x func(float64) px) {
	// A merged bucket keeps a p99 only if one of its seconds had one, so
	// P99Ms > 0 is the test here (hasLatency needs the raw counts).
	top := 0.0
	for _, s := range seconds {
		top = math.Max(top, s.P99Ms)
	}
	if top == 0 {
		p.Empty = true
		return
	}
	top, p.YTicks = yTicks(p, top, false)
	var points []string
	for _, s := range seconds {
		if s.P99Ms <= 0 {
			// No completions, no percentile: break the line.
			if len(points) > 0 {
				p.Line = append(p.Line, strings.Join(points, " "))
				points = nil
			}
			continue
		}
		center := float64(s.Offset) + float64(bucket)/2
		points = append(points, point(x(center), p.Bottom-px(s.P99Ms/top)*p.Height))
	}
	if len(points) > 0 {
		p.Line = append(p.Line, strings.Join(points, " "))
	}
}

func buildLane(r Run, top px, faults []faultWindow, x func(float64) px, plotRight px) lane {
	l := lane{TitleY: top + panelTitlePx - 11, Top: top + panelTitlePx}
	rowY := l.Top + lanePaddingPx + laneRowPx/2
	next := func() px {
		y := rowY
		rowY += laneRowPx
		return y
	}
	const markHalfPx = 7 // half the height of a fault bar or failover tick
	var left []string
	for i, f := range faults {
		if i == laneFaultRowsMax {
			left = append(left, fmt.Sprintf("%d more faults", len(faults)-i))
			break
		}
		row := laneRow{Fault: true, Y: next(), Label: f.Label() + " · " + spanText(r, f)}
		row.Top, row.Bottom = row.Y-markHalfPx, row.Y+markHalfPx
		row.X1, row.X2 = x(r.offsetSeconds(f.StartNs)), x(r.offsetSeconds(f.EndNs))
		row.W = max(row.X2-row.X1, 2)
		row.Title = row.Label
		placeLabel(&row, plotRight, true)
		l.Rows = append(l.Rows, row)
	}
	failovers := append([]history.Failover(nil), r.Failovers...)
	sort.SliceStable(failovers, func(i, j int) bool { return failovers[i].EndNs < failovers[j].EndNs })
	for i, f := range failovers {
		if i == laneFailoverRowsMax {
			left = append(left, fmt.Sprintf("%d more failovers", len(failovers)-i))
			break
		}
		row := laneRow{Y: next(), Label: failoverText(f)}
		row.Top, row.Bottom = row.Y-markHalfPx, row.Y+markHalfPx
		row.X1, row.X2 = x(r.offsetSeconds(f.StartNs)), x(r.offsetSeconds(f.EndNs))
		row.W = row.X2 - row.X1
		row.Title = row.Label + fmt.Sprintf(" (leaderless %.1fs–%.1fs)", r.offsetSeconds(f.StartNs), r.offsetSeconds(f.EndNs))
		placeLabel(&row, plotRight, false)
		l.Rows = append(l.Rows, row)
	}
	if len(left) > 0 {
		l.More = strings.Join(left, ", ") + ": see the tables below"
		l.MoreY = next()
	}
	rows := len(l.Rows)
	if l.More != "" {
		rows++
	}
	rows = max(rows, 1) // room for "no faults or failovers" when empty
	l.Height = px(rows*laneRowPx + 2*lanePaddingPx)
	l.Bottom = l.Top + l.Height
	l.MidY = l.Top + l.Height/2
	return l
}

// placeLabel puts a lane label inside a fault bar when it fits, otherwise
// after the row's end, or before its start when there is no room after.
func placeLabel(row *laneRow, plotRight px, insideAllowed bool) {
	width := px(len([]rune(row.Label))) * charWidthPx
	switch {
	case insideAllowed && width+12 <= row.X2-row.X1:
		row.LabelX, row.LabelStart = row.X1+6, true
	case row.X2+8+width <= plotRight:
		row.LabelX, row.LabelStart = row.X2+8, true
	default:
		row.LabelX, row.LabelStart = row.X1-8, false
	}
}

func failoverText(f history.Failover) string {
	return fmt.Sprintf("cell %d · %s→%s · %.1fs", f.Cell, f.FromSite, f.ToSite, f.Seconds)
}

func spanText(r Run, f faultWindow) string {
	if f.Open {
		return fmt.Sprintf("%.1fs–end (never healed)", r.offsetSeconds(f.StartNs))
	}
	return fmt.Sprintf("%.1fs–%.1fs", r.offsetSeconds(f.StartNs), r.offsetSeconds(f.EndNs))
}

// xTicks are round offsets from 0 to xMaxS, at most xTicksMax of them.
func xTicks(xMaxS float64) []float64 {
	steps := []float64{1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if xMaxS/s <= xTicksMax-1 {
			step = s
			break
		}
	}
	var ticks []float64
	for t := 0.0; t <= xMaxS+1e-9 && len(ticks) < xTicksMax*2; t += step {
		ticks = append(ticks, t)
	}
	return ticks
}

// formatOffset formats seconds since the start: "45s", or "12m30s" on runs
// of ten minutes or more (xMaxS 0 means short).
func formatOffset(s, xMaxS float64) string {
	if xMaxS < 600 {
		return strconv.FormatFloat(s, 'f', -1, 64) + "s"
	}
	m, sec := int(s)/60, int(s)%60
	if sec == 0 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dm%02ds", m, sec)
}

// niceScale picks a round axis maximum at or above v and the step between
// its ticks: 1, 2, 2.5 or 5 times a power of ten giving about yTicksTarget
// ticks; for counts, whole steps without 2.5.
func niceScale(v float64, counts bool) (top, step float64) {
	if v <= 0 {
		v = 1
	}
	raw := v / yTicksTarget
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	multipliers := []float64{1, 2, 2.5, 5, 10}
	if counts {
		multipliers = []float64{1, 2, 5, 10}
	}
	step = 10 * mag
	for _, m := range multipliers {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	if counts {
		step = math.Max(step, 1)
	}
	return math.Max(math.Ceil(v/step), 1) * step, step
}

func yTicks(p *panel, v float64, counts bool) (top float64, ticks []tick) {
	top, step := niceScale(v, counts)
	n := int(math.Round(top / step))
	for i := 0; i <= n; i++ {
		value := float64(i) * step
		ticks = append(ticks, tick{Pos: p.Bottom - px(value/top)*p.Height, Label: formatTick(value, step)})
	}
	return top, ticks
}

func formatTick(v, step float64) string {
	decimals := 0
	for d := step; d != math.Trunc(d) && decimals < 3; d *= 10 {
		decimals++
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func point(x, y px) string {
	return x.String() + "," + y.String()
}
