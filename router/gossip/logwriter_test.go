package gossip

import (
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogLines(t *testing.T) {
	logs := &logBuffer{}
	var suspects []string
	l := newMemberlistLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		func(name string) { suspects = append(suspects, name) })

	l.Printf("[INFO] memberlist: Suspect %s has failed, no acks received", "node hz-a 1")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: %s)", "n2")
	l.Printf("[INFO] memberlist: Suspect  has failed, no acks received")
	l.Printf("no level at all")

	if len(suspects) != 1 || suspects[0] != "node hz-a 1" {
		t.Errorf("suspects %q", suspects)
	}
	out := logs.String()
	for _, want := range []string{
		`level=DEBUG msg="memberlist: Refuting a suspect message (from: n2)" memberlist_level=WARN`,
		`msg="no level at all" memberlist_level=""`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}
