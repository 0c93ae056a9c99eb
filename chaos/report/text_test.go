package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestWriteTextGolden(t *testing.T) {
	passing := sampleRun()
	passing.Scenario = "fiber-cut-healthy"
	passing.Results = passing.Results[:2]
	for _, tc := range []struct {
		golden string
		run    Run
	}{
		{"sample.golden", sampleRun()},
		{"passing.golden", passing},
		{"empty.golden", Run{Scenario: "empty"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, tc.run); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("WriteText differs from %s (rerun with -update if the change is intended):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func TestWriteTextContents(t *testing.T) {
	r := sampleRun()
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "FAIL ") {
		t.Errorf("the first line is not the FAIL verdict:\n%s", out)
	}
	for _, res := range r.Results {
		if !strings.Contains(out, res.Name) {
			t.Errorf("checker %q missing:\n%s", res.Name, out)
		}
	}
	for _, want := range []string{
		"failover  3 in 3 cells: p50 2.1s, max 2.4s",
		"cell 1    1×  p50 2.1s  max 2.1s  hz-a→hz-b",
		"✓ conservation", "✗ no-double-payout", "? linearizable-reads",
		"… 2 more evidence lines",
		"peak 48/s at 15s",
		"worst 2400 ms at 15s",
		"15.0s–35.0s  cut fiber hz-a",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q:\n%s", want, out)
		}
	}
	// Evidence of a passing checker is not shown, and the report stays a
	// screenful.
	if lines := strings.Count(out, "\n"); lines > 40 {
		t.Errorf("%d lines; want a screenful", lines)
	}

	r.Results = r.Results[:2]
	b.Reset()
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "PASS  all 2 checks passed\n") {
		t.Errorf("passing run:\n%s", b.String())
	}
}

func TestWriteTextCleansControlCharacters(t *testing.T) {
	r := Run{Scenario: "x\x1b[31mred\nline"}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || !strings.Contains(b.String(), "x [31mred line") {
		t.Errorf("control characters not cleaned:\n%q", b.String())
	}
}
