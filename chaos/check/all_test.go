package check

import (
	"testing"
)

func TestAllRunsEveryChecker(t *testing.T) {
	ops, final := bank()
	results := All(ops, nil, final, at(0), 0, linTimeout)
	names := []string{NameConservation, NameNoLostWrites, NameReplicas, NameLinearizable, NameAvailability}
	if len(results) != len(names) {
		t.Fatalf("%d results, want %d", len(results), len(names))
	}
	for i, r := range results {
		if r.Name != names[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, names[i])
		}
		expectPass(t, r)
	}
}

// The same violation seen by several checkers: a transfer applied twice
// keeps the sum (conservation passes) but breaks the balances and any read
// made after it.
func TestAllDoubleApply(t *testing.T) {
	ops, final := bank()
	final = withState(final, map[string]int64{"a": 40, "b": 110}, nil)
	ops = build(append(ops, read("a", 40, 50, 60))...)
	results := All(ops, nil, final, at(0), 0, linTimeout)
	expectPass(t, results[0])
	expectFail(t, results[1], `transfer "t1" (a→b 30) applied twice`)
	expectPass(t, results[2])
	expectFail(t, results[3], "account a: read op 7", "returned 40")
	expectPass(t, results[4])
}
