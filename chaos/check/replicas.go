package check

import (
	"fmt"
	"sort"

	"github.com/cellpay/cellpay/chaos/history"
)

// digestPrefixLen is how much of a digest evidence shows: enough to tell
// two apart at a glance.
const digestPrefixLen = 12

// ReplicasAgree checks that, for every cell, all replicas report the same
// applied index and the same state digest. The check runs after the
// cluster is healed and quiet, so a replica behind the others is a failure
// too, not a lag. A replica that reported no digest is a failure; no
// report at all is inconclusive.
func ReplicasAgree(final history.Final) history.CheckResult {
	if len(final.Replicas) == 0 {
		return history.CheckResult{Name: NameReplicas, Inconclusive: true, Summary: "no replica reported its state"}
	}
	var failures evidence
	replicas := 0
	for _, cell := range sortedKeys(final.Replicas) {
		reports := final.Replicas[cell]
		replicas += len(reports)
		if len(reports) == 0 {
			failures.addf("cell %d: no replica reported", cell)
			continue
		}
		for _, r := range reports {
			if r.Digest == "" {
				failures.addf("cell %d: node %s (applied %d) reported no digest", cell, r.Node, r.Applied)
			}
		}
		// The reference is the (applied, digest) most replicas report, so
		// evidence names the odd ones out.
		type state struct {
			applied uint64
			digest  string
		}
		votes := make(map[state]int)
		for _, r := range reports {
			votes[state{r.Applied, r.Digest}]++
		}
		if len(votes) == 1 {
			continue
		}
		states := make([]state, 0, len(votes))
		for s := range votes {
			states = append(states, s)
		}
		sort.Slice(states, func(i, j int) bool {
			if votes[states[i]] != votes[states[j]] {
				return votes[states[i]] > votes[states[j]]
			}
			if states[i].applied != states[j].applied {
				return states[i].applied > states[j].applied
			}
			return states[i].digest < states[j].digest
		})
		ref := states[0]
		var refNode string
		for _, r := range reports {
			if (state{r.Applied, r.Digest}) == ref {
				refNode = r.Node
				break
			}
		}
		for _, r := range reports {
			if (state{r.Applied, r.Digest}) == ref {
				continue
			}
			what := "digest differs"
			switch {
			case r.Applied != ref.applied && r.Digest != ref.digest:
				what = "applied index and digest differ"
			case r.Applied != ref.applied:
				what = "applied index differs"
			}
			failures.addf("cell %d: node %s at applied %d digest %s, node %s (%d of %d replicas) at applied %d digest %s: %s",
				cell, r.Node, r.Applied, digestPrefix(r.Digest), refNode, votes[ref], len(reports), ref.applied, digestPrefix(ref.digest), what)
		}
	}
	if failures.count() > 0 {
		lines := failures.list()
		return history.CheckResult{
			Name:     NameReplicas,
			Summary:  fmt.Sprintf("%d disagreement(s); first: %s", failures.count(), lines[0]),
			Evidence: lines,
		}
	}
	return history.CheckResult{
		Name: NameReplicas, Pass: true,
		Summary: fmt.Sprintf("%d replicas of %d cell(s) agree on applied index and digest", replicas, len(final.Replicas)),
	}
}

func digestPrefix(digest string) string {
	if digest == "" {
		return "(none)"
	}
	if len(digest) > digestPrefixLen {
		return digest[:digestPrefixLen]
	}
	return digest
}
