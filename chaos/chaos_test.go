package chaos

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// Every scenario runs briefly with a fixed seed, always ends healed, and
// every checker passes: money conserved, no acknowledged write lost,
// replicas agree, reads linearizable, no client-visible error.
func TestScenarios(t *testing.T) {
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
			t.Logf("\n%s", text.String())
		})
	}
}

func TestUnknownScenarioAndBadOptions(t *testing.T) {
	if _, err := Run(context.Background(), Options{Scenario: "nope", Duration: 5 * time.Second, Dir: t.TempDir()}); err == nil {
		t.Fatal("an unknown scenario ran")
	}
	if _, err := Run(context.Background(), Options{Scenario: "fiber-cut", Duration: time.Second}); err == nil {
		t.Fatal("bad options were accepted")
	}
}
