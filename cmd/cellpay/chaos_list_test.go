package main

import (
	"strings"
	"testing"

	"github.com/cellpay/cellpay/chaos"
)

// `cellpay chaos run --list` prints every scenario, one per line: what
// `make chaos` loops over.
func TestChaosRunList(t *testing.T) {
	code, stdout, stderr := runCLI(t, "chaos", "run", "--list")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var want []string
	for _, sc := range chaos.Scenarios {
		want = append(want, sc.Name)
	}
	if got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("--list printed %q, want %q", got, want)
	}
}
