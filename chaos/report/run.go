package report

import (
	"github.com/cellpay/cellpay/chaos/history"
)

// Run is the result of one chaos run, as rendered by the writers. Times are
// Unix nanoseconds; Seconds offsets count from StartNs.
type Run struct {
	Scenario  string                `json:"scenario"`
	Seed      int64                 `json:"seed"`
	StartNs   int64                 `json:"start_ns"`
	EndNs     int64                 `json:"end_ns"`
	Results   []history.CheckResult `json:"results"`
	Seconds   []history.Second      `json:"seconds"`
	Failovers []history.Failover    `json:"failovers"`
	// Events: faults (fault-start/fault-end with Detail and Site), leader
	// changes, phases.
	Events []history.Event `json:"events"`
	// Ops: totals by kind and outcome.
	Ops OpCounts `json:"ops"`
	// Notes: free text lines, e.g. the cluster shape.
	Notes []string `json:"notes"`
}

// OpCounts are the operation totals of a run by outcome and by kind.
type OpCounts struct {
	Total   int            `json:"total"`
	OK      int            `json:"ok"`
	Fail    int            `json:"fail"`    // definite business errors
	Unknown int            `json:"unknown"` // no definite answer: client-visible errors
	Pending int            `json:"pending"` // never completed
	ByKind  map[string]int `json:"by_kind"`
}

// CountOps totals ops by outcome and by kind. ByKind is never nil.
func CountOps(ops []history.Op) OpCounts {
	c := OpCounts{Total: len(ops), ByKind: make(map[string]int)}
	for _, op := range ops {
		c.ByKind[string(op.Kind)]++
		switch op.Outcome {
		case history.OutcomeOK:
			c.OK++
		case history.OutcomeFail:
			c.Fail++
		case history.OutcomeUnknown:
			c.Unknown++
		default:
			c.Pending++
		}
	}
	return c
}

// Pass reports whether every checker passed. An inconclusive result counts
// as not passed, and so does a run without any result: a game day proves
// something only through its checkers.
func (r Run) Pass() bool {
	if len(r.Results) == 0 {
		return false
	}
	for _, res := range r.Results {
		if !res.Pass || res.Inconclusive {
			return false
		}
	}
	return true
}
