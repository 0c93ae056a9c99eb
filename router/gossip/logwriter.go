package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// memberlist logs its failed probes with this line (memberlist v0.7.0
// state.go, probeNode), just before it marks the member suspect. It reports
// no event for a suspicion, so this line is how the view learns it.
// TestKilledMemberIsSuspectThenDead fails if a memberlist upgrade rewords it.
const (
	suspectLinePrefix = "memberlist: Suspect "
	suspectLineSuffix = " has failed, no acks received"
)

// logWriter adapts memberlist's *log.Logger: each line goes to the slog
// logger at debug level, with memberlist's own level as an attribute.
type logWriter struct {
	logger *slog.Logger
	// onSuspect is called with the member name of a failed-probe line.
	onSuspect func(name string)
}

func newMemberlistLogger(logger *slog.Logger, onSuspect func(string)) *log.Logger {
	return log.New(&logWriter{logger: logger, onSuspect: onSuspect}, "", 0)
}

// Write receives one line per call (log.Logger writes whole lines).
func (w *logWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\r\n"))
	level, msg := splitLevel(line)
	if name, ok := suspectName(msg); ok && w.onSuspect != nil {
		w.onSuspect(name)
	}
	if w.logger.Enabled(context.Background(), slog.LevelDebug) {
		w.logger.Debug(msg, "memberlist_level", level)
	}
	return len(p), nil
}

// splitLevel splits "[WARN] memberlist: text" into "WARN" and the rest.
func splitLevel(line string) (level, msg string) {
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			return line[1:end], strings.TrimSpace(line[end+1:])
		}
	}
	return "", line
}

func suspectName(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, suspectLinePrefix)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, suspectLineSuffix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}
