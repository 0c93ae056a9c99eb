package replication

import (
	"context"
	"fmt"
	"log/slog"
)

// pebbleLogger routes Pebble's messages to slog: its chatty info lines at
// debug level, errors at error level. Fatalf reports and panics, since
// Pebble expects it not to return (it is called on store corruption).
type pebbleLogger struct{ logger *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.logger.Debug(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.logger.Error(fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.logger.Log(context.Background(), slog.LevelError, "pebble fatal: "+msg)
	panic("replication: pebble: " + msg)
}
