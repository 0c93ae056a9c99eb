package check

import (
	"reflect"
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

// Ops complete at 0.5 s, 1.2 s, 1.7 s and 3.1 s after the start; second 2
// is empty but present.
func TestAvailabilitySeriesBuckets(t *testing.T) {
	ops := build(
		deposit("d1", "a", 1, 400, 500, history.OutcomeOK),
		transfer("t1", "a", "b", 1, 1100, 1200, history.OutcomeOK),
		transfer("t2", "a", "b", 1, 1300, 1700, history.OutcomeFail),
		transfer("t3", "a", "b", 1, 2100, 3100, history.OutcomeUnknown),
	)
	r, seconds, _ := Availability(ops, nil, at(0), 1)
	expectPass(t, r)
	want := []history.Second{
		{Offset: 0, OK: 1, P50Ms: 100, P99Ms: 100},
		{Offset: 1, OK: 1, Fail: 1, P50Ms: 100, P99Ms: 400},
		{Offset: 2},
		{Offset: 3, Unknown: 1, P50Ms: 1000, P99Ms: 1000},
	}
	if !reflect.DeepEqual(seconds, want) {
		t.Fatalf("series:\n got %+v\nwant %+v", seconds, want)
	}
	expectEvidence(t, r, "4 ops: 2 ok, 1 fail, 1 unknown, 0 pending", `op 3 transfer "t3" a→b 1: unknown outcome at +3.1s after 1000.0 ms`)
}

// One hundred ops of 1..100 ms in one second: p50 is 50 ms, p99 99 ms
// (nearest rank).
func TestAvailabilityPercentiles(t *testing.T) {
	var ops []history.Op
	for i := range int64(100) {
		ops = append(ops, read("a", 0, 10, 10+100-i))
	}
	r, seconds, _ := Availability(build(ops...), nil, at(0), 0)
	expectPass(t, r)
	if len(seconds) != 1 || seconds[0].OK != 100 || seconds[0].P50Ms != 50 || seconds[0].P99Ms != 99 {
		t.Fatalf("series: %+v", seconds)
	}
	expectEvidence(t, r, "p50 50.0 ms, p99 99.0 ms")
}

// Errors are unknown plus pending; pending ops land in the last second.
func TestAvailabilityErrorsMaxBoundary(t *testing.T) {
	ops := build(
		transfer("t1", "a", "b", 1, 0, 100, history.OutcomeOK),
		transfer("t2", "a", "b", 1, 0, 1500, history.OutcomeUnknown),
		transfer("t3", "a", "b", 1, 0, 2500, history.OutcomeUnknown),
		transfer("t4", "a", "b", 1, 2600, 0, history.OutcomePending),
		transfer("t5", "a", "b", 1, 0, 200, history.OutcomeFail), // an answer, not an error
	)
	r, seconds, _ := Availability(ops, nil, at(0), 3)
	expectPass(t, r)
	expectEvidence(t, r, "3 client-visible errors (max 3)", `op 3 transfer "t4" a→b 1: still pending (invoked at +2.6s)`)
	if len(seconds) != 3 || seconds[2].Unknown != 2 || seconds[1].Unknown != 1 {
		t.Fatalf("series: %+v", seconds)
	}
	r, _, _ = Availability(ops, nil, at(0), 2)
	expectFail(t, r, "3 client-visible errors (max 2)", `op 1 transfer "t2"`, `op 2 transfer "t3"`, `op 3 transfer "t4"`)
}

func TestAvailabilityEmpty(t *testing.T) {
	r, seconds, failovers := Availability(nil, nil, at(0), 0)
	expectPass(t, r)
	if seconds != nil || failovers != nil {
		t.Fatalf("series %v, failovers %v", seconds, failovers)
	}
}

// hz-a is cut at 5 s: cell 1 (led from hz-a) fails over to hz-b at 7.5 s;
// cell 3 is re-elected inside hz-a and never leaves it; cell 2 was led
// from sh-a and is not affected. A fault without a site is no site cut.
func TestAvailabilityFailovers(t *testing.T) {
	events := []history.Event{ // deliberately out of order
		{At: at(7500), Kind: history.EventLeader, Cell: 1, Site: "hz-b"},
		{At: at(0), Kind: history.EventLeader, Cell: 1, Site: "hz-a"},
		{At: at(0), Kind: history.EventLeader, Cell: 2, Site: "sh-a"},
		{At: at(0), Kind: history.EventLeader, Cell: 3, Site: "sh-a"},
		{At: at(1000), Kind: history.EventLeader, Cell: 3, Site: "hz-a"},
		{At: at(4000), Kind: history.EventFaultStart, Detail: "slow link"},
		{At: at(5000), Kind: history.EventFaultStart, Site: "hz-a", Detail: "fiber cut"},
		{At: at(6000), Kind: history.EventLeader, Cell: 3, Site: "hz-a"},
		{At: at(9000), Kind: history.EventFaultEnd, Site: "hz-a"},
		{At: at(12000), Kind: history.EventLeader, Cell: 1, Site: "hz-a"},
	}
	want := []history.Failover{
		{Cell: 1, FromSite: "hz-a", ToSite: "hz-b", StartNs: at(5000), EndNs: at(7500), Seconds: 2.5},
		{Cell: 3, FromSite: "hz-a", StartNs: at(5000)},
	}
	ops := build(read("a", 0, 0, 1))
	r, _, failovers := Availability(ops, events, at(0), 0)
	if !reflect.DeepEqual(failovers, want) {
		t.Fatalf("failovers:\n got %+v\nwant %+v", failovers, want)
	}
	expectEvidence(t, r, "1 failover(s), longest 2.5 s, 1 cell(s) never failed over")

	// Failing back: a later cut of hz-b moves cell 1 back to hz-a.
	events = append(events, history.Event{At: at(10000), Kind: history.EventFaultStart, Site: "hz-b"})
	failovers = Failovers(events)
	if len(failovers) != 3 || failovers[2] != (history.Failover{Cell: 1, FromSite: "hz-b", ToSite: "hz-a", StartNs: at(10000), EndNs: at(12000), Seconds: 2}) {
		t.Fatalf("failovers: %+v", failovers)
	}
}
