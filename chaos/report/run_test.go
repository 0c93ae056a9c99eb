package report

import (
	"reflect"
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func TestCountOps(t *testing.T) {
	ops := []history.Op{
		{Kind: history.KindCreate, Outcome: history.OutcomeOK},
		{Kind: history.KindDeposit, Outcome: history.OutcomeOK},
		{Kind: history.KindTransfer, Outcome: history.OutcomeFail},
		{Kind: history.KindTransfer, Outcome: history.OutcomeUnknown},
		{Kind: history.KindTransfer, Outcome: history.OutcomePending},
		{Kind: history.KindRead, Outcome: history.OutcomeOK},
	}
	got := CountOps(ops)
	want := OpCounts{Total: 6, OK: 3, Fail: 1, Unknown: 1, Pending: 1,
		ByKind: map[string]int{"create": 1, "deposit": 1, "transfer": 3, "read": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CountOps = %+v, want %+v", got, want)
	}
	if empty := CountOps(nil); empty.Total != 0 || empty.ByKind == nil {
		t.Errorf("CountOps(nil) = %+v, want zero counts and a non-nil ByKind", empty)
	}
}

func TestPass(t *testing.T) {
	ok := history.CheckResult{Name: "a", Pass: true}
	failed := history.CheckResult{Name: "b"}
	inconclusive := history.CheckResult{Name: "c", Inconclusive: true}
	// An inconsistent result (Pass and Inconclusive) is not a pass either.
	odd := history.CheckResult{Name: "d", Pass: true, Inconclusive: true}
	for _, tc := range []struct {
		name    string
		results []history.CheckResult
		want    bool
	}{
		{"all passed", []history.CheckResult{ok, ok}, true},
		{"one failed", []history.CheckResult{ok, failed}, false},
		{"one inconclusive", []history.CheckResult{ok, inconclusive}, false},
		{"pass and inconclusive", []history.CheckResult{odd}, false},
		{"no results", nil, false},
	} {
		if got := (Run{Results: tc.results}).Pass(); got != tc.want {
			t.Errorf("%s: Pass() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFaultWindows(t *testing.T) {
	const s = int64(1e9)
	events := []history.Event{
		{At: 40 * s, Kind: history.EventFaultEnd, Detail: "cut fiber hz-a"},
		{At: 10 * s, Kind: history.EventFaultStart, Detail: "cut fiber hz-a", Site: "hz-a"},
		{At: 12 * s, Kind: history.EventFaultStart, Detail: "slow link hz-b", Site: "hz-b"},
		{At: 5 * s, Kind: history.EventFaultEnd, Detail: "never started"},
		{At: 20 * s, Kind: history.EventLeader, Detail: "cut fiber hz-a"},
	}
	got := faultWindows(events, 60*s)
	want := []faultWindow{
		{Detail: "cut fiber hz-a", Site: "hz-a", StartNs: 10 * s, EndNs: 40 * s},
		{Detail: "slow link hz-b", Site: "hz-b", StartNs: 12 * s, EndNs: 60 * s, Open: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("faultWindows = %+v, want %+v", got, want)
	}
	if label := (faultWindow{Detail: "partition", Site: "hz-c"}).Label(); label != "partition @ hz-c" {
		t.Errorf("Label = %q", label)
	}
}

func TestFailoverSummary(t *testing.T) {
	s := failoverSummary([]history.Failover{
		{Cell: 2, FromSite: "b", ToSite: "a", StartNs: 50, Seconds: 3},
		{Cell: 1, FromSite: "a", ToSite: "b", StartNs: 10, Seconds: 2},
		{Cell: 2, FromSite: "a", ToSite: "b", StartNs: 10, Seconds: 1},
	})
	if s.Count != 3 || s.P50Seconds != 2 || s.MaxSeconds != 3 {
		t.Errorf("overall = %+v", s)
	}
	want := []cellFailovers{
		{Cell: 1, Count: 1, P50Seconds: 2, MaxSeconds: 2, Route: "a→b"},
		{Cell: 2, Count: 2, P50Seconds: 1, MaxSeconds: 3, Route: "a→b→a"},
	}
	if !reflect.DeepEqual(s.Cells, want) {
		t.Errorf("cells = %+v, want %+v", s.Cells, want)
	}
}

func TestNiceScale(t *testing.T) {
	for _, tc := range []struct {
		v         float64
		counts    bool
		top, step float64
	}{
		{0, true, 1, 1},
		{3, true, 3, 1},
		{48, true, 50, 10},
		{2154, true, 2500, 500},
		{2400, false, 2500, 500},
		{0.7, false, 0.8, 0.2},
		{9, false, 10, 2},
		{4.4, false, 5, 1},
	} {
		top, step := niceScale(tc.v, tc.counts)
		if top != tc.top || step != tc.step {
			t.Errorf("niceScale(%v, %v) = %v, %v; want %v, %v", tc.v, tc.counts, top, step, tc.top, tc.step)
		}
	}
}
