package report

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

var sampleHTML = flag.String("sample-html", "", "also write the sample run's HTML report to this file, to look at in a browser")

func renderHTML(t *testing.T, r Run) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteHTML(t *testing.T) {
	r := sampleRun()
	out := renderHTML(t, r)
	if *sampleHTML != "" {
		if err := os.WriteFile(*sampleHTML, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		"<!DOCTYPE html>", "<svg", "</svg>", "</html>",
		`<div class="big">FAIL</div>`,
		"fiber-cut", "cut fiber hz-a", // the scenario and the fault label
		"cell 4 · hz-a→hz-c · 1.9s", // a failover tick's label
		"p99 latency (ms)",          // the latency axis title
		`class="fault-band"`, `class="unknown"`, `class="ok"`, `class="p99"`, `class="failover"`,
		"<details", "payees over-credited by 14500 in total",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, res := range r.Results {
		if !strings.Contains(out, res.Name) {
			t.Errorf("checker %q missing", res.Name)
		}
	}
	// Self-contained: no script, no external asset.
	for _, banned := range []string{"<script", "<link", "src=", "@import", "url("} {
		if strings.Contains(strings.ToLower(out), banned) {
			t.Errorf("contains %q", banned)
		}
	}
	if opens, closes := strings.Count(out, "<table"), strings.Count(out, "</table>"); opens != 3 || closes != 3 {
		t.Errorf("%d <table> and %d </table>, want 3 of each", opens, closes)
	}

	r.Results = r.Results[:2]
	if out := renderHTML(t, r); !strings.Contains(out, `<div class="big">PASS</div>`) {
		t.Error("a passing run does not show PASS")
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	const attack = `<script>alert(1)</script>`
	r := sampleRun()
	r.Scenario = attack
	r.Notes = []string{attack}
	r.Results = append(r.Results, history.CheckResult{Name: "evil" + attack, Summary: attack, Evidence: []string{attack}})
	r.Events = append(r.Events,
		history.Event{At: r.StartNs + 40e9, Kind: history.EventFaultStart, Detail: attack, Site: `"><svg onload=alert(1)>`})
	r.Failovers = append(r.Failovers, history.Failover{Cell: 9, FromSite: attack, ToSite: attack, StartNs: r.StartNs, EndNs: r.StartNs + 1e9, Seconds: 1})
	out := renderHTML(t, r)
	if strings.Contains(out, "<script") || strings.Contains(out, "<svg onload") {
		t.Fatal("unescaped input in the HTML report")
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the escaped summary is missing")
	}
}

func TestWriteEmptyRun(t *testing.T) {
	for name, r := range map[string]Run{
		"zero":       {},
		"no seconds": {Scenario: "s", StartNs: 1e18, EndNs: 1e18 + 5e9, Results: []history.CheckResult{{Name: "c", Pass: true}}},
		"events only": {StartNs: 1e18, Events: []history.Event{
			{At: 1e18 + 2e9, Kind: history.EventFaultStart, Detail: "cut"}}},
	} {
		out := renderHTML(t, r)
		if !strings.Contains(out, "<svg") {
			t.Errorf("%s: no chart", name)
		}
		var b bytes.Buffer
		if err := WriteText(&b, r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := WriteJSON(&b, r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestChartLongRunIsBucketed(t *testing.T) {
	r := Run{StartNs: 1, EndNs: 1 + 3600e9}
	for i := range 3600 {
		r.Seconds = append(r.Seconds, history.Second{Offset: i, OK: 100, Unknown: i % 2, P99Ms: 10})
	}
	c := buildChart(r)
	if c.BucketSeconds != 8 {
		t.Errorf("BucketSeconds = %d, want 8", c.BucketSeconds)
	}
	if n := strings.Count(c.Throughput.Line[0], " ") + 1; n > chartPointsMax {
		t.Errorf("%d points drawn, want at most %d", n, chartPointsMax)
	}
	if len(c.XTicks) > xTicksMax || c.XTicks[len(c.XTicks)-1].Label != "60m" {
		t.Errorf("x ticks = %+v", c.XTicks)
	}
}
