package chaos

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"
)

// Every scenario runs briefly with a fixed seed, always ends healed, and
// every checker passes: money conserved, no acknowledged write lost,
// cross-cell transfers settled once, payouts paid once and matched with
// the banks' statements, replicas agree, reads linearizable, no
// client-visible error.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster: runs in make test")
	}
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			run, err := Run(context.Background(), Options{Scenario: sc.Name, Seed: 1, Duration: 6 * time.Second, Dir: t.TempDir(), Workers: 4})
			var text bytes.Buffer
			if werr := WriteAll(run, &text, nil, nil); werr != nil {
				t.Fatal(werr)
			}
			if err != nil || !run.Pass() {
				t.Fatalf("scenario %s: %v\n%s", sc.Name, err, text.String())
			}
			if run.Ops.OK < 20 {
				t.Fatalf("scenario %s: only %d operations succeeded\n%s", sc.Name, run.Ops.OK, text.String())
			}
			if run.Ops.ByKind["payout"] == 0 {
				t.Fatalf("scenario %s: no payouts in the workload\n%s", sc.Name, text.String())
			}
			if bite := bites[sc.Name]; bite != nil && !bite.MatchString(text.String()) {
				t.Fatalf("scenario %s: the report does not show its fault acting (%s)\n%s", sc.Name, bite, text.String())
			}
			t.Logf("\n%s", text.String())
		})
	}
}

// bites says, for the scenarios whose fault could pass unnoticed, what
// their report must show besides every check passing: that it acted.
var bites = map[string]*regexp.Regexp{
	// Payouts timed out after paying and were resolved by querying.
	"payout-ambiguity": regexp.MustCompile(`; [1-9]\d* queried at their provider \(\d+ queries\), 0 submitted again`),
	// Leaders moved, with the slow direction following them.
	"slow-return": regexp.MustCompile(`fault: [1-9]\d* of \d+ leadership moves accepted`),
	// Credits were answered WRONG_CELL, both after applying and instead.
	"topology-flip": regexp.MustCompile(`fault: [1-9]\d* credits into cell \d+ answered WRONG_CELL after they applied, [1-9]\d* instead`),
}

func TestUnknownScenarioAndBadOptions(t *testing.T) {
	if _, err := Run(context.Background(), Options{Scenario: "nope", Duration: 5 * time.Second, Dir: t.TempDir()}); err == nil {
		t.Fatal("an unknown scenario ran")
	}
	if _, err := Run(context.Background(), Options{Scenario: "fiber-cut", Duration: time.Second}); err == nil {
		t.Fatal("bad options were accepted")
	}
}
