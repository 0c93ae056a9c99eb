package check

import (
	"fmt"
	"sort"

	"github.com/cellpay/cellpay/chaos/history"
)

// SecondsMax bounds the per-second series (a day); later completions fall
// into its last second.
const SecondsMax = 24 * 60 * 60

// Availability reports the run as the clients saw it: per second of
// completion time (since startNs) the ok, fail and unknown outcomes and
// the p50/p99 latency of the ops completed that second (any outcome: an
// unknown outcome's latency is the time the client waited for nothing).
// Ops still pending count as unknown in the last second. It passes iff the
// client-visible errors (unknown + pending) are at most errorsMax.
//
// It also measures failovers from events: for each fault-start event with
// a site, each cell whose latest leader event before the fault was in that
// site fails over at its first later leader event in another site. A cell
// that never does is listed with EndNs 0.
func Availability(ops []history.Op, events []history.Event, startNs int64, errorsMax int) (history.CheckResult, []history.Second, []history.Failover) {
	seconds := availabilitySeries(ops, startNs)
	var ok, fail, unknown, pending int
	var latenciesMs []float64
	var ev evidence
	base := startNs
	for _, op := range ops {
		switch op.Outcome {
		case history.OutcomeOK:
			ok++
		case history.OutcomeFail:
			fail++
		case history.OutcomeUnknown:
			unknown++
		default:
			pending++
		}
		if op.Done != 0 {
			latenciesMs = append(latenciesMs, latencyMs(op))
		}
		switch op.Outcome {
		case history.OutcomeUnknown:
			ev.addf("op %d %s %s: unknown outcome at %s after %.1f ms: %s", op.ID, op.Kind, describeOp(op), offset(op.Done, base), latencyMs(op), op.Reason)
		case history.OutcomePending:
			ev.addf("op %d %s %s: still pending (invoked at %s)", op.ID, op.Kind, describeOp(op), offset(op.Invoke, base))
		}
	}
	sort.Float64s(latenciesMs)
	p50, p99 := percentileMs(latenciesMs, 0.50), percentileMs(latenciesMs, 0.99)
	failovers := Failovers(events)

	errorCount := unknown + pending
	summary := fmt.Sprintf("%d ops: %d ok, %d fail, %d unknown, %d pending; p50 %.1f ms, p99 %.1f ms; %d client-visible errors (max %d)",
		len(ops), ok, fail, unknown, pending, p50, p99, errorCount, errorsMax)
	if len(failovers) > 0 {
		var longest float64
		never := 0
		for _, f := range failovers {
			if f.EndNs == 0 {
				never++
			}
			longest = max(longest, f.Seconds)
		}
		summary += fmt.Sprintf("; %d failover(s), longest %.1f s", len(failovers)-never, longest)
		if never > 0 {
			summary += fmt.Sprintf(", %d cell(s) never failed over", never)
		}
	}
	result := history.CheckResult{Name: NameAvailability, Pass: errorCount <= errorsMax, Summary: summary, Evidence: ev.list()}
	return result, seconds, failovers
}

// availabilitySeries buckets ops by completion second since startNs,
// every second from 0 to the last one present.
func availabilitySeries(ops []history.Op, startNs int64) []history.Second {
	if len(ops) == 0 {
		return nil
	}
	secondOf := func(ns int64) int {
		return min(max(int((ns-startNs)/1e9), 0), SecondsMax-1)
	}
	last := 0
	for _, op := range ops {
		last = max(last, secondOf(op.Invoke), secondOf(op.Done))
	}
	seconds := make([]history.Second, last+1)
	latencies := make([][]float64, last+1)
	for i := range seconds {
		seconds[i].Offset = i
	}
	for _, op := range ops {
		if op.Outcome == history.OutcomePending || op.Done == 0 {
			seconds[last].Unknown++
			continue
		}
		s := secondOf(op.Done)
		switch op.Outcome {
		case history.OutcomeOK:
			seconds[s].OK++
		case history.OutcomeFail:
			seconds[s].Fail++
		default:
			seconds[s].Unknown++
		}
		latencies[s] = append(latencies[s], latencyMs(op))
	}
	for i, l := range latencies {
		sort.Float64s(l)
		seconds[i].P50Ms, seconds[i].P99Ms = percentileMs(l, 0.50), percentileMs(l, 0.99)
	}
	return seconds
}

func latencyMs(op history.Op) float64 {
	return float64(max(op.Done-op.Invoke, 0)) / 1e6
}

func describeOp(op history.Op) string {
	switch op.Kind {
	case history.KindTransfer:
		return fmt.Sprintf("%q %s→%s %d", op.Key, op.Account, op.To, op.Amount)
	case history.KindDeposit:
		return fmt.Sprintf("%q %s +%d", op.Key, op.Account, op.Amount)
	default:
		return op.Account
	}
}

// Failovers computes, from leader and fault events, how long each cell led
// from a faulted site took to get a leader elsewhere; see Availability.
// Failovers are ordered by fault, then cell.
func Failovers(events []history.Event) []history.Failover {
	sorted := append([]history.Event(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At < sorted[j].At })
	var out []history.Failover
	for i, fault := range sorted {
		if fault.Kind != history.EventFaultStart || fault.Site == "" {
			continue
		}
		// The leader of each cell when the fault began: its latest leader
		// event at or before it.
		leaders := make(map[uint64]string)
		for _, e := range sorted {
			if e.At > fault.At {
				break
			}
			if e.Kind == history.EventLeader {
				leaders[e.Cell] = e.Site
			}
		}
		for _, cell := range sortedKeys(leaders) {
			if leaders[cell] != fault.Site {
				continue
			}
			f := history.Failover{Cell: cell, FromSite: fault.Site, StartNs: fault.At}
			for _, e := range sorted[i+1:] {
				if e.Kind == history.EventLeader && e.Cell == cell && e.Site != fault.Site && e.At > fault.At {
					f.ToSite, f.EndNs = e.Site, e.At
					f.Seconds = float64(e.At-fault.At) / 1e9
					break
				}
			}
			out = append(out, f)
		}
	}
	return out
}
