package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDefaultOptionsAreValid(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions().Validate() = %v", err)
	}
	if DefaultOptions().UnsafeNoSyncForBenchmarksOnly {
		t.Fatal("DefaultOptions disables fsync")
	}
}

func TestValidateReportsEveryViolation(t *testing.T) {
	opts := Options{
		CacheSizeBytes:              -1,
		MemTableSizeBytes:           2 << 30,
		MemTableStopWritesThreshold: 1,
		MaxOpenFiles:                0,
	}
	err := opts.Validate()
	var validationErr *ValidationError
	if !errors.As(err, &validationErr) || !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Validate() = %v, want a *ValidationError matching ErrInvalidOptions", err)
	}
	for _, want := range []string{
		"CacheSizeBytes (-1)",
		"MemTableSizeBytes (2147483648)",
		"MemTableStopWritesThreshold (1)",
		"MaxOpenFiles (0)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if len(validationErr.Violations) != 4 {
		t.Errorf("Validate() reported %d violations, want 4: %q", len(validationErr.Violations), validationErr.Violations)
	}
	if !strings.HasPrefix(err.Error(), "storage: ") {
		t.Errorf("Validate() = %q, want the package prefix", err)
	}
}

func TestOpenRefusesInvalidOptions(t *testing.T) {
	opts := testOptions()
	opts.MaxOpenFiles = 1
	if db, err := Open(t.TempDir(), opts); !errors.Is(err, ErrInvalidOptions) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open with MaxOpenFiles 1: error = %v, want ErrInvalidOptions", err)
	}
	if _, err := Open("", testOptions()); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := t.TempDir() + "/nested/store"
	db := openTestDB(t, dir)
	if err := db.Group(1).StoreLog(testLog(1, 1)); err != nil {
		t.Fatal(err)
	}
}

// recordingLogger keeps Pebble's error messages.
type recordingLogger struct {
	quietLogger
	errors []string
}

func (l *recordingLogger) Errorf(format string, args ...any) {
	l.errors = append(l.errors, fmt.Sprintf(format, args...))
}

func TestUnsafeNoSyncIsAnnounced(t *testing.T) {
	logger := &recordingLogger{}
	opts := testOptions()
	opts.Logger = logger
	opts.UnsafeNoSyncForBenchmarksOnly = true
	db, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if len(logger.errors) != 1 || !strings.Contains(logger.errors[0], "UnsafeNoSyncForBenchmarksOnly") {
		t.Fatalf("Open with UnsafeNoSyncForBenchmarksOnly logged %q, want one warning naming the option", logger.errors)
	}
	mustStoreLogs(t, db.Group(1), testLogs(1, 3, 1))
	expectIndexes(t, db.Group(1), 1, 3)
}
