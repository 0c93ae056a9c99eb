package check

import (
	"testing"

	"github.com/cellpay/cellpay/chaos/history"
)

func replicasOf(reports ...history.Replica) history.Final {
	return history.Final{Replicas: map[uint64][]history.Replica{
		1: {{Node: "hz-a-1", Applied: 40, Digest: "1111222233334444"}, {Node: "hz-b-1", Applied: 40, Digest: "1111222233334444"}, {Node: "sh-a-1", Applied: 40, Digest: "1111222233334444"}},
		2: reports,
	}}
}

func TestReplicasAgreePasses(t *testing.T) {
	_, final := bank()
	expectPass(t, ReplicasAgree(final))
	r := ReplicasAgree(replicasOf(
		history.Replica{Node: "hz-b-2", Applied: 12, Digest: "ffff"},
		history.Replica{Node: "sh-a-2", Applied: 12, Digest: "ffff"},
	))
	expectPass(t, r)
	expectEvidence(t, r, "5 replicas of 2 cell(s)")
}

func TestReplicasAgreeDigestsDiffer(t *testing.T) {
	r := ReplicasAgree(replicasOf(
		history.Replica{Node: "hz-a-2", Applied: 12, Digest: "abcdef0123456789"},
		history.Replica{Node: "hz-b-2", Applied: 12, Digest: "abcdef0123456789"},
		history.Replica{Node: "sh-a-2", Applied: 12, Digest: "0000ffff0000ffff"},
	))
	expectFail(t, r, "cell 2: node sh-a-2 at applied 12 digest 0000ffff0000, node hz-a-2 (2 of 3 replicas) at applied 12 digest abcdef012345: digest differs")
}

func TestReplicasAgreeAppliedDiffers(t *testing.T) {
	r := ReplicasAgree(replicasOf(
		history.Replica{Node: "hz-a-2", Applied: 12, Digest: "abcd"},
		history.Replica{Node: "hz-b-2", Applied: 11, Digest: "abcd"},
		history.Replica{Node: "sh-a-2", Applied: 12, Digest: "abcd"},
	))
	expectFail(t, r, "cell 2: node hz-b-2 at applied 11", "applied index differs")

	r = ReplicasAgree(replicasOf(
		history.Replica{Node: "hz-a-2", Applied: 12, Digest: "abcd"},
		history.Replica{Node: "hz-b-2", Applied: 11, Digest: "9999"},
	))
	// No majority: the higher index is the reference.
	expectFail(t, r, "node hz-b-2 at applied 11 digest 9999, node hz-a-2 (1 of 2 replicas) at applied 12", "applied index and digest differ")
}

func TestReplicasAgreeMissingReports(t *testing.T) {
	expectFail(t, ReplicasAgree(replicasOf()), "cell 2: no replica reported")
	expectFail(t, ReplicasAgree(replicasOf(
		history.Replica{Node: "hz-a-2", Applied: 12, Digest: ""},
		history.Replica{Node: "hz-b-2", Applied: 12, Digest: ""},
	)), "cell 2: node hz-a-2 (applied 12) reported no digest")
	expectInconclusive(t, ReplicasAgree(history.Final{}), "no replica reported")
}
