package check

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/cellpay/cellpay/chaos/history"
)

// Names of the checkers, as they appear in history.CheckResult.Name.
const (
	NameConservation = "conservation"
	NameNoLostWrites = "no-lost-writes"
	NameCrossCell    = "cross-cell"
	NamePayouts      = "payouts"
	NameReplicas     = "replicas-agree"
	NameLinearizable = "linearizable-reads"
	NameAvailability = "availability"
)

// evidence collects a result's evidence lines, keeping at most
// history.EvidenceMax: when more are added, the last kept line says how many
// were left out, so a report never silently hides a violation count.
type evidence struct {
	lines   []string
	dropped int
}

func (e *evidence) addf(format string, args ...any) {
	if len(e.lines) < history.EvidenceMax {
		e.lines = append(e.lines, fmt.Sprintf(format, args...))
		return
	}
	e.dropped++
}

// count is the number of lines added, kept or not.
func (e *evidence) count() int { return len(e.lines) + e.dropped }

// list returns the lines; past history.EvidenceMax, the last one says how
// many were left out.
func (e *evidence) list() []string {
	if e.dropped == 0 {
		return append([]string(nil), e.lines...)
	}
	out := append([]string(nil), e.lines[:history.EvidenceMax-1]...)
	return append(out, fmt.Sprintf("... and %d more", e.dropped+1))
}

// offset renders ns relative to base ("+1.25s"); math.MaxInt64 is a
// completion that was never seen.
func offset(ns, base int64) string {
	if ns == math.MaxInt64 {
		return "never"
	}
	return "+" + time.Duration(ns-base).String()
}

// firstInvokeNs is the earliest invocation in ops (0 when there are none),
// the base of the offsets in evidence.
func firstInvokeNs(ops []history.Op) int64 {
	var first int64
	for i, op := range ops {
		if i == 0 || op.Invoke < first {
			first = op.Invoke
		}
	}
	return first
}

// percentileMs is the nearest-rank percentile p (0 < p <= 1) of sorted
// latencies in ms; 0 for none.
func percentileMs(sortedMs []float64, p float64) float64 {
	if len(sortedMs) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sortedMs)))) - 1
	rank = max(0, min(rank, len(sortedMs)-1))
	return sortedMs[rank]
}

// sortedKeys returns the keys of m in order, for deterministic evidence.
func sortedKeys[K ~string | ~uint64, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
